// Gradient checkpointing must not change the gradients: with it on, each decoder layer is recomputed in
// backward (with the RNG state restored, so dropout draws the same masks).
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "lora/lora.h"
#include "model/loader.h"
#include "model/tensor_io.h"
#include "test_util.h"
#include "train/loss.h"

using namespace loratune;

namespace {
std::vector<torch::Tensor> lora_grads(bool checkpoint, double dropout) {
  auto lm = load_model(lt_test::fixture("models/llama_gqa_headdim"), LoadOptions::cpu());
  LoraOptions o;
  o.targets = {"all-linear"};
  o.dropout = dropout;
  o.init = LoraInit::Gaussian;
  inject_lora(lm.model, o, 7);
  {  // non-zero B so that every LoRA factor gets a gradient
    torch::NoGradGuard ng;
    torch::manual_seed(1);
    for (auto& p : lm.model->named_parameters(true))
      if (p.key().find("lora_B") != std::string::npos) p.value().normal_(0, 0.1);
  }
  lm.model->train();
  auto ref = load_safetensors(lt_test::fixture("models/llama_gqa_headdim/reference.safetensors"));
  auto ids = ref.at("input_ids");  // [2, T]
  auto targets = torch::roll(ids, -1, 1);
  targets.select(1, ids.size(1) - 1).fill_(-100);
  torch::manual_seed(123);  // dropout masks
  ForwardOptions fo;
  fo.checkpoint_layers = checkpoint;
  train::token_loss_sum(lm.model->forward(ids, fo), targets).backward();
  std::vector<torch::Tensor> grads;
  for (auto& p : lora_parameters(lm.model)) grads.push_back(p.grad().clone());
  return grads;
}
}  // namespace

TEST_CASE("gradient checkpointing gives the same LoRA gradients", "[train][checkpointing]") {
  // Tolerance 1e-6 relative to the largest gradient: the recompute runs the same kernels on the same inputs,
  // so differences are at most float reassociation in the autograd accumulation order.
  for (double dropout : {0.0, 0.3}) {
    auto plain = lora_grads(false, dropout);
    auto ckpt = lora_grads(true, dropout);
    REQUIRE(plain.size() == ckpt.size());
    REQUIRE_FALSE(plain.empty());
    double max_g = 0, max_d = 0;
    for (size_t i = 0; i < plain.size(); ++i) {
      max_g = std::max(max_g, plain[i].abs().max().item<double>());
      max_d = std::max(max_d, (plain[i] - ckpt[i]).abs().max().item<double>());
    }
    INFO("dropout " << dropout << ": max |grad| " << max_g << ", max |diff| " << max_d);
    CHECK(max_g > 0);
    CHECK(max_d <= 1e-6 * max_g);
  }
}
