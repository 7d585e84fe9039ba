#include "train/trainer.h"

#include <sys/resource.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/signals.h"
#include "core/strings.h"
#include "data/prepared.h"
#include "lora/lora.h"
#include "lora/peft.h"
#include "model/device.h"
#include "model/generate.h"
#include "model/loader.h"
#include "model/tensor_io.h"
#include "tokenizer/tokenizer.h"
#include "train/batcher.h"
#include "train/loss.h"
#include "train/optimizer.h"
#include "train/schedule.h"

namespace loratune::train {
namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kConfigFile = "config.resolved.json";
constexpr const char* kMetricsFile = "metrics.jsonl";
constexpr const char* kSummaryFile = "summary.json";
constexpr const char* kCheckpointDir = "checkpoints";
constexpr const char* kBestDir = "best";

LoraOptions lora_options(const LoraConfig& c) {
  LoraOptions o;
  o.r = c.r;
  o.alpha = c.alpha;
  o.dropout = c.dropout;
  o.targets = c.targets;
  o.rslora = c.rslora;
  o.init = parse_lora_init(c.init);
  o.layers = c.layers;
  return o;
}

int64_t peak_rss_bytes() {
  struct rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;
}

std::string compute_dtype(const Config& cfg) { return cfg.lora.enabled ? cfg.model.dtype : "fp32"; }

int64_t dtype_bytes(const std::string& label) { return label == "fp32" ? 4 : 2; }

struct StepPlan {
  int64_t total_steps = 0, warmup_steps = 0, batches_per_epoch = 0;
};

StepPlan plan_steps(const TrainConfig& t, int64_t train_rows) {
  StepPlan p;
  p.batches_per_epoch = (train_rows + t.batch_size - 1) / t.batch_size;
  const int64_t per_epoch = std::max<int64_t>(1, (p.batches_per_epoch + t.grad_accum - 1) / t.grad_accum);
  p.total_steps = t.steps > 0 ? t.steps : t.epochs * per_epoch;
  p.warmup_steps = t.warmup_steps > 0 ? t.warmup_steps
                                      : static_cast<int64_t>(std::llround(t.warmup_ratio * p.total_steps));
  return p;
}

void require_data(const Config& cfg) {
  if (cfg.model.path.empty()) fail_input("finetune needs a base model", "pass --model DIR (or set model.path)");
  if (cfg.train.data.empty())
    fail_input("finetune needs a prepared dataset", "run `loratune prepare ... --out DIR`, then pass --data DIR");
}

// Bytes of activations kept for backward in one micro-batch (an estimate, documented in --dry-run).
double activation_bytes(const ModelHParams& hp, const Config& cfg, int64_t seq_len) {
  const double B = static_cast<double>(cfg.train.batch_size), T = static_cast<double>(seq_len);
  const double bytes = static_cast<double>(dtype_bytes(cfg.lora.enabled ? "bf16" : "fp32"));
  const double H = hp.hidden_size, I = hp.intermediate_size, q = hp.q_dim(), kv = hp.kv_dim();
  // Saved per token per layer: norm inputs/outputs, q/k/v, attention output, MLP inputs and the gated product;
  // per head per token: the [T] score and probability rows (fp32 scores + probs in the compute dtype).
  const double per_layer = B * T * ((4 * H + 2 * q + 2 * kv + 3 * I) * bytes + hp.num_heads * T * (4 + 4 + bytes));
  const double logits = B * T * hp.vocab_size * (bytes + 4 + 4);
  if (cfg.train.grad_checkpointing) return hp.num_layers * B * T * H * bytes + per_layer + logits;
  return hp.num_layers * per_layer + logits;
}

std::string step_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "step-%08lld", static_cast<long long>(step));
  return buf;
}

std::vector<std::string> list_checkpoints(const std::string& run_dir) {
  std::vector<std::string> out;
  std::string dir = join_path(run_dir, kCheckpointDir);
  if (!is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && starts_with(name, "step-") && name.find(".tmp") == std::string::npos &&
        path_exists(join_path(e.path().string(), "state.json")))
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

json read_json_file(const std::string& path) {
  try {
    return json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    fail_input(path + ": invalid JSON (" + e.what() + ")", "the run directory is damaged; start a new run");
  }
}

void truncate_lines(const std::string& path, int64_t keep) {
  std::ifstream in(path);
  std::string line, kept;
  for (int64_t i = 0; i < keep && std::getline(in, line); ++i) kept += line + "\n";
  write_file_atomic(path, kept);
}

void copy_if_exists(const std::string& from_dir, const std::string& to_dir, const std::string& name) {
  const std::string src = join_path(from_dir, name);
  if (path_exists(src)) write_file_atomic(join_path(to_dir, name), read_text_file(src));
}

// A full model as an HF directory (full fine-tune): weights + the base's config and tokenizer files.
void save_hf_model(const std::string& dir, const CausalLM& model, const std::string& base_dir) {
  save_safetensors(join_path(dir, "model.safetensors"), model_state(model), {{"format", "pt"}});
  for (const char* f : {"config.json", "tokenizer.model", "tokenizer_config.json", "generation_config.json",
                        "special_tokens_map.json", "chat_template.jinja"})
    copy_if_exists(base_dir, dir, f);
}

class Trainer {
 public:
  Trainer(const FinetuneRequest& req, const FinetuneCallbacks& cb) : req_(req), cfg_(req.cfg), cb_(cb) {}

  json run() {
    setup();
    loop();
    return finish();
  }

 private:
  void setup() {
    const auto& t = cfg_.train;
    require_data(cfg_);
    torch::manual_seed(static_cast<uint64_t>(cfg_.runtime.seed));
    tok_ = std::make_unique<Tokenizer>(Tokenizer::from_model_dir(cfg_.model.path));
    lm_ = load_model(cfg_.model.path, {cfg_.model.device, compute_dtype(cfg_)});
    check_tokenizer_matches(*tok_, lm_.hp, cfg_.model.path);
    data_ = std::make_unique<data::PreparedDataset>(data::open_prepared(t.data, tok_->fingerprint()));
    if (!data_->train || data_->train->rows() == 0)
      fail_input(t.data + ": the train split is empty", "prepare more data (or a smaller --val-fraction)");
    if (data_->manifest.vocab_size > lm_.hp.vocab_size)
      fail_input(t.data + ": prepared with a vocabulary of " + std::to_string(data_->manifest.vocab_size) +
                 " but the model has " + std::to_string(lm_.hp.vocab_size));
    if (cfg_.lora.enabled && !cfg_.lora.init_adapter.empty()) {
      // Continued training: the adapter's own config (rank/alpha patterns included) defines the modules.
      lora_opts_ = read_peft_config(cfg_.lora.init_adapter);
      lora_opts_.dropout = cfg_.lora.dropout;
      auto inj = load_peft_adapter(lm_.model, cfg_.lora.init_adapter);
      log::info("continuing adapter " + cfg_.lora.init_adapter + " on " + std::to_string(inj.modules.size()) +
                " modules, " + std::to_string(inj.trainable_parameters) + " trainable parameters");
    } else if (cfg_.lora.enabled) {
      lora_opts_ = lora_options(cfg_.lora);
      auto inj = inject_lora(lm_.model, lora_opts_, static_cast<uint64_t>(cfg_.runtime.seed));
      log::info("LoRA on " + std::to_string(inj.modules.size()) + " modules, " +
                std::to_string(inj.trainable_parameters) + " trainable parameters");
    } else {
      for (auto& p : lm_.model->parameters()) p.set_requires_grad(true);
    }
    for (const auto& p : lm_.model->named_parameters(true))
      if (p.value().requires_grad()) {
        names_.push_back(p.key());
        params_.push_back(p.value());
      }
    opt_ = std::make_unique<AdamW>(params_, AdamWOptions{t.lr, t.beta1, t.beta2, t.eps, t.weight_decay});
    sched_ = ScheduleOptions{t.schedule, 0, t.min_lr_ratio};
    plan_ = plan_steps(t, data_->train->rows());
    sched_.warmup_steps = plan_.warmup_steps;
    validate_schedule(sched_);
    cursor_ = std::make_unique<RowCursor>(data_->train->rows(), t.batch_size,
                                          static_cast<uint64_t>(cfg_.runtime.seed), t.shuffle);
    prepare_run_dir();
    lm_.model->train();
  }

  void prepare_run_dir() {
    const std::string& dir = req_.out_dir;
    const std::string cfg_path = join_path(dir, kConfigFile);
    if (req_.resume) {
      auto ckpts = list_checkpoints(dir);
      if (ckpts.empty())
        fail_input(dir + ": no checkpoint to resume from", "start a new run without --resume");
      restore(ckpts.back());
      return;
    }
    if (path_exists(dir)) {
      if (!req_.force)
        fail_input(dir + ": already exists", "continue it with --resume, or pass --force to start over");
      remove_tree(dir);
    }
    std::error_code ec;
    fs::create_directories(join_path(dir, kCheckpointDir), ec);
    if (ec) fail_runtime(dir + ": cannot create the run directory (" + ec.message() + ")");
    write_file_atomic(cfg_path, config_to_json(cfg_) + "\n");
    write_file_atomic(join_path(dir, kMetricsFile), "");
  }

  void restore(const std::string& ckpt) {
    json st = read_json_file(join_path(ckpt, "state.json"));
    auto trainable = load_safetensors(join_path(ckpt, "trainable.safetensors"));
    {
      torch::NoGradGuard ng;
      for (size_t i = 0; i < params_.size(); ++i) {
        auto it = trainable.find(names_[i]);
        if (it == trainable.end() || it->second.sizes() != params_[i].sizes())
          fail_input(ckpt + ": checkpoint does not match this run (tensor " + names_[i] + ")",
                     "resume with the config the run was started with (config.resolved.json)");
        params_[i].copy_(it->second);
      }
    }
    opt_->load_state(load_safetensors(join_path(ckpt, "optimizer.safetensors")),
                     join_path(ckpt, "optimizer.safetensors"));
    auto rng = load_safetensors(join_path(ckpt, "rng.safetensors"));
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    gen.set_state(rng.at("cpu"));
    step_ = st.at("step").get<int64_t>();
    cursor_->restore(st.at("epoch").get<int64_t>(), st.at("position").get<int64_t>());
    best_val_ = st.at("best_val_loss").is_null() ? INFINITY : st.at("best_val_loss").get<double>();
    best_step_ = st.at("best_step").get<int64_t>();
    bad_evals_ = st.at("evals_without_improvement").get<int64_t>();
    tokens_seen_ = st.at("tokens_seen").get<int64_t>();
    elapsed_before_ = st.at("elapsed").get<double>();
    truncate_lines(join_path(req_.out_dir, kMetricsFile), st.at("metrics_lines").get<int64_t>());
    metrics_lines_ = st.at("metrics_lines").get<int64_t>();
    event("resumed from " + ckpt + " at step " + std::to_string(step_));
  }

  void save_checkpoint() {
    const std::string dir = join_path(join_path(req_.out_dir, kCheckpointDir), step_dir_name(step_));
    AtomicDirectory ad(dir, /*overwrite=*/true);
    std::vector<std::pair<std::string, torch::Tensor>> named;
    for (size_t i = 0; i < params_.size(); ++i) named.emplace_back(names_[i], params_[i]);
    save_safetensors(ad.file("trainable.safetensors"), named);
    save_safetensors(ad.file("optimizer.safetensors"), opt_->state());
    save_safetensors(ad.file("rng.safetensors"), {{"cpu", at::detail::getDefaultCPUGenerator().get_state()}});
    json st{{"step", step_},
            {"epoch", cursor_->epoch()},
            {"position", cursor_->position()},
            {"best_val_loss", std::isfinite(best_val_) ? json(best_val_) : json(nullptr)},
            {"best_step", best_step_},
            {"evals_without_improvement", bad_evals_},
            {"tokens_seen", tokens_seen_},
            {"elapsed", elapsed()},
            {"metrics_lines", metrics_lines_},
            {"total_steps", plan_.total_steps}};
    write_file_atomic(ad.file("state.json"), st.dump(2) + "\n");
    ad.commit();
    last_checkpoint_step_ = step_;
    auto all = list_checkpoints(req_.out_dir);
    for (size_t i = 0; i + static_cast<size_t>(cfg_.train.keep_last) < all.size(); ++i) remove_tree(all[i]);
    event("checkpoint " + dir);
  }

  void save_adapter(const std::string& dir) {
    AtomicDirectory ad(dir, /*overwrite=*/true);
    if (cfg_.lora.enabled)
      save_peft_adapter(ad.tmp_path(), lm_.model, lora_opts_, cfg_.model.path);
    else
      save_hf_model(ad.tmp_path(), lm_.model, cfg_.model.path);
    ad.commit();
  }

  double evaluate() {
    if (!data_->val || data_->val->rows() == 0) return NAN;
    torch::NoGradGuard ng;
    lm_.model->eval();
    const auto& t = cfg_.train;
    double sum = 0;
    int64_t count = 0, batches = 0;
    for (int64_t start = 0; start < data_->val->rows(); start += t.batch_size) {
      if (t.eval_batches > 0 && batches++ >= t.eval_batches) break;
      std::vector<int64_t> rows;
      for (int64_t r = start; r < std::min(start + t.batch_size, data_->val->rows()); ++r) rows.push_back(r);
      auto b = make_batch(*data_->val, rows, 0, lm_.hp.sliding_window).to(lm_.device);
      ForwardOptions fo;
      fo.position_ids = b.position_ids;
      fo.attention_mask = b.attention_mask;
      sum += token_loss_sum(lm_.model->forward(b.input_ids, fo), b.targets).item<double>();
      count += b.target_tokens;
    }
    lm_.model->train();
    return count > 0 ? sum / count : NAN;
  }

  // One optimizer step over grad_accum micro-batches; returns {loss, grad_norm, tokens}.
  std::tuple<double, double, int64_t> train_step() {
    const auto& t = cfg_.train;
    std::vector<Batch> micro;
    int64_t targets = 0, tokens = 0;
    for (int64_t i = 0; i < t.grad_accum; ++i) {
      micro.push_back(make_batch(*data_->train, cursor_->next(), 0, lm_.hp.sliding_window).to(lm_.device));
      targets += micro.back().target_tokens;
      tokens += micro.back().tokens;
    }
    double loss = 0;
    if (targets > 0) {
      for (auto& b : micro) {
        ForwardOptions fo;
        fo.position_ids = b.position_ids;
        fo.attention_mask = b.attention_mask;
        fo.checkpoint_layers = t.grad_checkpointing;
        auto l = token_loss_sum(lm_.model->forward(b.input_ids, fo), b.targets) / static_cast<double>(targets);
        l.backward();
        loss += l.item<double>();
      }
    }
    double norm = clip_grad_norm(params_, t.max_grad_norm);
    if (!std::isfinite(loss) || !std::isfinite(norm)) {
      std::string last = list_checkpoints(req_.out_dir).empty() ? "none yet" : list_checkpoints(req_.out_dir).back();
      fail_runtime("non-finite " + std::string(std::isfinite(loss) ? "gradient norm" : "loss") + " at step " +
                       std::to_string(step_ + 1) + " (loss " + std::to_string(loss) + ", grad norm " +
                       std::to_string(norm) + "); the step was not applied. Last good checkpoint: " + last,
                   "lower train.lr, keep train.max_grad_norm > 0, or try --dtype fp32; then --resume or start over");
    }
    opt_->step(lr_at(sched_, t.lr, step_, plan_.total_steps));
    opt_->zero_grad();
    return {loss, norm, tokens};
  }

  void loop() {
    const auto& t = cfg_.train;
    while (step_ < plan_.total_steps) {
      auto t0 = Clock::now();
      const double lr = lr_at(sched_, t.lr, step_, plan_.total_steps);
      auto [loss, norm, tokens] = train_step();
      ++step_;
      tokens_seen_ += tokens;
      const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      step_seconds_ += secs;
      ++steps_this_process_;
      json m{{"step", step_},      {"total_steps", plan_.total_steps}, {"epoch", cursor_->epoch()},
             {"loss", loss},       {"lr", lr},                         {"grad_norm", norm},
             {"tokens", tokens},   {"tokens_per_s", secs > 0 ? tokens / secs : 0.0},
             {"elapsed", elapsed()},
             {"eta_s", (plan_.total_steps - step_) * step_seconds_ / steps_this_process_}};
      bool stop_early = false;
      if ((t.eval_every > 0 && step_ % t.eval_every == 0) || step_ == plan_.total_steps)
        stop_early = validate(m);
      append_metrics(m);
      if (cb_.on_step) cb_.on_step(m);
      const bool interrupted = interrupt_requested();
      if ((t.save_every > 0 && step_ % t.save_every == 0) || interrupted) save_checkpoint();
      if (interrupted)
        throw Error(ExitCode::Interrupted, "interrupted at step " + std::to_string(step_) + "; checkpoint saved",
                    "continue with: loratune finetune --resume --out " + req_.out_dir);
      if (stop_early) {
        event("early stopping: no better val loss in " + std::to_string(bad_evals_) + " validations");
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
    if (val < best_val_) {
      best_val_ = val;
      best_step_ = step_;
      bad_evals_ = 0;
      save_adapter(join_path(join_path(req_.out_dir, kCheckpointDir), kBestDir));
      write_file_atomic(join_path(join_path(join_path(req_.out_dir, kCheckpointDir), kBestDir), "best.json"),
                        json{{"step", step_}, {"val_loss", val}}.dump(2) + "\n");
    } else {
      ++bad_evals_;
    }
    return cfg_.train.early_stopping_patience > 0 && bad_evals_ >= cfg_.train.early_stopping_patience;
  }

  void append_metrics(const json& m) {
    std::ofstream f(join_path(req_.out_dir, kMetricsFile), std::ios::app);
    f << m.dump() << "\n";
    if (!f) fail_runtime(join_path(req_.out_dir, kMetricsFile) + ": write failed", "check free disk space");
    ++metrics_lines_;
  }

  json finish() {
    if (last_checkpoint_step_ != step_) save_checkpoint();
    save_adapter(join_path(req_.out_dir, cfg_.lora.enabled ? "adapter" : "model"));
    json s{{"steps", step_},
           {"total_steps", plan_.total_steps},
           {"stopped_early", stopped_early_},
           {"best_val_loss", std::isfinite(best_val_) ? json(best_val_) : json(nullptr)},
           {"best_step", best_step_},
           {"tokens", tokens_seen_},
           {"seconds", elapsed()},
           {"tokens_per_s", step_seconds_ > 0 ? static_cast<double>(tokens_seen_) / elapsed() : 0.0},
           {"peak_rss_bytes", peak_rss_bytes()},
           {"trainable_parameters", trainable_count()},
           {"parameters", lm_.hp.num_parameters()},
           {"device", lm_.device.str()},
           {"dtype", dtype_label(lm_.dtype)},
           {"output", join_path(req_.out_dir, cfg_.lora.enabled ? "adapter" : "model")}};
    write_file_atomic(join_path(req_.out_dir, kSummaryFile), s.dump(2) + "\n");
    return s;
  }

  int64_t trainable_count() const {
    int64_t n = 0;
    for (const auto& p : params_) n += p.numel();
    return n;
  }
  double elapsed() const { return elapsed_before_ + std::chrono::duration<double>(Clock::now() - start_).count(); }
  void event(const std::string& e) {
    log::info(e);
    if (cb_.on_event) cb_.on_event(e);
  }

  const FinetuneRequest& req_;
  const Config& cfg_;
  const FinetuneCallbacks& cb_;
  std::unique_ptr<Tokenizer> tok_;
  LoadedModel lm_;
  LoraOptions lora_opts_;  // what the adapter is (fresh from [lora], or read from lora.init_adapter)
  std::unique_ptr<data::PreparedDataset> data_;
  std::vector<std::string> names_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<AdamW> opt_;
  ScheduleOptions sched_;
  StepPlan plan_;
  std::unique_ptr<RowCursor> cursor_;
  int64_t last_checkpoint_step_ = -1;
  int64_t step_ = 0, tokens_seen_ = 0, best_step_ = -1, bad_evals_ = 0, metrics_lines_ = 0, steps_this_process_ = 0;
  double best_val_ = INFINITY, elapsed_before_ = 0, step_seconds_ = 0;
  bool stopped_early_ = false;
  Clock::time_point start_ = Clock::now();
};
}  // namespace

json plan_finetune(const Config& cfg) {
  require_data(cfg);
  auto hp = load_hparams(cfg.model.path);
  // Without a prepared dataset yet, plan from data.seq_len; the step count needs the dataset's rows
  // unless train.steps is set.
  const bool have_data = path_exists(join_path(cfg.train.data, "manifest.json"));
  data::Manifest manifest{};
  if (have_data) {
    manifest = data::read_manifest(cfg.train.data);
  } else {
    manifest.seq_len = cfg.data.seq_len;
  }
  const auto plan = plan_steps(cfg.train, have_data ? manifest.train_rows : 0);
  const std::string dtype = compute_dtype(cfg) == "auto" ? (cpu_has_fast_bf16() ? "bf16" : "fp32") : compute_dtype(cfg);
  const int64_t total = hp.num_parameters();
  const int64_t trainable = cfg.lora.enabled ? lora_parameter_count(hp, lora_options(cfg.lora)) : total;
  const double weights = static_cast<double>(total) * dtype_bytes(dtype);
  const double train_state = static_cast<double>(trainable) * 16;  // fp32 param + grad + two AdamW moments
  const double acts = activation_bytes(hp, cfg, manifest.seq_len);
  return {{"parameters", total},
          {"dataset", have_data ? json(cfg.train.data) : json("not prepared yet (" + cfg.train.data + ")")},
          {"trainable_parameters", trainable},
          {"trainable_percent", 100.0 * trainable / std::max<int64_t>(1, total)},
          {"compute_dtype", dtype},
          {"train_rows", have_data ? json(manifest.train_rows) : json(nullptr)},
          {"val_rows", have_data ? json(manifest.val_rows) : json(nullptr)},
          {"seq_len", manifest.seq_len},
          {"tokens_per_step", cfg.train.batch_size * cfg.train.grad_accum * manifest.seq_len},
          {"steps", have_data || cfg.train.steps > 0 ? json(plan.total_steps) : json(nullptr)},
          {"warmup_steps", plan.warmup_steps},
          {"estimated_peak_memory_bytes", weights + train_state + acts},
          {"estimate_parts", {{"weights", weights}, {"trainable_state", train_state}, {"activations", acts}}}};
}

json run_finetune(const FinetuneRequest& req, const FinetuneCallbacks& cb) {
  if (req.out_dir.empty()) fail_input("finetune needs a run directory", "pass --out RUN_DIR");
  Trainer t(req, cb);
  return t.run();
}

Config config_from_run(const std::string& run_dir) {
  const std::string path = join_path(run_dir, kConfigFile);
  if (!path_exists(path))
    fail_input(run_dir + ": not a loratune run directory (no " + kConfigFile + ")", "pass the --out of a finetune run");
  Config cfg;
  apply_config_file(cfg, path);
  const std::string best = join_path(join_path(run_dir, kCheckpointDir), kBestDir);
  const std::string final_dir = join_path(run_dir, cfg.lora.enabled ? "adapter" : "model");
  const std::string chosen = path_exists(best) ? best : final_dir;
  if (!path_exists(chosen)) fail_input(run_dir + ": the run has no adapter yet", "let the run finish, or --resume it");
  if (cfg.lora.enabled)
    cfg.model.adapter = chosen;
  else
    cfg.model.path = chosen;
  return cfg;
}

}  // namespace loratune::train
