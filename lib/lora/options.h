// The options of a LoRA adapter (PEFT semantics). Torch-free: the app converts its [lora] config section into
// these once; PEFT adapter_config.json reads into them (lora/peft.h).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace loratune {

struct LoraOptions {
  int64_t r = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  // Module names ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"), or {"all-linear"}
  // (every Linear in the decoder layers, never lm_head), or one entry "regex:<ECMAScript regex>" matched (full match,
  // like PEFT's string target_modules) against the module path such as "model.layers.3.self_attn.q_proj".
  // A list entry matches like PEFT's list: the whole path, or a "."-separated suffix of it ("mlp.down_proj").
  std::vector<std::string> targets{"q_proj", "k_proj", "v_proj", "o_proj"};
  bool rslora = false;           // scaling alpha/sqrt(r) instead of alpha/r
  std::string init = "kaiming";  // kaiming: A kaiming-uniform(a=sqrt(5)) as PEFT/nn.Linear, B zeros;
                                 // gaussian: A ~ N(0, std = 1/r) as PEFT's "gaussian", B zeros
  std::vector<int64_t> layers;   // empty = all decoder layers (PEFT layers_to_transform); not with a regex
  // PEFT semantics: a key k applies to a module path p when p fully matches the regex "(.*\.)?(k)", i.e. k is
  // the path or a "."-suffix of it, regex syntax allowed. It overrides r (alpha). When several keys match one
  // module, the first in key order wins (PEFT takes the first in file order; std::map sorts).
  std::map<std::string, int64_t> rank_pattern;
  std::map<std::string, double> alpha_pattern;
};

}  // namespace loratune
