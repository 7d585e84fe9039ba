// Shared by the export tests: small HF model directories with a byte-fallback tokenizer (made with
// init_model), PEFT adapters with non-zero factors on them, and logits on fixed tokens.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "lora/lora.h"
#include "model/init.h"

namespace export_test {

// A SentencePiece model (BPE, byte fallback, 400 pieces) trained once on the fixture corpus.
const std::string& tokenizer_path();

// init_model into `dir` with the trained tokenizer; `o` supplies the architecture and sizes (out_dir and the
// tokenizer source are set here). Weights are N(0, 0.1) so the logits have a useful range; norms N(1, 0.1) and
// biases N(0, 0.1) so that they matter.
loratune::InitResult make_model(const std::string& dir, loratune::InitOptions o);
loratune::InitOptions arch_options(const std::string& arch);  // the tiny preset of `arch`, hidden 64

// Edits <dir>/config.json (or tokenizer_config.json) in place: key = JSON value.
void set_json_key(const std::string& file, const std::string& key, const std::string& json_value);

// Loads `model_dir`, injects `opts`, gives every A and B N(0, 0.2) / N(0, b_std) values (seeded) and saves a PEFT
// adapter to `adapter_dir`. Returns the logits of the unmerged model on probe_ids().
torch::Tensor make_adapter(const std::string& model_dir, const std::string& adapter_dir,
                           const loratune::LoraOptions& opts, uint64_t seed, double b_std = 0.1);

loratune::LoraOptions lora_options(std::vector<std::string> targets, int64_t r, double alpha, bool rslora = false);

torch::Tensor probe_ids();                                     // [2, 8]
torch::Tensor logits(loratune::CausalLM& model);               // [2, 8, V] fp32
double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace export_test
