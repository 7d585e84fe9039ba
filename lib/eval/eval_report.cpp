#include "eval/eval_report.h"

#include <cmath>
#include <iomanip>
#include <sstream>

#include "data/options.h"
#include "model/generate.h"

namespace loratune::eval {
namespace {
using json = nlohmann::json;

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

json build_report(const EvalRequest& req, const EvalPlan& plan, const ModelResult& main,
                  const std::optional<ModelResult>& base) {
  json r;
  r["model"] = main.info;
  if (!req.run_dir.empty()) r["model"]["run"] = req.run_dir;
  if (plan.loss)
    r["data"] = {{"dir", req.eval.data},
                 {"split", split_name(req.eval.split)},
                 {"rows", main.split_rows},
                 {"rows_evaluated", main.loss->rows}};
  if (plan.generate)
    r["prompts"] = {{"file", req.eval.prompts},
                    {"samples", plan.samples.size()},
                    {"template", main.template_name},
                    {"template_source", main.template_source},
                    {"template_vars", data::template_vars_json(main.template_vars)},
                    {"outputs", plan.outputs_path.empty() ? json(nullptr) : json(plan.outputs_path)},
                    {"decoding", sampling_json(req.sampling)}};
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

std::string outputs_jsonl(const EvalPlan& plan, const ModelResult& main, const std::optional<ModelResult>& base) {
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
