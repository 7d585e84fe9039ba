// From prepared rows to model inputs: padded token ids, next-token targets that never cross a packed
// sample boundary, positions restarting per sample and a block-diagonal causal mask; plus the
// deterministic, resumable order in which rows are visited.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "data/prepared.h"

namespace loratune::train {

constexpr int64_t kIgnoreIndex = -100;  // target value of positions outside the loss

struct Batch {
  torch::Tensor input_ids;       // [B, T] int64: the row's tokens; positions beyond its length hold 0
  torch::Tensor targets;         // [B, T] int64: the token at t+1 when it is a loss target, else -100
  torch::Tensor position_ids;    // [B, T] int64: restart at 0 at every packed sample start; 0 on padding
  torch::Tensor attention_mask;  // [B, T, T] bool, true = query t may attend key s: causal AND same
                                 // packed sample (block diagonal); a padding position attends only to itself
  // True when attention_mask is the plain causal mask as far as real tokens go: every row holds one sample
  // (no packing) and no sliding window cuts it. Padding then needs no mask of its own either: real queries
  // never see the later padding keys, and padding positions have no targets. A model may then use its
  // causal kernel instead of the mask (ForwardOptions without attention_mask).
  bool causal = false;
  int64_t target_tokens = 0;     // number of targets != -100
  int64_t tokens = 0;            // real (non-padding) tokens

  // The tensors moved to `device` (counts copied).
  Batch to(const torch::Device& device) const;
};

// Builds the batch of the given rows of `split` (in that order), on the CPU.
// Target rule: input position t predicts token t+1; it is a target iff t+1 < length, t+1 is NOT a
// sample start (no prediction across packed samples), and trained[t+1] == 1.
// T = the longest row of the batch, or pad_to when pad_to > 0 (a row longer than pad_to is an input
// error naming the split and row). sliding_window > 0 (the model's hparam) additionally limits each
// query to the keys less than sliding_window positions before it, as the model's default mask does.
// rows must be non-empty and index rows of the split (a bug of the caller otherwise).
Batch make_batch(const data::PreparedSplit& split, const std::vector<int64_t>& rows, int64_t pad_to = 0,
                 int64_t sliding_window = 0);

// The order rows are visited in epoch `epoch`: shuffle = false gives 0..n-1; otherwise a permutation
// drawn by Fisher-Yates from a splitmix64 stream keyed by (seed, epoch), with unbiased bounded draws.
// Only 64-bit integer arithmetic is involved, so the order is identical on every platform and build.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);

// A cursor over the rows of a split that hands out micro-batches of row indices, epoch after epoch.
// Its whole state is (epoch, position): position counts the rows of the current epoch's order already
// handed out (0..rows). The last micro-batch of an epoch is short when batch_size does not divide rows:
// batches never mix two epochs, so every row is visited exactly once per epoch.
class RowCursor {
 public:
  // rows >= 1 and batch_size >= 1 (input errors otherwise).
  RowCursor(int64_t rows, int64_t batch_size, uint64_t seed, bool shuffle);

  // The next micro-batch; starts the next epoch first when the current one is exhausted.
  std::vector<int64_t> next();
  int64_t epoch() const { return epoch_; }
  int64_t position() const { return position_; }
  // Continues from a saved (epoch(), position()). Values that cannot come from a cursor over this
  // many rows are an input error (the checkpoint belongs to another dataset).
  void restore(int64_t epoch, int64_t position);
  int64_t batches_per_epoch() const { return (rows_ + batch_size_ - 1) / batch_size_; }
  int64_t rows() const { return rows_; }
  int64_t batch_size() const { return batch_size_; }

 private:
  void load_order();  // order_ for epoch_

  int64_t rows_, batch_size_;
  uint64_t seed_;
  bool shuffle_;
  int64_t epoch_ = 0, position_ = 0;
  std::vector<int64_t> order_;
};

}  // namespace loratune::train
