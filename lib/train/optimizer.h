// AdamW with decoupled weight decay (Loshchilov & Hutter; the update of torch.optim.AdamW and of
// LibTorch's torch::optim::AdamW), with the state exposed as named tensors for exact-resume checkpoints,
// and clipping of gradients by their global L2 norm.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace loratune::train {

struct AdamWOptions {
  double lr = 1e-4;  // informational: step() takes the scheduled learning rate
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
};

// Per step t (1-based), for every parameter p with gradient g, in this order (torch.optim.AdamW,
// foreach=False; LibTorch's torch::optim::AdamW runs the same operations):
//   p      *= 1 - lr * weight_decay                    (decoupled decay: never enters the moments)
//   m       = beta1 * m + (1 - beta1) * g
//   v       = beta2 * v + (1 - beta2) * g * g
//   denom   = sqrt(v) / sqrt(1 - beta2^t) + eps
//   p      -= lr / (1 - beta1^t) * m / denom
// The moments live in the parameter's dtype and device: fp32 for the fp32 trainable weights loratune
// trains (fp64 parameters are accepted too, which tests use for exact references). Every operation is
// element-wise, so a step is deterministic and a run resumed from state() continues bit for bit.
//
// One step counter is shared by all parameters (PyTorch keeps one per parameter). The two differ only
// for a parameter whose gradient is missing on some steps; loratune's trainable parameters take part
// in every forward pass, so they always have one.
class AdamW {
 public:
  // params: leaf tensors (fp32 or fp64) with requires_grad; the optimizer updates them in place.
  AdamW(std::vector<torch::Tensor> params, AdamWOptions opts);

  // One update with learning rate `lr` using each parameter's .grad (a parameter whose grad is
  // undefined is left unchanged). Increments the step counter.
  void step(double lr);
  // Drops the gradients (sets them to undefined, as PyTorch's zero_grad(set_to_none=True)): the next
  // backward() writes fresh ones.
  void zero_grad();
  int64_t steps() const { return step_; }
  const std::vector<torch::Tensor>& params() const { return params_; }
  const AdamWOptions& options() const { return opts_; }

  // The state for a checkpoint: "step" (int64 scalar), then "exp_avg.<i>" and "exp_avg_sq.<i>" for
  // parameter i (in constructor order). The tensors are independent contiguous CPU copies, ready to
  // serialize.
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  // Restores state() output. Every expected name must be present with the parameter's shape and a
  // floating dtype ("step": a non-negative integer scalar), and no other name may be; any mismatch is
  // an input error naming `where` (the checkpoint file) and every offending tensor. Nothing changes
  // unless the whole state is valid.
  void load_state(const std::map<std::string, torch::Tensor>& state, const std::string& where);

 private:
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;  // per parameter, its shape/dtype/device
  AdamWOptions opts_;
  int64_t step_ = 0;
};

// Clips the gradients of `params` (undefined grads are skipped) so that their global L2 norm is at most
// max_norm, as torch.nn.utils.clip_grad_norm_: every grad is multiplied by max_norm / (norm + 1e-6)
// when that factor is below 1. max_norm <= 0 only measures. Returns the norm before clipping. The norm
// is accumulated in fp64 (no overflow for any finite fp32 gradient; deterministic order). A non-finite
// norm is returned as is and leaves the grads untouched: the caller decides what to do.
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

}  // namespace loratune::train
