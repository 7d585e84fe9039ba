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

// The same sum from the final hidden states and the output head (lm_head, or the tied embedding), without
// ever holding the logits of the whole batch: only the positions with a target are projected, a chunk of
// rows at a time (at most ~2^23 logits, 32 MiB in fp32), and the gradients with respect to `hidden` (and
// to `head` when it requires grad: full fine-tuning) are computed in the same pass, so that backward only
// scales them. The math per position is token_loss_sum's: logits in the head's dtype, log-softmax in fp32,
// gradient cast back to the logits' dtype before the head's transpose. Differentiable like it.
// hidden [B, T, H], head [V, H], targets [B, T] int64 -> [] fp32
torch::Tensor head_loss_sum(const torch::Tensor& hidden, const torch::Tensor& head, const torch::Tensor& targets);

}  // namespace loratune::train
