// The eval report: the JSON that --json prints and --out writes, the per-sample outputs JSONL, and the
// summary table. Internal to the eval layer.
#pragma once
#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "eval/eval_plan.h"
#include "eval/generation_eval.h"
#include "train/loss_eval.h"

namespace loratune::eval {

// One evaluated model.
struct ModelResult {
  std::string label;      // "tuned" | "base" | "model"
  nlohmann::json info;    // path, adapter, device, dtype
  std::optional<train::LossEvalResult> loss;
  std::optional<GenerationEvalResult> gen;
  std::string template_name, template_source;
  std::map<std::string, std::string> template_vars;  // the model's template: name -> JSON value text
  int64_t split_rows = 0;
  std::vector<std::string> source_paths;
};

// model, data, prompts, metrics, sources, speed (+ base and delta with a comparison); gates are added later.
nlohmann::json build_report(const EvalRequest& req, const EvalPlan& plan, const ModelResult& main,
                            const std::optional<ModelResult>& base);
// Metric values as gates see them: the model's own, and base.* / delta.* with a comparison.
std::map<std::string, double> gate_values(const nlohmann::json& report);
nlohmann::json gates_json(const std::vector<GateResult>& results);
// One line per sample: input, reference, output and scores (and the base model's under "base").
std::string outputs_jsonl(const EvalPlan& plan, const ModelResult& main, const std::optional<ModelResult>& base);

}  // namespace loratune::eval
