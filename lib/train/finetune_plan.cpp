#include "train/finetune_plan.h"

#include <algorithm>
#include <cmath>

#include "core/fs.h"
#include "data/prepared.h"
#include "lora/lora.h"
#include "lora/peft.h"
#include "model/device.h"
#include "model/hparams.h"

namespace loratune::train {
namespace {
using json = nlohmann::json;

int64_t dtype_bytes(const std::string& label) { return label == "fp32" ? 4 : 2; }

// Bytes of activations kept for backward in one micro-batch (an estimate, documented in --dry-run).
double activation_bytes(const ModelHParams& hp, const FinetuneRequest& req, int64_t seq_len) {
  const double B = static_cast<double>(req.train.batch_size), T = static_cast<double>(seq_len);
  const double bytes = static_cast<double>(dtype_bytes(req.lora ? "bf16" : "fp32"));
  const double H = hp.hidden_size, I = hp.intermediate_size, q = hp.q_dim(), kv = hp.kv_dim();
  // Saved per token per layer: norm inputs/outputs, q/k/v, attention output, MLP inputs and the gated product;
  // per head per token: the [T] score and probability rows (fp32 scores + probs in the compute dtype).
  const double per_layer = B * T * ((4 * H + 2 * q + 2 * kv + 3 * I) * bytes + hp.num_heads * T * (4 + 4 + bytes));
  const double logits = B * T * hp.vocab_size * (bytes + 4 + 4);
  if (req.train.grad_checkpointing) return hp.num_layers * B * T * H * bytes + per_layer + logits;
  return hp.num_layers * per_layer + logits;
}
}  // namespace

StepPlan plan_steps(const TrainOptions& t, int64_t train_rows) {
  StepPlan p;
  p.batches_per_epoch = (train_rows + t.batch_size - 1) / t.batch_size;
  const int64_t per_epoch = std::max<int64_t>(1, (p.batches_per_epoch + t.grad_accum - 1) / t.grad_accum);
  p.total_steps = t.steps > 0 ? t.steps : t.epochs * per_epoch;
  p.warmup_steps = t.warmup_steps > 0 ? t.warmup_steps
                                      : static_cast<int64_t>(std::llround(t.warmup_ratio * p.total_steps));
  return p;
}

ComputeDType compute_dtype(const FinetuneRequest& req) { return req.lora ? req.model.dtype : ComputeDType::F32; }

LoraOptions trained_lora_options(const FinetuneRequest& req) {
  if (!req.lora || req.init_adapter.empty()) return req.lora_options;
  LoraOptions o = read_peft_config(req.init_adapter);
  o.dropout = req.lora_options.dropout;
  return o;
}

json plan_finetune(const FinetuneRequest& req, const LoraOptions& lora) {
  auto hp = load_hparams(req.model.path);
  // Without a prepared dataset yet, plan from plan_seq_len; the step count needs the dataset's rows
  // unless train.steps is set.
  const bool have_data = path_exists(join_path(req.data_dir, "manifest.json"));
  data::Manifest manifest{};
  if (have_data) {
    manifest = data::read_manifest(req.data_dir);
  } else {
    manifest.seq_len = req.plan_seq_len;
  }
  const auto plan = plan_steps(req.train, have_data ? manifest.train_rows : 0);
  const ComputeDType asked = compute_dtype(req);
  const std::string dtype = asked == ComputeDType::Auto ? (cpu_has_fast_bf16() ? "bf16" : "fp32") : compute_dtype_name(asked);
  const int64_t total = hp.num_parameters();
  const int64_t trainable = req.lora ? lora_parameter_count(hp, lora) : total;
  const double weights = static_cast<double>(total) * dtype_bytes(dtype);
  const double train_state = static_cast<double>(trainable) * 16;  // fp32 param + grad + two AdamW moments
  const double acts = activation_bytes(hp, req, manifest.seq_len);
  return {{"parameters", total},
          {"dataset", have_data ? json(req.data_dir) : json("not prepared yet (" + req.data_dir + ")")},
          {"trainable_parameters", trainable},
          {"trainable_percent", 100.0 * trainable / std::max<int64_t>(1, total)},
          {"compute_dtype", dtype},
          {"train_rows", have_data ? json(manifest.train_rows) : json(nullptr)},
          {"val_rows", have_data ? json(manifest.val_rows) : json(nullptr)},
          {"seq_len", manifest.seq_len},
          {"tokens_per_step", req.train.batch_size * req.train.grad_accum * manifest.seq_len},
          {"steps", have_data || req.train.steps > 0 ? json(plan.total_steps) : json(nullptr)},
          {"warmup_steps", plan.warmup_steps},
          {"estimated_peak_memory_bytes", weights + train_state + acts},
          {"estimate_parts", {{"weights", weights}, {"trainable_state", train_state}, {"activations", acts}}}};
}

}  // namespace loratune::train
