#include "train/loss.h"

#include "core/error.h"
#include "train/batcher.h"

namespace loratune::train {

torch::Tensor token_loss_sum(const torch::Tensor& logits, const torch::Tensor& targets) {
  LT_CHECK(logits.dim() == 3 && targets.dim() == 2 && logits.size(0) == targets.size(0) &&
               logits.size(1) == targets.size(1),
           "token_loss_sum: logits must be [B, T, V] and targets [B, T]");
  LT_CHECK(c10::isFloatingType(logits.scalar_type()), "token_loss_sum: logits must be floating point");
  LT_CHECK(targets.scalar_type() == torch::kInt64, "token_loss_sum: targets must be int64");
  const int64_t V = logits.size(2);

  const auto flat_targets = targets.reshape({-1}).to(logits.device());          // [B*T]
  const auto keep = flat_targets.ne(kIgnoreIndex).nonzero().reshape({-1});       // [N]
  const auto kept_targets = flat_targets.index_select(0, keep);                  // [N]
  if (kept_targets.numel() > 0 && kept_targets.lt(0).logical_or(kept_targets.ge(V)).any().item<bool>()) {
    const auto bad = kept_targets.masked_select(kept_targets.lt(0).logical_or(kept_targets.ge(V)));
    fail_input("loss target token id " + std::to_string(bad[0].item<int64_t>()) +
                   " is outside the model's vocabulary of " + std::to_string(V) + " tokens",
               "the prepared dataset was built for another tokenizer; re-run prepare with this model's tokenizer");
  }
  // Only the target rows are gathered and upcast: [N, V] fp32.
  const auto kept_logits = logits.reshape({-1, V}).index_select(0, keep).to(torch::kFloat32);
  return torch::nn::functional::cross_entropy(
      kept_logits, kept_targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
}

}  // namespace loratune::train
