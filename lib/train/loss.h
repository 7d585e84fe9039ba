// The training loss: summed token cross-entropy, normalised by the caller over the whole accumulated
// batch.
#pragma once
#include <torch/torch.h>

namespace loratune::train {

// Sum of the token cross-entropies over the positions whose target is not -100, computed in fp32 from
// logits of any floating dtype; a differentiable fp32 scalar (0 when there is no target). Only the
// target positions are upcast, so bf16 logits of masked prompts cost no fp32 copy.
// The caller divides by the target count of the whole accumulated batch, so that accumulating
// 4 micro-batches of 1 row gives the loss and gradients of one micro-batch of 4 rows.
// A target outside [0, V) is an input error (data prepared for another vocabulary).
// logits [B, T, V], targets [B, T] int64 -> [] fp32
torch::Tensor token_loss_sum(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace loratune::train
