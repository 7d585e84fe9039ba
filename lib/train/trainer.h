// `loratune finetune`: the training loop over a prepared dataset, with checkpoints, exact resume,
// validation, early stopping and signal handling. Torch-free header.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "lora/options.h"
#include "model/model_spec.h"
#include "train/schedule.h"

namespace loratune::train {

// The optimisation loop's options (the app converts its [train] config section into these once).
struct TrainOptions {
  int64_t steps = 0;            // optimizer steps; 0 = derive from epochs
  int64_t epochs = 1;
  int64_t batch_size = 8;       // rows per micro-batch
  int64_t grad_accum = 1;       // micro-batches per optimizer step
  double lr = 2e-4;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  Schedule schedule = Schedule::Cosine;
  int64_t warmup_steps = 0;
  double warmup_ratio = 0.0;    // used when warmup_steps is 0
  double min_lr_ratio = 0.0;
  double max_grad_norm = 1.0;   // 0 = no clipping
  bool grad_checkpointing = false;
  // Fused LoRA layers (lora/lora.h) and the chunked loss at trained positions (head_loss_sum); false =
  // plain autograd ops (PEFT's op sequence and a full [B, T, V] logits tensor), kept for comparison.
  bool fused_kernels = true;
  bool shuffle = true;
  int64_t eval_every = 0;       // steps between validations; 0 = at the end only
  int64_t eval_batches = 0;     // 0 = the whole val split
  int64_t save_every = 0;       // steps between checkpoints; 0 = only at the end / on a signal
  int64_t keep_last = 2;
  int64_t early_stopping_patience = 0;  // validations without improvement before stopping; 0 = off
};

struct FinetuneRequest {
  ModelSpec model;            // the base model (model.adapter unused: see init_adapter)
  std::string data_dir;       // prepared dataset directory (loratune prepare)
  bool lora = true;           // false = full fine-tune of every parameter (fp32)
  LoraOptions lora_options;   // a fresh adapter's options
  // Continue training this PEFT adapter: its adapter_config.json replaces lora_options (but dropout).
  std::string init_adapter;
  TrainOptions train;
  int64_t seed = 42;          // init, dropout, shuffling
  int64_t plan_seq_len = 512; // plan_finetune's row length while the dataset is not prepared yet
  std::string out_dir;        // the run directory
  bool resume = false;        // continue from the latest valid checkpoint in out_dir
  bool force = false;         // start over in an existing run directory
  // When set: where the time of steps 2.. goes (model/op_profile.h), written there as JSON at the end
  // (step 1, with its one-time costs, is left out unless it is the only step).
  std::string profile_path;
  // The run's config.resolved.json for the adapter options actually trained (lora_options, or the init
  // adapter's); written once when a new run starts. Required.
  std::function<std::string(const LoraOptions& used)> resolved_config;
};

struct FinetuneCallbacks {
  // One JSON object per optimizer step: step, total_steps, epoch, loss, lr, grad_norm, tokens_per_s,
  // elapsed, eta_s (+ val_loss on validation steps). The same objects go to metrics.jsonl.
  std::function<void(const nlohmann::json&)> on_step;
  std::function<void(const std::string&)> on_event;  // checkpoint saved, early stop, ...
};

// The adapter options the request trains: lora_options, or with init_adapter that adapter's own (its
// adapter_config.json, read once) with the request's dropout.
LoraOptions trained_lora_options(const FinetuneRequest& req);

// What a run would do, without training: parameter counts, tokens per step, steps, memory estimate.
// `lora` are the adapter options (trained_lora_options(req)).
nlohmann::json plan_finetune(const FinetuneRequest& req, const LoraOptions& lora);

// Trains; returns summary.json's content. Interrupted by SIGINT/SIGTERM: finishes the step, saves a
// checkpoint and throws Error(ExitCode::Interrupted). Non-finite loss/gradients: throws a runtime error
// naming the step; the last good checkpoint stays.
nlohmann::json run_finetune(const FinetuneRequest& req, const FinetuneCallbacks& cb);

}  // namespace loratune::train
