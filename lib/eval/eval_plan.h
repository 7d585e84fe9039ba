// What one `loratune eval` invocation measures, decided (and checked) before any model is loaded.
// Internal to the eval layer.
#pragma once
#include <string>
#include <vector>

#include "eval/evaluator.h"
#include "eval/gates.h"
#include "eval/generation_eval.h"

namespace loratune::eval {

struct EvalPlan {
  bool loss = false, generate = false, compare = false;
  std::string base_path;  // the model --compare-base evaluates
  std::vector<Gate> gates;
  std::vector<GenerationSample> samples;
  std::string outputs_path;  // "" = not written
};

// The metrics loss evaluation measures, and those of generation.
const std::vector<std::string>& loss_metric_names();
const std::vector<std::string>& text_metric_names();
bool has_delta(const std::string& metric);  // every metric but "tokens"

// Checks, in this order: gates (syntax, then metrics this plan measures), something to measure, the model,
// a base for --compare-base, the output paths, the split's rows, the prompts file (every line).
EvalPlan make_plan(const EvalRequest& req);

// An empty split is refused before a model is loaded (with a hint on how to get rows).
void check_split_rows(const EvalOptions& e);

}  // namespace loratune::eval
