// `loratune finetune`: LoRA (or full) fine-tuning on a prepared dataset, into a run directory.
#include <unistd.h>

#include <cstdio>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.h"
#include "options.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "train/trainer.h"

namespace loratune::cli {
namespace {
struct FinetuneArgs {
  std::string out, profile;
  bool resume = false, force = false, dry_run = false;
};

std::string human_bytes(double b) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(1);
  if (b >= 1e9) o << b / 1e9 << " GB";
  else o << b / 1e6 << " MB";
  return o.str();
}

std::string progress_line(const nlohmann::json& m) {
  std::ostringstream o;
  o << "step " << m["step"] << "/" << m["total_steps"] << "  loss " << std::fixed << std::setprecision(4)
    << m["loss"].get<double>() << "  lr " << std::scientific << std::setprecision(2) << m["lr"].get<double>()
    << std::fixed << std::setprecision(0) << "  " << m["tokens_per_s"].get<double>() << " tok/s  ETA "
    << m["eta_s"].get<double>() << " s";
  if (m.contains("val_loss")) o << std::setprecision(4) << "  val " << m["val_loss"].get<double>();
  return o.str();
}

// The request from the resolved config; config.resolved.json records the adapter options actually trained.
train::FinetuneRequest finetune_request(const Config& cfg, const FinetuneArgs& a) {
  if (cfg.model.path.empty()) fail_input("finetune needs a base model", "pass --model DIR (or set model.path)");
  if (cfg.train.data.empty())
    fail_input("finetune needs a prepared dataset", "run `loratune prepare ... --out DIR`, then pass --data DIR");
  train::FinetuneRequest req;
  req.model = model_spec(cfg);
  req.model.adapter.clear();
  req.data_dir = cfg.train.data;
  req.lora = cfg.lora.enabled;
  req.lora_options = lora_options(cfg.lora);
  req.init_adapter = cfg.lora.init_adapter;
  req.train = train_options(cfg.train);
  req.seed = cfg.runtime.seed;
  req.plan_seq_len = cfg.data.seq_len;
  req.out_dir = a.out;
  req.resume = a.resume;
  req.force = a.force;
  req.profile_path = a.profile;
  req.resolved_config = [cfg](const LoraOptions& used) {
    Config c = cfg;
    if (c.lora.enabled) set_lora_config(c.lora, used);
    return config_to_json(c) + "\n";
  };
  return req;
}

int print_plan(const GlobalOptions& g, Config cfg, const train::FinetuneRequest& req) {
  const LoraOptions used = train::trained_lora_options(req);
  if (cfg.lora.enabled) set_lora_config(cfg.lora, used);
  auto plan = train::plan_finetune(req, used);
  if (g.json) {
    std::cout << nlohmann::json{{"config", nlohmann::json::parse(config_to_json(cfg))}, {"plan", plan}}.dump(2)
              << std::endl;
    return 0;
  }
  std::cout << config_to_json(cfg) << "\n";
  std::cout << "parameters:           " << plan["parameters"] << " (trainable " << plan["trainable_parameters"]
            << ", " << std::setprecision(3) << plan["trainable_percent"].get<double>() << "%)\n"
            << "compute dtype:        " << plan["compute_dtype"].get<std::string>() << "\n"
            << "train / val rows:     " << plan["train_rows"] << " / " << plan["val_rows"] << " of "
            << plan["seq_len"] << " tokens\n"
            << "tokens per step:      " << plan["tokens_per_step"] << "\n"
            << "steps:                " << plan["steps"] << " (warmup " << plan["warmup_steps"] << ")\n"
            << "estimated peak memory " << human_bytes(plan["estimated_peak_memory_bytes"].get<double>())
            << " (weights " << human_bytes(plan["estimate_parts"]["weights"].get<double>()) << ", trainable state "
            << human_bytes(plan["estimate_parts"]["trainable_state"].get<double>()) << ", activations "
            << human_bytes(plan["estimate_parts"]["activations"].get<double>()) << ")" << std::endl;
  return 0;
}

int run(const GlobalOptions& g, const FinetuneArgs& a) {
  Config base;
  if (a.resume) {
    const std::string stored = join_path(a.out, "config.resolved.json");
    if (!path_exists(stored))
      fail_input(a.out + ": nothing to resume (no config.resolved.json)", "start the run without --resume");
    apply_config_file(base, stored);
  }
  Config cfg = resolve_config(g, base);
  if (maybe_print_config(g, cfg)) return 0;
  const train::FinetuneRequest req = finetune_request(cfg, a);
  if (a.dry_run) return print_plan(g, cfg, req);

  const bool tty = isatty(STDERR_FILENO) && !g.json;
  train::FinetuneCallbacks cb;
  int64_t every = cfg.train.log_every;
  cb.on_step = [&](const nlohmann::json& m) {
    if (g.json) {
      std::cout << m.dump() << std::endl;
    } else if (tty) {
      std::cerr << "\r\033[K" << progress_line(m) << std::flush;
      if (m.contains("val_loss")) std::cerr << "\n";
    } else if (m["step"].get<int64_t>() % every == 0 || m.contains("val_loss") ||
               m["step"] == m["total_steps"]) {
      log::info(progress_line(m));
    }
  };
  cb.on_event = [&](const std::string&) {
    if (tty) std::cerr << "\n";
  };
  auto summary = train::run_finetune(req, cb);
  if (tty) std::cerr << "\n";
  if (g.json) {
    std::cout << nlohmann::json{{"summary", summary}}.dump() << std::endl;
  } else {
    std::cout << "done: " << summary["steps"] << " steps, " << summary["tokens"] << " tokens in " << std::fixed
              << std::setprecision(1) << summary["seconds"].get<double>() << " s ("
              << std::setprecision(0) << summary["tokens_per_s"].get<double>() << " tok/s), best val loss "
              << summary["best_val_loss"].dump() << "\n"
              << "adapter: " << summary["output"].get<std::string>() << std::endl;
  }
  return 0;
}
}  // namespace

void register_finetune(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* sub = app.add_subcommand("finetune", "LoRA fine-tune a model on a prepared dataset");
  sub->fallthrough();
  auto a = std::make_shared<FinetuneArgs>();
  sub->add_option("--out,-o", a->out, "Run directory (checkpoints, metrics, adapter)")->required();
  sub->add_flag("--resume", a->resume, "Continue from the run's latest checkpoint (exactly)");
  sub->add_flag("--force", a->force, "Start over in an existing run directory");
  sub->add_flag("--dry-run", a->dry_run, "Print the resolved config, parameter counts, steps and memory estimate");
  sub->add_option("--profile", a->profile,
                  "Write where the time of steps 2.. goes (operator self time by category: matmul, attention, "
                  "loss, ...) to this JSON file");
  add_config_flag(*sub, g, "--model,-m", "model.path", "Base model: a Hugging Face directory or a GGUF file");
  add_config_flag(*sub, g, "--data,-d", "train.data", "Prepared dataset directory (loratune prepare)");
  add_config_flag(*sub, g, "--steps", "train.steps", "Optimizer steps (0 = from --epochs)");
  add_config_flag(*sub, g, "--epochs", "train.epochs", "Passes over the train split");
  add_config_flag(*sub, g, "--batch-size", "train.batch_size", "Rows per micro-batch");
  add_config_flag(*sub, g, "--grad-accum", "train.grad_accum", "Micro-batches per optimizer step");
  add_config_flag(*sub, g, "--lr", "train.lr", "Peak learning rate");
  add_config_flag(*sub, g, "--eval-every", "train.eval_every", "Steps between validations");
  add_config_flag(*sub, g, "--save-every", "train.save_every", "Steps between checkpoints");
  add_config_flag(*sub, g, "--lora-r", "lora.r", "LoRA rank");
  add_config_flag(*sub, g, "--lora-alpha", "lora.alpha", "LoRA alpha");
  add_config_flag(*sub, g, "--targets", "lora.targets", "Modules: q_proj,v_proj,... | all-linear | regex:...");
  auto* sets = &g.flag_sets;
  sub->add_flag_callback("--full", [sets] { sets->push_back("lora.enabled=false"); },
                         "Full fine-tune of every parameter instead of LoRA [config: lora.enabled=false]");
  sub->add_flag_callback("--grad-checkpointing", [sets] { sets->push_back("train.grad_checkpointing=true"); },
                         "Recompute layers in backward to save memory [config: train.grad_checkpointing]");
  sub->footer(
      "Examples:\n"
      "  loratune finetune --model base --data prepared --out runs/legal --steps 200 --eval-every 50\n"
      "  loratune finetune --config configs/demo.json --out runs/demo --dry-run\n"
      "  loratune finetune --out runs/legal --resume          # after Ctrl-C / SIGTERM (exit 130)\n"
      "Run directory: config.resolved.json, metrics.jsonl, checkpoints/ (step-N/, best/), adapter/ (PEFT),\n"
      "summary.json. Interrupted runs save a checkpoint and exit 130; a second signal aborts at once.");
  sub->callback([&g, &action, a] { action = [&g, a] { return run(g, *a); }; });
}

}  // namespace loratune::cli
