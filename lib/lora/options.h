// What LoRA adapters to attach and how (Hugging Face PEFT's LoraConfig, the parts loratune implements).
// Torch-free: the app converts its config into these once; lora/lora.h plans and injects from them.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace loratune {

// How A is initialised (B is always zeros, so a fresh adapter changes nothing).
enum class LoraInit {
  Kaiming,   // A kaiming-uniform(a=sqrt(5)) as PEFT / nn.Linear (PEFT's init_lora_weights true)
  Gaussian,  // A ~ N(0, std = 1/r) (PEFT's init_lora_weights "gaussian")
};
std::optional<LoraInit> parse_lora_init(const std::string& name);  // "kaiming" | "gaussian", else nullopt
const char* lora_init_name(LoraInit init);                          // "kaiming", "gaussian"
std::vector<std::string> lora_init_names();

struct LoraOptions {
  int64_t r = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  // Module names ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"), or {"all-linear"}
  // (every Linear in the decoder layers, never lm_head), or one entry "regex:<ECMAScript regex>" matched (full match,
  // like PEFT's string target_modules) against the module path such as "model.layers.3.self_attn.q_proj".
  // A list entry matches like PEFT's list: the whole path, or a "."-separated suffix of it ("mlp.down_proj").
  std::vector<std::string> targets{"q_proj", "k_proj", "v_proj", "o_proj"};
  bool rslora = false;               // scaling alpha/sqrt(r) instead of alpha/r
  LoraInit init = LoraInit::Kaiming;
  std::vector<int64_t> layers;       // empty = all decoder layers (PEFT layers_to_transform); not with a regex
  // PEFT semantics: a key k applies to a module path p when p fully matches the regex "(.*\.)?(k)", i.e. k is
  // the path or a "."-suffix of it, regex syntax allowed. It overrides r (alpha). When several keys match one
  // module, the first in key order wins (PEFT takes the first in file order; std::map sorts).
  std::map<std::string, int64_t> rank_pattern;
  std::map<std::string, double> alpha_pattern;
};

// The limits of the scalar options: r >= 1, alpha a finite number > 0, dropout in [0, 1), every rank_pattern
// value >= 1 and every alpha_pattern value > 0. Checked once where values enter: the app's config conversion
// and the PEFT adapter_config.json reader. `name` says how that source calls a field (e.g. "config key
// 'lora.r'", "<dir>/adapter_config.json: r"; `key` is the pattern key for the two patterns); a value outside
// its limit is an input error "<name> must be ..., got <value>" with `hint`.
enum class LoraField { R, Alpha, Dropout, RankPattern, AlphaPattern };
void check_lora_options(const LoraOptions& o,
                        const std::function<std::string(LoraField field, const std::string& key)>& name,
                        const std::string& hint);

}  // namespace loratune
