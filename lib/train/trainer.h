// `loratune finetune`: the training loop over a prepared dataset, with checkpoints, exact resume,
// validation, early stopping and signal handling. Torch-free header.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "config/config.h"

namespace loratune::train {

struct FinetuneRequest {
  Config cfg;             // resolved config (model, lora, train, runtime)
  std::string out_dir;    // the run directory
  bool resume = false;    // continue from the latest valid checkpoint in out_dir
  bool force = false;     // start over in an existing run directory
};

struct FinetuneCallbacks {
  // One JSON object per optimizer step: step, total_steps, epoch, loss, lr, grad_norm, tokens_per_s,
  // elapsed, eta_s (+ val_loss on validation steps). The same objects go to metrics.jsonl.
  std::function<void(const nlohmann::json&)> on_step;
  std::function<void(const std::string&)> on_event;  // checkpoint saved, early stop, ...
};

// What a run would do, without training: parameter counts, tokens per step, steps, memory estimate.
nlohmann::json plan_finetune(const Config& cfg);

// Trains; returns summary.json's content. Interrupted by SIGINT/SIGTERM: finishes the step, saves a
// checkpoint and throws Error(ExitCode::Interrupted). Non-finite loss/gradients: throws a runtime error
// naming the step; the last good checkpoint stays.
nlohmann::json run_finetune(const FinetuneRequest& req, const FinetuneCallbacks& cb);

// The run's resolved config with model.adapter pointing at its best adapter (else its final adapter).
Config config_from_run(const std::string& run_dir);

}  // namespace loratune::train
