// LoRA (Hu et al. 2021) on the Llama-family model, with Hugging Face PEFT semantics: which modules are
// targeted (names, "all-linear", regex, layer subset, rank/alpha patterns), how A and B are initialised,
// and the forward y = base(x) + scaling * B(A(dropout(x))). The adapters hang off model::LinearImpl through
// its LinearAdapter hook and register their factors as submodules "lora_A" / "lora_B" of the Linear, so
// named_parameters() yields "model.layers.0.self_attn.q_proj.lora_A.weight": PEFT's tensor name minus the
// "base_model.model." prefix. Reading and writing PEFT adapter directories lives in lora/peft.h.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lora/options.h"
#include "model/arch.h"
#include "model/hparams.h"
#include "model/llama.h"

namespace loratune {

// The decoder Linear module names LoRA can target, in model order: the architecture table's decoder_linears
// (model/arch.h), the same seven for every supported architecture.
const std::vector<std::string>& lora_module_names();

// One targeted Linear: where it is, its shape and the adapter hyper-parameters it gets.
struct LoraTarget {
  std::string path;  // "model.layers.3.self_attn.q_proj"
  std::string name;  // "q_proj"
  int64_t layer = 0;
  int64_t in = 0, out = 0;  // the base weight is [out, in]
  int64_t r = 0;
  double alpha = 0;
  double scaling = 0;  // alpha / r, or alpha / sqrt(r) with rsLoRA
};

// How plan_lora treats target-list entries that match no module.
enum class TargetCheck {
  Strict,    // every entry must match some module (catches typos such as "q_prj"); inject_lora uses this
  AnyMatch,  // PEFT's rule: only the list as a whole must match something (for adapters written elsewhere)
};

// The modules `opts` selects on a model with these hyper-parameters, in model order. Validates the options
// (r >= 1, alpha > 0, dropout in [0, 1), init, target syntax, regexes, layer indices, patterns) and throws
// fail_input naming the offending option and what to do; a target list matching no module lists the
// available module names.
std::vector<LoraTarget> plan_lora(const ModelHParams& hp, const LoraOptions& opts,
                                  TargetCheck check = TargetCheck::Strict);

struct LoraInjection {
  std::vector<std::string> modules;  // module paths that got an adapter, in model order
  int64_t trainable_parameters = 0;  // elements of every lora_A and lora_B
  std::vector<LoraTarget> plan;      // what was injected (one entry per module), for savers that need it
};

// A factor of a LoRA adapter, registered on the Linear as "lora_A" or "lora_B".
class LoraFactorImpl : public torch::nn::Module {
 public:
  explicit LoraFactorImpl(torch::Tensor w);  // takes w as the trainable "weight" parameter
  torch::Tensor weight;                      // A: [r, in], B: [out, r]; fp32
};
TORCH_MODULE(LoraFactor);

// The adapter of one Linear [out, in]: y = base + scaling * B(A(dropout(x))), computed in fp32 with x cast
// to fp32 and the sum cast back to the base output's dtype (PEFT's arithmetic). Dropout is active only while
// lora_A is in training mode (model->train()). While training, one autograd function computes the base
// projection and the adapter together and keeps only x and x A^T [*, r] for backward (no fp32 copies of
// x, no dropout mask): the mask is a counter-based hash of a key drawn from torch's default CPU generator,
// regenerated in backward. Element i is dropped when 16 bits of splitmix64 of (key, i / 4) fall below
// round(dropout * 65536); kept elements are scaled by 65536 / (65536 - that threshold), so the expected
// value is x's exactly (the effective rate differs from `dropout` by at most 2^-17).
class LoraLinearAdapter : public LinearAdapter {
 public:
  LoraLinearAdapter(LoraFactor a, LoraFactor b, double alpha, double scaling, double dropout);
  // x [*, in], weight [out, in], bias [out] or undefined -> [*, out] (lora/lora_linear.cpp)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) override;
  int64_t r() const { return a_->weight.size(0); }
  double alpha() const { return alpha_; }
  double scaling() const { return scaling_; }
  double dropout() const { return dropout_; }
  // false: plain autograd ops while training too (PEFT's op sequence, torch's dropout), for comparison.
  void set_fused(bool on) { fused_ = on; }
  const torch::Tensor& A() const { return a_->weight; }  // [r, in]
  const torch::Tensor& B() const { return b_->weight; }  // [out, r]

 private:
  LoraFactor a_, b_;
  double alpha_, scaling_, dropout_;
  bool fused_ = true;
};

// Attaches a LoRA adapter to every targeted Linear (plan_lora with TargetCheck::Strict). A and B are created
// fp32 with requires_grad = true on the base weight's device; every other parameter of the model is frozen.
// A is drawn from one CPU torch generator seeded with `seed`, module after module in model order, so the
// init is identical for a seed on every device. A module that already has an adapter is an input error and
// nothing is changed then.
LoraInjection inject_lora(CausalLM& model, const LoraOptions& opts, uint64_t seed);
// The same for a given plan (from plan_lora on this model's hparams); opts supplies dropout and init.
LoraInjection inject_lora(CausalLM& model, const std::vector<LoraTarget>& plan, const LoraOptions& opts,
                          uint64_t seed);

// The closed formula sum over targeted modules of r * (in + out), from the hyper-parameters alone
// (for --dry-run and tests); throws like plan_lora.
int64_t lora_parameter_count(const ModelHParams& hp, const LoraOptions& opts);

// An adapter found in a model.
struct LoraModuleRef {
  std::string path;  // module path, "model.layers.0.self_attn.q_proj"
  LinearImpl* linear = nullptr;
  std::shared_ptr<LoraLinearAdapter> adapter;
};
// Every LoRA adapter of the model, in model order (empty when none).
std::vector<LoraModuleRef> lora_modules(const CausalLM& model);

// lora_A and lora_B weights of every adapter in model order (A then B per module): what the optimizer trains.
std::vector<torch::Tensor> lora_parameters(const CausalLM& model);

// Folds every adapter into its base weight, W' = W + scaling * B @ A computed in fp32 and cast to W's
// dtype, then removes the adapter and its lora_A / lora_B submodules: afterwards the model is a plain
// model whose model_state() is an HF checkpoint. Merging is one-way (no unmerge): to get the adapter back,
// load the base model and the adapter again. A model without adapters is left unchanged.
void merge_lora(CausalLM& model);

}  // namespace loratune
