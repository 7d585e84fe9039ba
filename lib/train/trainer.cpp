#include "train/trainer.h"

#include <sys/resource.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "model/gguf_tokenizer.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/signals.h"
#include "data/prepared.h"
#include "lora/lora.h"
#include "lora/peft.h"
#include "model/device.h"
#include "model/generate.h"
#include "model/arch.h"
#include "model/loader.h"
#include "model/op_profile.h"
#include "model/tensor_io.h"
#include "tokenizer/tokenizer.h"
#include "train/batcher.h"
#include "train/checkpoint.h"
#include "train/finetune_plan.h"
#include "train/loss.h"
#include "train/loss_eval.h"
#include "train/optimizer.h"
#include "train/run_dir.h"
#include "train/schedule.h"

namespace loratune::train {
namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int64_t peak_rss_bytes() {
  struct rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;
}

// A full model as an HF directory (full fine-tune): weights, the base's config.json (the architecture is
// unchanged) and its companion files (model/arch.h: tokenizer, chat template, generation settings).
void save_hf_model(const std::string& dir, const CausalLM& model, const std::string& base_dir) {
  save_safetensors(join_path(dir, "model.safetensors"), model_state(model), {{"format", "pt"}});
  write_file_atomic(join_path(dir, "config.json"), read_text_file(join_path(base_dir, "config.json")));
  copy_hf_companions(base_dir, dir);
}

class Trainer {
 public:
  Trainer(const FinetuneRequest& req, const FinetuneCallbacks& cb) : req_(req), run_(req.out_dir), cb_(cb) {}

  json run() {
    setup();
    loop();
    return finish();
  }

 private:
  void setup() {
    const auto& t = req_.train;
    torch::manual_seed(static_cast<uint64_t>(req_.seed));
    tok_ = std::make_unique<Tokenizer>(load_tokenizer(req_.model.path));  // a directory or a GGUF file
    lm_ = load_model(req_.model.path, {req_.model.device, compute_dtype(req_)});
    check_tokenizer_matches(*tok_, lm_.hp, req_.model.path);
    data_ = std::make_unique<data::PreparedDataset>(data::open_prepared(req_.data_dir, tok_->fingerprint()));
    if (!data_->train || data_->train->rows() == 0)
      fail_input(req_.data_dir + ": the train split is empty", "prepare more data (or a smaller {opt:val_fraction})");
    if (data_->manifest.vocab_size > lm_.hp.vocab_size)
      fail_input(req_.data_dir + ": prepared with a vocabulary of " + std::to_string(data_->manifest.vocab_size) +
                 " but the model has " + std::to_string(lm_.hp.vocab_size));
    if (req_.lora && !req_.init_adapter.empty()) {
      // Continued training: the adapter's own config (rank/alpha patterns included) defines the modules;
      // adapter_config.json and the tensors are read once.
      const Adapter adapter = read_peft_adapter(req_.init_adapter);
      lora_opts_ = adapter.options;
      lora_opts_.dropout = req_.lora_options.dropout;
      auto inj = apply_adapter(lm_.model, adapter);
      log::info("continuing adapter " + req_.init_adapter + " on " + std::to_string(inj.modules.size()) +
                " modules, " + std::to_string(inj.trainable_parameters) + " trainable parameters");
    } else if (req_.lora) {
      lora_opts_ = req_.lora_options;
      auto inj = inject_lora(lm_.model, lora_opts_, static_cast<uint64_t>(req_.seed));
      log::info("LoRA on " + std::to_string(inj.modules.size()) + " modules, " +
                std::to_string(inj.trainable_parameters) + " trainable parameters");
    } else {
      for (auto& p : lm_.model->parameters()) p.set_requires_grad(true);
    }
    for (auto& m : lora_modules(lm_.model)) m.adapter->set_fused(t.fused_kernels);
    for (const auto& p : lm_.model->named_parameters(true))
      if (p.value().requires_grad()) {
        tr_.names.push_back(p.key());
        tr_.params.push_back(p.value());
      }
    opt_ = std::make_unique<AdamW>(tr_.params, AdamWOptions{t.lr, t.beta1, t.beta2, t.eps, t.weight_decay});
    sched_ = ScheduleOptions{t.schedule, 0, t.min_lr_ratio};
    plan_ = plan_steps(t, data_->train->rows());
    sched_.warmup_steps = plan_.warmup_steps;
    st_.total_steps = plan_.total_steps;
    validate_schedule(sched_);
    cursor_ = std::make_unique<RowCursor>(data_->train->rows(), t.batch_size, static_cast<uint64_t>(req_.seed),
                                          t.shuffle);
    prepare_run_dir();
    lm_.model->train();
  }

  void prepare_run_dir() {
    const std::string& dir = run_.path();
    if (req_.resume) {
      auto ckpts = run_.checkpoints();
      if (ckpts.empty()) fail_input(dir + ": no checkpoint to resume from", "start a new run without {opt:resume}");
      restore(ckpts.back());
      return;
    }
    if (path_exists(dir)) {
      if (!req_.force) fail_input(dir + ": already exists", "continue it with {opt:resume}, or pass {opt:force} to start over");
      remove_tree(dir);
    }
    std::error_code ec;
    fs::create_directories(run_.checkpoints_dir(), ec);
    if (ec) fail_runtime(dir + ": cannot create the run directory (" + ec.message() + ")");
    LT_CHECK(static_cast<bool>(req_.resolved_config), "run_finetune: FinetuneRequest::resolved_config is not set");
    write_file_atomic(run_.config_file(), req_.resolved_config(lora_opts_));
    write_file_atomic(run_.metrics_file(), "");
  }

  void restore(const std::string& ckpt) {
    const int64_t total = st_.total_steps;
    st_ = restore_checkpoint(ckpt, tr_, *opt_);
    st_.total_steps = total;
    elapsed_before_ = st_.elapsed;
    cursor_->restore(st_.epoch, st_.position);
    truncate_lines(run_.metrics_file(), st_.metrics_lines);
    event("resumed from " + ckpt + " at step " + std::to_string(st_.step));
  }

  void checkpoint() {
    LoopState st = st_;
    st.epoch = cursor_->epoch();
    st.position = cursor_->position();
    st.elapsed = elapsed();
    const std::string dir = save_checkpoint(run_, st, tr_, *opt_, req_.train.keep_last);
    last_checkpoint_step_ = st_.step;
    event("checkpoint " + dir);
  }

  void save_adapter(const std::string& dir) {
    AtomicDirectory ad(dir, /*overwrite=*/true);
    if (req_.lora)
      save_peft_adapter(ad.tmp_path(), lm_.model, lora_opts_, req_.model.path);
    else
      save_hf_model(ad.tmp_path(), lm_.model, req_.model.path);
    ad.commit();
  }

  // Mean token loss on the val split (the evaluator `loratune eval` uses); NaN without a val split.
  double evaluate() {
    if (!data_->val || data_->val->rows() == 0) return NAN;
    LossEvalOptions o;
    o.batch_size = req_.train.batch_size;
    o.max_batches = req_.train.eval_batches;
    o.interruptible = false;  // a signal is handled after the step, with a checkpoint
    const double loss = evaluate_loss(lm_.model, *data_->val, o).total.loss();
    lm_.model->train();
    return loss;
  }

  // One optimizer step over grad_accum micro-batches; returns {loss, grad_norm, tokens}.
  std::tuple<double, double, int64_t> train_step() {
    const auto& t = req_.train;
    std::vector<Batch> micro;
    int64_t targets = 0, tokens = 0;
    for (int64_t i = 0; i < t.grad_accum; ++i) {
      ProfileScope scope("data");
      micro.push_back(make_batch(*data_->train, cursor_->next(), 0, lm_.hp.sliding_window).to(lm_.device));
      targets += micro.back().target_tokens;
      tokens += micro.back().tokens;
    }
    double loss = 0;
    if (targets > 0) {
      for (auto& b : micro) {
        ForwardOptions fo;
        fo.position_ids = b.position_ids;
        if (!b.causal || !t.fused_kernels) fo.attention_mask = b.attention_mask;
        fo.checkpoint_layers = t.grad_checkpointing;
        torch::Tensor l;
        if (t.fused_kernels) {
          auto hidden = lm_.model->hidden_states(b.input_ids, fo);  // [B, T, H]
          ProfileScope scope("loss");
          l = head_loss_sum(hidden, lm_.model->head_weight(), b.targets) / static_cast<double>(targets);
        } else {
          auto logits = lm_.model->forward(b.input_ids, fo);  // [B, T, V]
          ProfileScope scope("loss");
          l = token_loss_sum(logits, b.targets) / static_cast<double>(targets);
        }
        l.backward();
        loss += l.item<double>();
      }
    }
    ProfileScope scope("optimizer");
    double norm = clip_grad_norm(tr_.params, t.max_grad_norm);
    if (!std::isfinite(loss) || !std::isfinite(norm)) {
      const auto ckpts = run_.checkpoints();
      const std::string last = ckpts.empty() ? "none yet" : ckpts.back();
      fail_runtime("non-finite " + std::string(std::isfinite(loss) ? "gradient norm" : "loss") + " at step " +
                       std::to_string(st_.step + 1) + " (loss " + std::to_string(loss) + ", grad norm " +
                       std::to_string(norm) + "); the step was not applied. Last good checkpoint: " + last,
                   "lower train.lr, keep train.max_grad_norm > 0, or try {opt:dtype} fp32; then {opt:resume} or start over");
    }
    opt_->step(lr_at(sched_, t.lr, st_.step, plan_.total_steps));
    opt_->zero_grad();
    return {loss, norm, tokens};
  }

  void loop() {
    const auto& t = req_.train;
    if (!req_.profile_path.empty()) profile_ = std::make_unique<OpProfile>();
    const int64_t first_step = st_.step;
    while (st_.step < plan_.total_steps) {
      // The first step of this process is left out (one-off kernel selection), unless it is the only one.
      const bool profiled = profile_ && (st_.step > first_step || st_.step + 1 == plan_.total_steps);
      if (profiled) profile_->start();
      auto t0 = Clock::now();
      const double lr = lr_at(sched_, t.lr, st_.step, plan_.total_steps);
      auto [loss, norm, tokens] = train_step();
      ++st_.step;
      st_.tokens_seen += tokens;
      const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      if (profile_) {
        profile_->stop();
        (profiled ? profiled_ : first_).push_back(secs);
      }
      step_seconds_ += secs;
      ++steps_this_process_;
      json m{{"step", st_.step},   {"total_steps", plan_.total_steps}, {"epoch", cursor_->epoch()},
             {"loss", loss},       {"lr", lr},                         {"grad_norm", norm},
             {"tokens", tokens},   {"tokens_per_s", secs > 0 ? tokens / secs : 0.0},
             {"elapsed", elapsed()},
             {"eta_s", (plan_.total_steps - st_.step) * step_seconds_ / steps_this_process_}};
      bool stop_early = false;
      if ((t.eval_every > 0 && st_.step % t.eval_every == 0) || st_.step == plan_.total_steps)
        stop_early = validate(m);
      append_metrics(m);
      if (cb_.on_step) cb_.on_step(m);
      const bool interrupted = interrupt_requested();
      if ((t.save_every > 0 && st_.step % t.save_every == 0) || interrupted) checkpoint();
      if (interrupted)
        throw Error(ExitCode::Interrupted, "interrupted at step " + std::to_string(st_.step) + "; checkpoint saved",
                    "continue with: loratune finetune {opt:resume} {opt:out} " + run_.path());
      if (stop_early) {
        event("early stopping: no better val loss in " + std::to_string(st_.bad_evals) + " validations");
        stopped_early_ = true;
        break;
      }
    }
  }

  // Runs validation into `m`; returns true when early stopping triggers.
  bool validate(json& m) {
    const double val = evaluate();
    if (std::isnan(val)) return false;
    m["val_loss"] = val;
    if (val < st_.best_val) {
      st_.best_val = val;
      st_.best_step = st_.step;
      st_.bad_evals = 0;
      save_adapter(run_.best_dir());
      write_file_atomic(run_.best_file(), json{{"step", st_.step}, {"val_loss", val}}.dump(2) + "\n");
    } else {
      ++st_.bad_evals;
    }
    return req_.train.early_stopping_patience > 0 && st_.bad_evals >= req_.train.early_stopping_patience;
  }

  void append_metrics(const json& m) {
    std::ofstream f(run_.metrics_file(), std::ios::app);
    f << m.dump() << "\n";
    if (!f) fail_runtime(run_.metrics_file() + ": write failed", "check free disk space");
    ++st_.metrics_lines;
  }

  void write_profile() {
    if (!profile_) return;
    json p = profile_->report();
    p["steps_profiled"] = profiled_.size();
    p["step_seconds"] = profiled_;
    p["first_step_seconds"] = first_.empty() ? json(nullptr) : json(first_.front());
    p["rows_per_step"] = req_.train.batch_size * req_.train.grad_accum;
    p["device"] = lm_.device.str();
    p["dtype"] = dtype_label(lm_.dtype);
    write_file_atomic(req_.profile_path, p.dump(2) + "\n");
    profile_.reset();
  }

  json finish() {
    write_profile();
    if (last_checkpoint_step_ != st_.step) checkpoint();
    save_adapter(run_.final_dir(req_.lora));
    json s{{"steps", st_.step},
           {"total_steps", plan_.total_steps},
           {"stopped_early", stopped_early_},
           {"best_val_loss", std::isfinite(st_.best_val) ? json(st_.best_val) : json(nullptr)},
           {"best_step", st_.best_step},
           {"tokens", st_.tokens_seen},
           {"seconds", elapsed()},
           {"tokens_per_s", step_seconds_ > 0 ? static_cast<double>(st_.tokens_seen) / elapsed() : 0.0},
           {"peak_rss_bytes", peak_rss_bytes()},
           {"trainable_parameters", trainable_count()},
           {"parameters", lm_.hp.num_parameters()},
           {"device", lm_.device.str()},
           {"dtype", dtype_label(lm_.dtype)},
           {"output", run_.final_dir(req_.lora)}};
    write_file_atomic(run_.summary_file(), s.dump(2) + "\n");
    return s;
  }

  int64_t trainable_count() const {
    int64_t n = 0;
    for (const auto& p : tr_.params) n += p.numel();
    return n;
  }
  double elapsed() const { return elapsed_before_ + std::chrono::duration<double>(Clock::now() - start_).count(); }
  void event(const std::string& e) {
    log::info(e);
    if (cb_.on_event) cb_.on_event(e);
  }

  const FinetuneRequest& req_;
  const RunDir run_;
  const FinetuneCallbacks& cb_;
  std::unique_ptr<Tokenizer> tok_;
  LoadedModel lm_;
  LoraOptions lora_opts_;  // what the adapter is (fresh from the request, or read from init_adapter)
  std::unique_ptr<data::PreparedDataset> data_;
  Trainables tr_;
  std::unique_ptr<AdamW> opt_;
  ScheduleOptions sched_;
  StepPlan plan_;
  std::unique_ptr<RowCursor> cursor_;
  std::unique_ptr<OpProfile> profile_;
  std::vector<double> profiled_, first_;  // step seconds of the profiled steps / of the step left out
  LoopState st_;
  int64_t last_checkpoint_step_ = -1, steps_this_process_ = 0;
  double step_seconds_ = 0, elapsed_before_ = 0;
  bool stopped_early_ = false;
  Clock::time_point start_ = Clock::now();
};
}  // namespace

json run_finetune(const FinetuneRequest& req, const FinetuneCallbacks& cb) {
  Trainer t(req, cb);
  return t.run();
}

}  // namespace loratune::train
