// Checkpoint I/O of a finetune run: what an exact resume needs (trainable tensors, AdamW state, the CPU
// RNG and the loop counters), written as one atomic directory per step under <run>/checkpoints/.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "train/optimizer.h"
#include "train/run_dir.h"

namespace loratune::train {

// The loop's counters, stored as state.json.
struct LoopState {
  int64_t step = 0, epoch = 0, position = 0;  // optimizer steps done; the row cursor
  double best_val = INFINITY;                  // +inf = no validation yet
  int64_t best_step = -1, bad_evals = 0, tokens_seen = 0, metrics_lines = 0, total_steps = 0;
  double elapsed = 0;                          // seconds trained before this process
};

// The trainable tensors by parameter name, in the optimizer's order.
struct Trainables {
  std::vector<std::string> names;
  std::vector<torch::Tensor> params;
};

// Writes <run>/checkpoints/step-N/ atomically, then removes all but the newest `keep_last`. Returns its path.
std::string save_checkpoint(const RunDir& run, const LoopState& st, const Trainables& t, const AdamW& opt,
                            int64_t keep_last);

// Restores `t`'s values, the optimizer and the CPU RNG from checkpoint directory `ckpt`; returns its counters.
// A checkpoint of another configuration (a missing or mis-shaped tensor) is an input error naming it.
LoopState restore_checkpoint(const std::string& ckpt, Trainables& t, AdamW& opt);

// Keeps the first `keep` lines of a JSON-lines file (what a resumed run had logged at its checkpoint).
void truncate_lines(const std::string& path, int64_t keep);

}  // namespace loratune::train
