// Planning a finetune run before (and for) training: the step count, warmup, and the --dry-run estimate
// (plan_finetune in trainer.h). Torch-free.
#pragma once
#include <cstdint>
#include <string>

#include "train/trainer.h"

namespace loratune::train {

struct StepPlan {
  int64_t total_steps = 0, warmup_steps = 0, batches_per_epoch = 0;
};

// Steps from train.steps, else epochs over `train_rows` rows; warmup from warmup_steps, else warmup_ratio.
StepPlan plan_steps(const TrainOptions& t, int64_t train_rows);

// The dtype the frozen weights are computed in: the model spec's for LoRA, fp32 for a full fine-tune.
ComputeDType compute_dtype(const FinetuneRequest& req);

}  // namespace loratune::train
