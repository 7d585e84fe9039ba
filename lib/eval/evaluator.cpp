#include "eval/evaluator.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "core/enum_table.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "data/prepare.h"
#include "data/prepared.h"
#include "eval/eval_plan.h"
#include "eval/eval_report.h"
#include "eval/generation_eval.h"
#include "lora/inference.h"
#include "model/device.h"
#include "model/generate.h"
#include "train/loss_eval.h"

namespace loratune::eval {
namespace {
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

data::PreparedSplit open_split(const EvalOptions& e, const Tokenizer& tok, const ModelHParams& hp,
                               data::Manifest* manifest) {
  data::PreparedDataset ds = data::open_prepared(e.data, tok.fingerprint());
  if (ds.manifest.vocab_size > hp.vocab_size)
    fail_input(e.data + ": prepared for a vocabulary of " + std::to_string(ds.manifest.vocab_size) +
                   " tokens but the model has " + std::to_string(hp.vocab_size),
               "re-run prepare with this model ({opt:model} DIR)");
  *manifest = ds.manifest;
  auto& split = e.split == Split::Train ? ds.train : ds.val;
  if (!split || split->rows() == 0) check_split_rows(e);  // the manifest counts none: refused there
  LT_CHECK(split && split->rows() > 0, "open_split: a split with rows in the manifest did not open");
  return *split;
}

// Evaluates one model (loads it, measures, frees it).
ModelResult evaluate_model(const EvalRequest& req, const ModelSpec& spec, const EvalPlan& plan,
                           const std::string& label, const EvalCallbacks& cb) {
  ModelResult r;
  r.label = label;
  InferenceModel im = load_inference_model(spec);
  r.info = {{"path", spec.path},
            {"adapter", spec.adapter.empty() ? json(nullptr) : json(spec.adapter)},
            {"device", im.lm.device.str()},
            {"dtype", dtype_label(im.lm.dtype)}};
  auto progress = [&](const char* phase, Clock::time_point t0) {
    return [&cb, &label, phase, t0](int64_t done, int64_t total, int64_t tokens) {
      if (!cb.on_progress) return;
      cb.on_progress({label, phase, done, total, tokens,
                      std::chrono::duration<double>(Clock::now() - t0).count()});
    };
  };
  std::string manifest_template;
  std::map<std::string, std::string> manifest_vars;
  if (plan.loss) {
    data::Manifest manifest;
    const data::PreparedSplit split = open_split(req.eval, im.tok, im.lm.hp, &manifest);
    manifest_template = manifest.template_name;
    manifest_vars = data::manifest_template_vars(manifest, join_path(req.eval.data, "manifest.json"));
    r.split_rows = split.rows();
    if (split.has_sources())
      r.source_paths = data::manifest_source_paths(manifest, join_path(req.eval.data, "manifest.json"));
    train::LossEvalOptions lo;
    lo.batch_size = req.eval.batch_size;
    lo.max_batches = req.eval.max_batches;
    lo.on_progress = progress("loss", Clock::now());
    r.loss = train::evaluate_loss(im.lm.model, split, lo);
  }
  if (plan.generate) {
    if (!req.template_name.empty() || manifest_template.empty()) {
      const auto choice = data::choose_template(req.template_name, im.tok);
      r.template_name = choice.name;
      r.template_source = choice.source;
    } else {
      r.template_name = manifest_template;
      r.template_source = "the prepared dataset's manifest.json";
    }
    GenerationEvalOptions go;
    go.template_name = r.template_name;
    go.template_vars = req.template_vars.empty() && req.template_name.empty() ? manifest_vars : req.template_vars;
    r.template_vars = go.template_vars;
    go.sampling = with_model_eos(req.sampling, im.tok, im.lm.hp);
    go.batch_size = req.eval.prompt_batch_size;
    go.on_progress = progress("generate", Clock::now());
    r.gen = evaluate_generation(im.lm.model, im.tok, plan.samples, go);
  }
  return r;
}

}  // namespace

bool EvalOutcome::passed() const {
  return std::all_of(gates.begin(), gates.end(), [](const GateResult& g) { return g.passed; });
}

namespace {
constexpr EnumTable<Split, 2> kSplits{{{Split::Val, "val"}, {Split::Train, "train"}}};
}  // namespace

const char* split_name(Split s) { return enum_name(kSplits, s); }
std::optional<Split> parse_split(const std::string& name) { return enum_parse(kSplits, name); }
std::vector<std::string> split_names() { return enum_names(kSplits); }

std::vector<std::string> metric_names() {
  std::vector<std::string> own = loss_metric_names();
  own.insert(own.end(), text_metric_names().begin(), text_metric_names().end());
  std::vector<std::string> out = own;
  for (const auto& m : own) out.push_back("base." + m);
  for (const auto& m : own)
    if (has_delta(m)) out.push_back("delta." + m);
  return out;
}

std::string outputs_path_for(const std::string& report_path) {
  const std::string stem = ends_with(report_path, ".json") ? report_path.substr(0, report_path.size() - 5) : report_path;
  return stem + ".outputs.jsonl";
}

EvalOutcome run_eval(const EvalRequest& req, const EvalCallbacks& cb) {
  const EvalPlan plan = make_plan(req);
  const bool tuned = !req.model.adapter.empty() || !req.run_dir.empty() || plan.compare;
  const ModelResult main = evaluate_model(req, req.model, plan, tuned ? "tuned" : "model", cb);
  std::optional<ModelResult> base;
  if (plan.compare) {
    ModelSpec b = req.model;
    b.path = plan.base_path;
    b.adapter.clear();
    base = evaluate_model(req, b, plan, "base", cb);
  }
  EvalOutcome out;
  out.report = build_report(req, plan, main, base);
  out.gates = evaluate_gates(plan.gates, gate_values(out.report));
  out.report["gates"] = gates_json(out.gates);
  out.report["passed"] = out.passed();
  out.table = render_eval_table(out.report);
  if (!plan.outputs_path.empty()) write_file_atomic(plan.outputs_path, outputs_jsonl(plan, main, base));
  if (!req.out_path.empty())
    write_file_atomic(req.out_path, out.report.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
  return out;
}

}  // namespace loratune::eval
