#include "eval/evaluator.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/strings.h"
#include "data/prepare.h"
#include "data/prepared.h"
#include "eval/generation_eval.h"
#include "eval/loss_eval.h"
#include "lora/inference.h"
#include "model/device.h"
#include "train/trainer.h"

namespace loratune::eval {
namespace {
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::vector<std::string> kLossMetrics = {"loss", "ppl", "accuracy", "tokens"};
const std::vector<std::string> kTextMetrics = {"exact_match", "contains", "token_f1", "rougeL"};

// What this invocation measures, decided before any model is loaded.
struct Plan {
  bool loss = false, generate = false, compare = false;
  std::string base_path;  // the model --compare-base evaluates
  std::vector<Gate> gates;
  std::vector<GenerationSample> samples;
  std::string outputs_path;  // "" = not written
};

// One evaluated model.
struct ModelResult {
  std::string label;  // "tuned" | "base" | "model"
  json info;          // path, adapter, device, dtype
  std::optional<LossEvalResult> loss;
  std::optional<GenerationEvalResult> gen;
  std::string template_name, template_source;
  int64_t split_rows = 0;
  std::vector<std::string> source_paths;
};

bool has_delta(const std::string& m) { return m != "tokens"; }

std::string base_model_of(const EvalRequest& req) {
  const Config& cfg = req.cfg;
  if (!cfg.model.adapter.empty()) return cfg.model.path;
  if (!req.run_dir.empty()) {
    Config run;
    apply_config_file(run, join_path(req.run_dir, "config.resolved.json"));
    if (!run.model.path.empty() && run.model.path != cfg.model.path) return run.model.path;
  }
  fail_input("--compare-base needs a tuned model to compare with its base",
             "pass --adapter DIR (with --model BASE) or --run RUN_DIR");
}

void check_output_path(const std::string& path, bool force) {
  if (path_exists(path) && !force)
    fail_input(path + ": already exists", "pass --force to replace it, or choose another --out");
  const std::string parent = parent_dir(path);
  if (!parent.empty() && !is_directory(parent))
    fail_input(parent + ": directory not found (for --out " + path + ")", "create it first, or choose another --out");
}

std::vector<std::string> measured_metrics(const Plan& p) {
  std::vector<std::string> own;
  if (p.loss) own.insert(own.end(), kLossMetrics.begin(), kLossMetrics.end());
  if (p.generate) own.insert(own.end(), kTextMetrics.begin(), kTextMetrics.end());
  std::vector<std::string> out = own;
  if (p.compare)
    for (const auto& m : own) {
      out.push_back("base." + m);
      if (has_delta(m)) out.push_back("delta." + m);
    }
  return out;
}

// An empty split is refused before a model is loaded (open_split checks the files themselves later).
void check_split_rows(const EvalConfig& e) {
  const data::Manifest m = data::read_manifest(e.data);
  if ((e.split == "train" ? m.train_rows : m.val_rows) > 0) return;
  fail_input(e.data + ": the " + e.split + " split is empty, nothing to evaluate",
             e.split == "val" ? "evaluate --split train, or prepare with --val-fraction / --val FILE"
                              : "prepare more data");
}

Plan make_plan(const EvalRequest& req) {
  const Config& cfg = req.cfg;
  Plan p;
  for (const auto& g : cfg.eval.gates) p.gates.push_back(parse_gate(g));
  p.loss = !cfg.eval.data.empty();
  p.generate = !cfg.eval.prompts.empty();
  p.compare = req.compare_base;
  if (!p.loss && !p.generate)
    fail_input("eval needs something to measure",
               "pass --data PREPARED_DIR (loss, perplexity, accuracy) and/or --prompts FILE.jsonl (generation "
               "metrics), or --run RUN_DIR to use the run's dataset");
  const std::map<std::string, std::string> how = {
      {"loss", "pass --data PREPARED_DIR"},         {"ppl", "pass --data PREPARED_DIR"},
      {"accuracy", "pass --data PREPARED_DIR"},     {"tokens", "pass --data PREPARED_DIR"},
      {"exact_match", "pass --prompts FILE.jsonl"}, {"contains", "pass --prompts FILE.jsonl"},
      {"token_f1", "pass --prompts FILE.jsonl"},    {"rougeL", "pass --prompts FILE.jsonl"},
      {"base", "pass --compare-base (and what measures the metric)"},
      {"delta", "pass --compare-base (and what measures the metric)"}};
  check_gate_metrics(p.gates, metric_names(), measured_metrics(p), how);
  if (cfg.model.path.empty()) fail_input("eval needs a model", "pass --model DIR (with --adapter DIR) or --run RUN_DIR");
  if (p.compare) p.base_path = base_model_of(req);
  if (!req.out_path.empty()) {
    check_output_path(req.out_path, req.force);
    if (p.generate) {
      p.outputs_path = outputs_path_for(req.out_path);
      check_output_path(p.outputs_path, req.force);
    }
  }
  if (p.loss) check_split_rows(cfg.eval);
  if (p.generate) p.samples = read_generation_samples(cfg.eval.prompts, cfg.eval.max_samples);
  return p;
}

data::PreparedSplit open_split(const Config& cfg, const Tokenizer& tok, const ModelHParams& hp,
                               data::Manifest* manifest) {
  data::PreparedDataset ds = data::open_prepared(cfg.eval.data, tok.fingerprint());
  if (ds.manifest.vocab_size > hp.vocab_size)
    fail_input(cfg.eval.data + ": prepared for a vocabulary of " + std::to_string(ds.manifest.vocab_size) +
                   " tokens but the model has " + std::to_string(hp.vocab_size),
               "re-run prepare with this model (--model DIR)");
  *manifest = ds.manifest;
  auto& split = cfg.eval.split == "train" ? ds.train : ds.val;
  if (!split || split->rows() == 0) check_split_rows(cfg.eval);  // the manifest counts none: refused there
  LT_CHECK(split && split->rows() > 0, "open_split: a split with rows in the manifest did not open");
  return *split;
}

// Evaluates one model configuration (loads it, measures, frees it).
ModelResult evaluate_model(const Config& cfg, const Plan& plan, const std::string& label, const EvalCallbacks& cb) {
  ModelResult r;
  r.label = label;
  InferenceModel im = load_inference_model(cfg);
  r.info = {{"path", cfg.model.path},
            {"adapter", cfg.model.adapter.empty() ? json(nullptr) : json(cfg.model.adapter)},
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
  if (plan.loss) {
    data::Manifest manifest;
    const data::PreparedSplit split = open_split(cfg, im.tok, im.lm.hp, &manifest);
    manifest_template = manifest.template_name;
    r.split_rows = split.rows();
    if (split.has_sources())
      r.source_paths = data::manifest_source_paths(manifest, join_path(cfg.eval.data, "manifest.json"));
    LossEvalOptions lo;
    lo.batch_size = cfg.eval.batch_size;
    lo.max_batches = cfg.eval.max_batches;
    lo.on_progress = progress("loss", Clock::now());
    r.loss = evaluate_loss(im.lm.model, split, lo);
  }
  if (plan.generate) {
    if (!cfg.data.template_name.empty() || manifest_template.empty()) {
      const auto choice = data::choose_template(cfg.data.template_name, im.tok);
      r.template_name = choice.name;
      r.template_source = choice.source;
    } else {
      r.template_name = manifest_template;
      r.template_source = "the prepared dataset's manifest.json";
    }
    GenerationEvalOptions go;
    go.template_name = r.template_name;
    go.sampling = sampling_options(cfg, im.tok, im.lm.hp);
    go.on_progress = progress("generate", Clock::now());
    r.gen = evaluate_generation(im.lm.model, im.tok, plan.samples, go);
  }
  return r;
}

// ---- report ----

json metrics_json(const ModelResult& r) {
  json m = json::object();
  if (r.loss) {
    m["loss"] = r.loss->total.loss();
    m["ppl"] = r.loss->total.perplexity();
    m["accuracy"] = r.loss->total.accuracy();
    m["tokens"] = r.loss->total.targets;
  }
  if (r.gen) {
    m["exact_match"] = r.gen->mean.exact_match;
    m["contains"] = r.gen->mean.contains;
    m["token_f1"] = r.gen->mean.token_f1;
    m["rougeL"] = r.gen->mean.rouge_l;
  }
  return m;
}

// The per-source breakdown, when the split records sources and the dataset has several.
json sources_json(const ModelResult& r) {
  json out = json::array();
  if (!r.loss || r.source_paths.size() < 2) return out;
  for (const auto& [i, t] : r.loss->by_source) {
    const std::string path = i < r.source_paths.size() ? r.source_paths[i] : "source #" + std::to_string(i);
    out.push_back({{"source", path}, {"loss", t.loss()}, {"ppl", t.perplexity()}, {"accuracy", t.accuracy()},
                   {"tokens", t.targets}});
  }
  return out;
}

json speed_json(const ModelResult& r) {
  json s = json::object();
  if (r.loss) {
    s["loss_seconds"] = r.loss->seconds;
    s["input_tokens"] = r.loss->tokens;
    s["loss_tokens_per_s"] = r.loss->seconds > 0 ? r.loss->tokens / r.loss->seconds : 0.0;
  }
  if (r.gen) {
    s["generation_seconds"] = r.gen->seconds;
    s["generated_tokens"] = r.gen->generated_tokens;
    s["generated_tokens_per_s"] = r.gen->seconds > 0 ? r.gen->generated_tokens / r.gen->seconds : 0.0;
  }
  return s;
}

// Metric values as gates see them: the model's own, and base.* / delta.* with a comparison.
std::map<std::string, double> gate_values(const json& report) {
  std::map<std::string, double> v;
  auto add = [&v](const json& metrics, const std::string& prefix) {
    for (auto it = metrics.begin(); it != metrics.end(); ++it)
      v[prefix + it.key()] = it->is_number() ? it->get<double>() : NAN;  // NaN serialises as null
  };
  add(report["metrics"], "");
  if (report.contains("base")) add(report["base"]["metrics"], "base.");
  if (report.contains("delta")) add(report["delta"], "delta.");
  return v;
}

json gates_json(const std::vector<GateResult>& results) {
  json out = json::array();
  for (const auto& g : results)
    out.push_back({{"gate", g.gate.text}, {"metric", g.gate.metric}, {"op", gate_op_text(g.gate.op)},
                   {"bound", g.gate.bound}, {"value", std::isnan(g.value) ? json(nullptr) : json(g.value)},
                   {"passed", g.passed}});
  return out;
}

json build_report(const EvalRequest& req, const Plan& plan, const ModelResult& main,
                  const std::optional<ModelResult>& base) {
  const Config& cfg = req.cfg;
  json r;
  r["model"] = main.info;
  if (!req.run_dir.empty()) r["model"]["run"] = req.run_dir;
  if (plan.loss)
    r["data"] = {{"dir", cfg.eval.data},
                 {"split", cfg.eval.split},
                 {"rows", main.split_rows},
                 {"rows_evaluated", main.loss->rows}};
  if (plan.generate)
    r["prompts"] = {{"file", cfg.eval.prompts},
                    {"samples", plan.samples.size()},
                    {"template", main.template_name},
                    {"template_source", main.template_source},
                    {"outputs", plan.outputs_path.empty() ? json(nullptr) : json(plan.outputs_path)},
                    {"decoding", json::parse(config_to_json(cfg))["generate"]}};
  r["metrics"] = metrics_json(main);
  r["sources"] = sources_json(main);
  r["speed"] = speed_json(main);
  if (base) {
    r["base"] = {{"model", base->info}, {"metrics", metrics_json(*base)}, {"sources", sources_json(*base)},
                 {"speed", speed_json(*base)}};
    json delta = json::object();
    for (auto it = r["metrics"].begin(); it != r["metrics"].end(); ++it) {
      const json& b = r["base"]["metrics"][it.key()];
      if (!has_delta(it.key())) continue;
      delta[it.key()] = it->is_number() && b.is_number() ? json(it->get<double>() - b.get<double>()) : json(nullptr);
    }
    r["delta"] = delta;
  }
  return r;
}

std::string outputs_jsonl(const Plan& plan, const ModelResult& main, const std::optional<ModelResult>& base) {
  auto scored = [](const GenerationOutput& o) {
    return json{{"output", o.output},
                {"finish_reason", o.finish_reason},
                {"prompt_tokens", o.prompt_tokens},
                {"generated_tokens", o.generated_tokens},
                {"exact_match", o.scores.exact_match},
                {"contains", o.scores.contains},
                {"token_f1", o.scores.token_f1},
                {"rougeL", o.scores.rouge_l}};
  };
  std::string out;
  for (size_t i = 0; i < plan.samples.size(); ++i) {
    const GenerationSample& s = plan.samples[i];
    json line = {{"line", s.record.line}};
    if (!s.id.is_null()) line["id"] = s.id;
    line.update(s.input);
    line["reference"] = s.reference;
    line.update(scored(main.gen->outputs[i]));
    if (base) line["base"] = scored(base->gen->outputs[i]);
    out += line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";  // outputs may hold cut UTF-8
  }
  return out;
}

// ---- table ----

std::string fmt(const json& v, const std::string& metric) {
  if (!v.is_number()) return "-";
  std::ostringstream o;
  if (metric == "tokens" || v.is_number_integer()) {
    o << v.get<int64_t>();
  } else {
    const double x = v.get<double>();
    o << std::fixed << std::setprecision(metric == "ppl" && std::fabs(x) >= 100 ? 2 : 4) << x;
  }
  return o.str();
}

std::string fmt_delta(const json& v) {
  if (!v.is_number()) return "-";
  std::ostringstream o;
  o << std::showpos << std::fixed << std::setprecision(4) << v.get<double>();
  return o.str();
}

void metrics_table(std::ostringstream& o, const json& r) {
  const bool base = r.contains("base");
  o << "\n" << std::left << std::setw(14) << "metric" << std::right << std::setw(14) << (base ? "tuned" : "value");
  if (base) o << std::setw(14) << "base" << std::setw(14) << "delta";
  o << "\n";
  for (const auto& m : {"loss", "ppl", "accuracy", "tokens", "exact_match", "contains", "token_f1", "rougeL"}) {
    if (!r["metrics"].contains(m)) continue;
    o << std::left << std::setw(14) << m << std::right << std::setw(14) << fmt(r["metrics"][m], m);
    if (base) {
      o << std::setw(14) << fmt(r["base"]["metrics"][m], m);
      if (r["delta"].contains(m)) o << std::setw(14) << fmt_delta(r["delta"][m]);
    }
    o << "\n";
  }
}

void sources_table(std::ostringstream& o, const json& sources) {
  if (sources.empty()) return;
  o << "\n" << std::left << std::setw(50) << "per source" << std::right << std::setw(10) << "loss" << std::setw(10)
    << "ppl" << std::setw(10) << "accuracy" << std::setw(10) << "tokens" << "\n";
  for (const auto& s : sources) {
    std::string name = s["source"].get<std::string>();
    if (name.size() > 48) name = "..." + name.substr(name.size() - 45);
    o << "  " << std::left << std::setw(48) << name << std::right << std::setw(10) << fmt(s["loss"], "loss")
      << std::setw(10) << fmt(s["ppl"], "ppl") << std::setw(10) << fmt(s["accuracy"], "accuracy") << std::setw(10)
      << fmt(s["tokens"], "tokens") << "\n";
  }
}

}  // namespace

bool EvalOutcome::passed() const {
  return std::all_of(gates.begin(), gates.end(), [](const GateResult& g) { return g.passed; });
}

std::vector<std::string> metric_names() {
  std::vector<std::string> own = kLossMetrics;
  own.insert(own.end(), kTextMetrics.begin(), kTextMetrics.end());
  std::vector<std::string> out = own;
  for (const auto& m : own) out.push_back("base." + m);
  for (const auto& m : own)
    if (has_delta(m)) out.push_back("delta." + m);
  return out;
}

Config eval_config_from_run(const std::string& run_dir) {
  Config cfg = train::config_from_run(run_dir);
  if (cfg.eval.data.empty()) cfg.eval.data = cfg.train.data;
  return cfg;
}

std::string outputs_path_for(const std::string& report_path) {
  const std::string stem = ends_with(report_path, ".json") ? report_path.substr(0, report_path.size() - 5) : report_path;
  return stem + ".outputs.jsonl";
}

EvalOutcome run_eval(const EvalRequest& req, const EvalCallbacks& cb) {
  const Plan plan = make_plan(req);
  const bool tuned = !req.cfg.model.adapter.empty() || !req.run_dir.empty() || plan.compare;
  const ModelResult main = evaluate_model(req.cfg, plan, tuned ? "tuned" : "model", cb);
  std::optional<ModelResult> base;
  if (plan.compare) {
    Config bc = req.cfg;
    bc.model.path = plan.base_path;
    bc.model.adapter.clear();
    base = evaluate_model(bc, plan, "base", cb);
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

std::string render_eval_table(const json& r) {
  std::ostringstream o;
  const json& m = r["model"];
  o << "model   " << m["path"].get<std::string>();
  if (m["adapter"].is_string()) o << " + adapter " << m["adapter"].get<std::string>();
  o << " (" << m["device"].get<std::string>() << ", " << m["dtype"].get<std::string>() << ")\n";
  if (r.contains("base")) o << "base    " << r["base"]["model"]["path"].get<std::string>() << "\n";
  if (r.contains("data"))
    o << "data    " << r["data"]["dir"].get<std::string>() << " [" << r["data"]["split"].get<std::string>() << "]: "
      << r["data"]["rows_evaluated"] << " of " << r["data"]["rows"] << " rows\n";
  if (r.contains("prompts"))
    o << "prompts " << r["prompts"]["file"].get<std::string>() << ": " << r["prompts"]["samples"]
      << " samples, template " << r["prompts"]["template"].get<std::string>() << "\n";
  metrics_table(o, r);
  sources_table(o, r["sources"]);
  if (!r["gates"].empty()) o << "\ngates\n";
  for (const auto& g : r["gates"]) {
    o << "  " << (g["passed"].get<bool>() ? "pass  " : "FAIL  ") << std::left << std::setw(24)
      << g["gate"].get<std::string>() << " " << g["metric"].get<std::string>() << " = "
      << (g["value"].is_number() ? fmt(g["value"], g["metric"]) : "n/a") << "\n";
  }
  const json& s = r["speed"];
  if (s.contains("loss_tokens_per_s"))
    o << "\nloss eval " << std::fixed << std::setprecision(0) << s["loss_tokens_per_s"].get<double>() << " tokens/s";
  if (s.contains("generated_tokens_per_s"))
    o << (s.contains("loss_tokens_per_s") ? ", " : "\n") << "generation " << std::fixed << std::setprecision(1)
      << s["generated_tokens_per_s"].get<double>() << " tokens/s";
  o << "\n";
  if (r.contains("prompts") && r["prompts"]["outputs"].is_string())
    o << "outputs " << r["prompts"]["outputs"].get<std::string>() << "\n";
  return o.str();
}

}  // namespace loratune::eval
