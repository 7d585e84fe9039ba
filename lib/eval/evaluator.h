// `loratune eval`: measures a model (base + adapter, or a finetune run's best adapter) on a prepared
// split (loss, perplexity, next-token accuracy, per source) and/or on prompts with references
// (exact match, contains, token F1, ROUGE-L); optionally the base model too, with deltas; checks gates.
// Torch-free header.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "eval/gates.h"
#include "model/model_spec.h"
#include "model/sampling.h"

namespace loratune::eval {

enum class Split { Val, Train };
const char* split_name(Split s);                               // "val", "train"
std::optional<Split> parse_split(const std::string& name);     // nullopt for another name
std::vector<std::string> split_names();

// What eval measures and how (the app converts its [eval] config section into these once).
struct EvalOptions {
  std::string data;            // prepared dataset directory; "" = no loss evaluation
  Split split = Split::Val;
  int64_t batch_size = 8;      // rows per forward pass (>= 1)
  int64_t max_batches = 0;     // 0 = the whole split
  std::string prompts;         // JSONL of {"prompt"|"messages", "reference"}; "" = no generation eval
  int64_t max_samples = 0;     // generation samples evaluated; 0 = all
  int64_t prompt_batch_size = 16;  // prompts generated together (>= 1; 1 = one at a time)
  std::vector<std::string> gates;  // "metric<=bound", ... (parse_gate)
};

struct EvalRequest {
  ModelSpec model;            // the model (+ adapter) measured
  EvalOptions eval;
  std::string template_name;  // chat template for the prompts; "" = the dataset's, else as prepare chooses
  std::map<std::string, std::string> template_vars;  // the model's template; empty = the dataset's
  SamplingOptions sampling;   // decoding for the prompts (EOS ids are added from the model)
  std::string run_dir;        // the finetune run the model came from (--run), else ""
  bool compare_base = false;  // also evaluate the base model (without the adapter) and report deltas
  std::string base_model;     // the base --compare-base evaluates; "" = the model has none (an input error then)
  std::string out_path;       // report JSON written atomically ("" = none); outputs JSONL beside it
  bool force = false;         // replace an existing report / outputs file
};

struct EvalProgress {
  std::string model;  // "tuned", "base" or "model" (no adapter, no comparison)
  std::string phase;  // "loss" (done/total in rows) or "generate" (in samples)
  int64_t done = 0, total = 0;
  int64_t tokens = 0;  // input tokens (loss) or generated tokens (generate) so far
  double seconds = 0;  // since the phase began
};

struct EvalCallbacks {
  std::function<void(const EvalProgress&)> on_progress;
};

struct EvalOutcome {
  nlohmann::json report;          // what --json prints and --out writes
  std::string table;              // the human-readable summary
  std::vector<GateResult> gates;  // in the order given
  bool passed() const;            // every gate passed (true without gates)
};

// Every metric name a gate may use: loss, ppl, accuracy, tokens, exact_match, contains, token_f1, rougeL,
// each also as "base.<name>", and "delta.<name>" (= model - base) for all but tokens.
std::vector<std::string> metric_names();

// Where the per-sample outputs go: "<report without .json>.outputs.jsonl" beside the report.
std::string outputs_path_for(const std::string& report_path);

// Runs the evaluation. Checks everything it can before loading a model: gates (malformed: input error;
// unknown or unmeasured metric: input error with a suggestion), inputs (eval.data and/or eval.prompts),
// the prompts file (every line), --compare-base having a base, and existing outputs (--force).
// Writes nothing but out_path and its outputs JSONL, both atomically. Failing gates do not throw: the
// caller reads outcome.passed() (the CLI exits 3).
EvalOutcome run_eval(const EvalRequest& req, const EvalCallbacks& cb = {});

// The summary table of a report (metrics with base and delta columns, per-source rows, gates).
std::string render_eval_table(const nlohmann::json& report);

}  // namespace loratune::eval
