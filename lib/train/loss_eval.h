// Loss-based evaluation on a prepared split (used by `loratune eval` and by the trainer's validation): mean token cross-entropy, perplexity and next-token
// accuracy over the trained (loss) tokens, overall and per source file. Batched, without gradients,
// with exactly the training target rule (train::make_batch): position t predicts token t+1 when t+1 is
// in the same packed sample and trained.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "data/prepared.h"
#include "model/llama.h"

namespace loratune::train {

struct LossTotals {
  double loss_sum = 0;  // summed token cross-entropy, nats (accumulated in fp64)
  int64_t targets = 0;  // tokens in the loss
  int64_t correct = 0;  // targets that are the argmax of their logits

  double loss() const;        // loss_sum / targets; NaN without targets
  double perplexity() const;  // exp(loss())
  double accuracy() const;    // correct / targets; NaN without targets
  void add(const LossTotals& o);
};

struct LossEvalOptions {
  int64_t batch_size = 8;   // rows per forward pass (>= 1)
  int64_t max_batches = 0;  // 0 = every row of the split, in order
  bool interruptible = true;  // SIGINT/SIGTERM stop between batches (the trainer checks them itself after a step)
  // After each batch: rows done, rows to do, input tokens done.
  std::function<void(int64_t, int64_t, int64_t)> on_progress;
};

struct LossEvalResult {
  LossTotals total;
  std::map<uint32_t, LossTotals> by_source;  // by the samples' source index; empty when not recorded
  int64_t rows = 0;                   // rows evaluated
  int64_t tokens = 0;                 // input tokens run through the model (context included)
  double seconds = 0;                 // wall time of the batches
};

// Evaluates `model` (put in eval mode; no gradients) on the rows of `split`. Logits are computed only at
// target positions (the final norm's output is gathered before lm_head) and upcast to fp32 there, as
// train::token_loss_sum does; at most 2^26 fp32 logits (256 MiB) exist at a time. A token id
// outside the model's vocabulary is an input error (data prepared for another tokenizer); an empty split
// is an input error naming it. SIGINT/SIGTERM stop between batches (Error with ExitCode::Interrupted) unless
// opts.interruptible is false.
LossEvalResult evaluate_loss(CausalLM& model, const data::PreparedSplit& split, const LossEvalOptions& opts);

}  // namespace loratune::train
