#include "eval/eval_plan.h"

#include <map>

#include "core/error.h"
#include "core/fs.h"
#include "data/prepared.h"

namespace loratune::eval {
namespace {

void check_output_path(const std::string& path, bool force) {
  if (path_exists(path) && !force)
    fail_input(path + ": already exists", "pass {opt:force} to replace it, or choose another {opt:out}");
  const std::string parent = parent_dir(path);
  if (!parent.empty() && !is_directory(parent))
    fail_input(parent + ": directory not found (for {opt:out} " + path + ")", "create it first, or choose another {opt:out}");
}

std::vector<std::string> measured_metrics(const EvalPlan& p) {
  std::vector<std::string> own;
  if (p.loss) own.insert(own.end(), loss_metric_names().begin(), loss_metric_names().end());
  if (p.generate) own.insert(own.end(), text_metric_names().begin(), text_metric_names().end());
  std::vector<std::string> out = own;
  if (p.compare)
    for (const auto& m : own) {
      out.push_back("base." + m);
      if (has_delta(m)) out.push_back("delta." + m);
    }
  return out;
}
}  // namespace

const std::vector<std::string>& loss_metric_names() {
  static const std::vector<std::string> names = {"loss", "ppl", "accuracy", "tokens"};
  return names;
}
const std::vector<std::string>& text_metric_names() {
  static const std::vector<std::string> names = {"exact_match", "contains", "token_f1", "rougeL"};
  return names;
}
bool has_delta(const std::string& m) { return m != "tokens"; }

void check_split_rows(const EvalOptions& e) {
  const data::Manifest m = data::read_manifest(e.data);
  if ((e.split == Split::Train ? m.train_rows : m.val_rows) > 0) return;
  fail_input(e.data + ": the " + split_name(e.split) + " split is empty, nothing to evaluate",
             e.split == Split::Val ? "evaluate {opt:split} train, or prepare with {opt:val_fraction} / {opt:val} FILE"
                                   : "prepare more data");
}

EvalPlan make_plan(const EvalRequest& req) {
  const EvalOptions& e = req.eval;
  EvalPlan p;
  for (const auto& g : e.gates) p.gates.push_back(parse_gate(g));
  p.loss = !e.data.empty();
  p.generate = !e.prompts.empty();
  p.compare = req.compare_base;
  if (!p.loss && !p.generate)
    fail_input("eval needs something to measure",
               "pass {opt:data} PREPARED_DIR (loss, perplexity, accuracy) and/or {opt:prompts} FILE.jsonl (generation "
               "metrics), or {opt:run} RUN_DIR to use the run's dataset");
  const std::map<std::string, std::string> how = {
      {"loss", "pass {opt:data} PREPARED_DIR"},         {"ppl", "pass {opt:data} PREPARED_DIR"},
      {"accuracy", "pass {opt:data} PREPARED_DIR"},     {"tokens", "pass {opt:data} PREPARED_DIR"},
      {"exact_match", "pass {opt:prompts} FILE.jsonl"}, {"contains", "pass {opt:prompts} FILE.jsonl"},
      {"token_f1", "pass {opt:prompts} FILE.jsonl"},    {"rougeL", "pass {opt:prompts} FILE.jsonl"},
      {"base", "pass {opt:compare_base} (and what measures the metric)"},
      {"delta", "pass {opt:compare_base} (and what measures the metric)"}};
  check_gate_metrics(p.gates, metric_names(), measured_metrics(p), how);
  if (req.model.path.empty()) fail_input("eval needs a model", "pass {opt:model} DIR (with {opt:adapter} DIR) or {opt:run} RUN_DIR");
  if (p.compare) {
    if (req.base_model.empty())
      fail_input("{opt:compare_base} needs a tuned model to compare with its base",
                 "pass {opt:adapter} DIR (with {opt:model} BASE) or {opt:run} RUN_DIR");
    p.base_path = req.base_model;
  }
  if (!req.out_path.empty()) {
    check_output_path(req.out_path, req.force);
    if (p.generate) {
      p.outputs_path = outputs_path_for(req.out_path);
      check_output_path(p.outputs_path, req.force);
    }
  }
  if (p.loss) check_split_rows(e);
  if (p.generate) p.samples = read_generation_samples(e.prompts, e.max_samples);
  return p;
}

}  // namespace loratune::eval
