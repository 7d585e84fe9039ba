#include "export_helpers.h"

#include <ATen/CPUGeneratorImpl.h>

#include <nlohmann/json.hpp>

#include "core/fs.h"
#include "lora/peft.h"
#include "model/loader.h"
#include "model/tensor_io.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace export_test {
using namespace loratune;

const std::string& tokenizer_path() {
  static lt_test::TempDir dir("lt-export-tok");
  static const std::string path = [] {
    TokenizerTrainOptions t;
    t.corpus_files = {lt_test::fixture("text/corpus.txt")};
    t.vocab_size = 400;
    const std::string p = dir.file("tokenizer.model");
    train_tokenizer(t, p);
    return p;
  }();
  return path;
}

InitOptions arch_options(const std::string& arch) {
  InitOptions o;
  o.arch = arch;
  o.preset = "tiny";
  return o;
}

InitResult make_model(const std::string& dir, InitOptions o) {
  o.out_dir = dir;
  o.corpus.clear();
  o.tokenizer_model = tokenizer_path();
  o.init_std = 0.1;
  InitResult r = init_model(o);
  // init sets norms to 1 and biases to 0; give them values so that their export is exercised too.
  const std::string file = dir + "/model.safetensors";
  auto tensors = load_safetensors(file);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  for (auto& [name, t] : tensors) {
    if (name.find("norm.weight") != std::string::npos) t.normal_(1.0, 0.1, gen);
    if (name.find(".bias") != std::string::npos) t.normal_(0.0, 0.1, gen);
  }
  save_safetensors(file, {tensors.begin(), tensors.end()}, {{"format", "pt"}});
  return r;
}

void set_json_key(const std::string& file, const std::string& key, const std::string& json_value) {
  auto j = nlohmann::json::parse(read_text_file(file));
  j[key] = nlohmann::json::parse(json_value);
  write_file_atomic(file, j.dump(2));
}

LoraOptions lora_options(std::vector<std::string> targets, int64_t r, double alpha, bool rslora) {
  LoraOptions o;
  o.targets = std::move(targets);
  o.r = r;
  o.alpha = alpha;
  o.rslora = rslora;
  return o;
}

torch::Tensor make_adapter(const std::string& model_dir, const std::string& adapter_dir, const LoraOptions& opts,
                           uint64_t seed, double b_std) {
  auto lm = load_model(model_dir, LoadOptions::cpu());
  inject_lora(lm.model, opts, seed);
  {
    torch::NoGradGuard ng;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    for (auto& ref : lora_modules(lm.model)) {
      ref.adapter->A().normal_(0.0, 0.2, gen);
      ref.adapter->B().normal_(0.0, b_std, gen);
    }
  }
  save_peft_adapter(adapter_dir, lm.model, opts, model_dir);
  return logits(lm.model);
}

torch::Tensor probe_ids() {
  return torch::tensor({1, 5, 9, 17, 33, 2, 60, 7, 1, 81, 44, 3, 90, 200, 300, 250}, torch::kLong).view({2, 8});
}

torch::Tensor logits(CausalLM& model) {
  torch::NoGradGuard ng;
  model->eval();
  return model->forward(probe_ids().to(model->device())).to(torch::kCPU, torch::kFloat32);
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace export_test
