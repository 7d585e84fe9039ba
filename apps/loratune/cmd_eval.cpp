// `loratune eval`: measure a model (base + adapter, or a run's best adapter) on a prepared split and/or
// prompts with references, optionally against its base; gates make CI fail with exit 3.
#include <unistd.h>

#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.h"
#include "options.h"
#include "core/error.h"
#include "eval/evaluator.h"

namespace loratune::cli {
namespace {
struct EvalArgs {
  std::string run_dir, out;
  bool compare_base = false, force = false;
};

std::string progress_line(const eval::EvalProgress& p) {
  std::ostringstream o;
  const double rate = p.seconds > 0 ? static_cast<double>(p.tokens) / p.seconds : 0.0;
  o << p.model << " " << p.phase << " " << p.done << "/" << p.total << (p.phase == "loss" ? " rows  " : " samples  ")
    << std::fixed << std::setprecision(0) << rate << " tok/s";
  if (p.done > 0 && p.done < p.total)
    o << "  ETA " << p.seconds * static_cast<double>(p.total - p.done) / static_cast<double>(p.done) << " s";
  return o.str();
}

int run(const GlobalOptions& g, const EvalArgs& a) {
  std::string run_base;
  Config cfg = resolve_config(g, a.run_dir.empty() ? Config{} : eval_config_from_run(a.run_dir, &run_base));
  if (maybe_print_config(g, cfg)) return 0;
  eval::EvalRequest req;
  req.model = model_spec(cfg);
  req.eval = eval_options(cfg.eval);
  req.template_name = cfg.data.template_name;
  req.template_vars = cfg.data.template_vars;
  req.sampling = sampling_options(cfg);
  req.run_dir = a.run_dir;
  req.compare_base = a.compare_base;
  if (a.compare_base) req.base_model = base_model_of(cfg, run_base);
  req.out_path = a.out;
  req.force = a.force;
  eval::EvalCallbacks cb;
  const bool tty = isatty(STDERR_FILENO) && !g.json;
  if (tty)
    cb.on_progress = [last = -1.0](const eval::EvalProgress& p) mutable {
      const bool end = p.done == p.total;
      if (!end && last >= 0 && p.seconds >= last && p.seconds - last < 0.2) return;  // at most 5 updates a second
      last = end ? -1.0 : p.seconds;
      std::cerr << "\r\033[K" << progress_line(p) << (end ? "\n" : "") << std::flush;
    };
  const eval::EvalOutcome out = eval::run_eval(req, cb);
  if (g.json)
    std::cout << out.report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  else
    std::cout << out.table << std::flush;
  for (const auto& r : out.gates)
    if (!r.passed) std::cerr << "gate failed: " << r.gate.text << ": " << eval::describe_gate_result(r) << "\n";
  return static_cast<int>(out.passed() ? ExitCode::Ok : ExitCode::GateFailed);
}
}  // namespace

void register_eval(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* sub = app.add_subcommand("eval", "Measure a model or adapter (loss, perplexity, generation metrics); gate CI");
  sub->fallthrough();
  auto a = std::make_shared<EvalArgs>();
  add_config_flag(*sub, g, "--model,-m", "model.path", "Model: a Hugging Face directory or a GGUF file (the base when --adapter is given)");
  add_config_flag(*sub, g, "--adapter", "model.adapter", "PEFT LoRA adapter directory to apply");
  sub->add_option("--run", a->run_dir, "A finetune run: its base model, best adapter and dataset")
      ->check(CLI::ExistingDirectory);
  add_config_flag(*sub, g, "--data,-d", "eval.data", "Prepared dataset directory (loss, perplexity, accuracy)");
  add_config_flag(*sub, g, "--split", "eval.split", "Split of --data: val | train");
  add_config_flag(*sub, g, "--batch-size", "eval.batch_size", "Rows per forward pass");
  add_config_flag(*sub, g, "--max-batches", "eval.max_batches", "Evaluate only the first N batches (0 = all)");
  add_config_flag(*sub, g, "--prompts", "eval.prompts", "JSONL of {\"prompt\"|\"messages\", \"reference\"}");
  add_config_flag(*sub, g, "--max-samples", "eval.max_samples", "Evaluate only the first N prompts (0 = all)");
  add_config_flag(*sub, g, "--prompt-batch-size", "eval.prompt_batch_size",
                  "Prompts generated together (1 = one at a time; same greedy outputs)");
  add_config_flag(*sub, g, "--template", "data.template", "Chat template for --prompts (default: as prepare)");
  add_template_var_flag(*sub, g);
  add_config_flag(*sub, g, "--max-new-tokens,-n", "generate.max_new_tokens", "Maximum tokens per answer");
  add_config_flag(*sub, g, "--temperature,-t", "generate.temperature", "Sampling temperature (0 = greedy)");
  auto* sets = &g.flag_sets;
  sub->add_option_function<std::vector<std::string>>(
         "--stop", [sets](const std::vector<std::string>& v) { sets->push_back("generate.stop=" + nlohmann::json(v).dump()); },
         "Stop string (repeatable) [config: generate.stop]")
      ->type_name("STR");
  sub->add_option_function<std::vector<std::string>>(
         "--gate", [sets](const std::vector<std::string>& v) { sets->push_back("eval.gates=" + nlohmann::json(v).dump()); },
         "METRIC OP BOUND, e.g. 'ppl<=12.5' (repeatable; exit 3 when one fails) [config: eval.gates]")
      ->type_name("GATE");
  sub->add_flag("--compare-base", a->compare_base, "Also evaluate the base model without the adapter; report deltas");
  sub->add_option("--out,-o", a->out, "Write the report JSON here (and <name>.outputs.jsonl beside it)");
  sub->add_flag("--force", a->force, "Replace an existing --out report");
  sub->footer(
      "Examples:\n"
      "  loratune eval --run runs/legal --compare-base                  # the run's val split, tuned vs base\n"
      "  loratune eval -m base --adapter runs/legal/adapter --data prepared --split val\n"
      "  loratune eval --run runs/legal --prompts qa.jsonl --out eval/report.json\n"
      "  loratune eval --run runs/legal --compare-base --gate 'ppl<=12.5' --gate 'delta.loss<=-0.1' --json\n"
      "Metrics (gate names): loss ppl accuracy tokens exact_match contains token_f1 rougeL, base.<m>, delta.<m>\n"
      "(delta = tuned - base). A failing gate prints metric, value and bound and exits 3; a malformed gate exits 2.");
  sub->callback([&g, &action, a] { action = [&g, a] { return run(g, *a); }; });
}

}  // namespace loratune::cli
