#include "train/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "train/run_dir.h"

namespace loratune::train {
namespace {
using json = nlohmann::json;

std::string fs_basename(const std::string& p) { return std::filesystem::path(p).filename().string(); }

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string fixed(double v, int decimals) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(decimals) << v;
  return o.str();
}

// A rate for people: whole numbers from 100 up, else 3 significant digits.
std::string format_rate(double v) { return std::fabs(v) >= 100 ? fixed(v, 0) : format_number(v, 3); }

std::string svg_num(double v) { return fixed(v, 1); }  // SVG coordinates

// ---- charts ---------------------------------------------------------------------------------------------------

struct Series {
  std::string name, color;
  std::vector<std::pair<double, double>> points;  // (step, value)
  double width = 2;
  bool markers = false;  // a dot per point (sparse series: validation loss)
};

// A line chart as inline SVG: ticked and labelled axes with grid lines, one polyline per series, a legend.
std::string svg_chart(const std::string& id, const std::string& title, const std::string& y_label,
                      const std::vector<Series>& series) {
  const double W = 680, H = 280, L = 70, R = 20, T = 34, B = 46;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : series)
    for (auto [x, y] : s.points) {
      if (!std::isfinite(y)) continue;
      x0 = std::min(x0, x); x1 = std::max(x1, x); y0 = std::min(y0, y); y1 = std::max(y1, y);
    }
  std::ostringstream o;
  o << "<figure><figcaption>" << esc(title) << "</figcaption>\n<svg id=\"" << id << "\" class=\"chart\" width=\"" << W
    << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " " << H << "\" xmlns=\"http://www.w3.org/2000/svg\">\n";
  if (!std::isfinite(x0)) {
    o << "<text x=\"" << W / 2 << "\" y=\"" << H / 2 << "\" text-anchor=\"middle\">no data</text></svg></figure>\n";
    return o.str();
  }
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) { y1 += 0.5 * std::max(1e-12, std::fabs(y1)); y0 -= 0.5 * std::max(1e-12, std::fabs(y0)); }
  const std::vector<double> yt = nice_ticks(y0, y1), xt = nice_ticks(x0, x1, 6);
  y0 = std::min(y0, yt.front()); y1 = std::max(y1, yt.back());
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); };
  for (double y : yt) {
    o << "<line class=\"grid\" x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << svg_num(py(y)) << "\" y2=\""
      << svg_num(py(y)) << "\"/><text x=\"" << L - 6 << "\" y=\"" << svg_num(py(y) + 4)
      << "\" text-anchor=\"end\" class=\"tick\">" << format_number(y, 3) << "</text>\n";
  }
  for (double x : xt) {
    if (x < x0 - 1e-9 || x > x1 + 1e-9) continue;
    o << "<line class=\"axis\" x1=\"" << svg_num(px(x)) << "\" x2=\"" << svg_num(px(x)) << "\" y1=\"" << H - B
      << "\" y2=\"" << H - B + 5 << "\"/><text x=\"" << svg_num(px(x)) << "\" y=\"" << H - B + 18
      << "\" text-anchor=\"middle\" class=\"tick\">" << format_number(x, 6) << "</text>\n";
  }
  o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << W - L - R << "\" height=\"" << H - T - B
    << "\" fill=\"none\" class=\"axis\"/>\n";
  o << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 8 << "\" text-anchor=\"middle\" class=\"label\">step</text>\n";
  o << "<text transform=\"translate(16," << (T + H - B) / 2 << ") rotate(-90)\" text-anchor=\"middle\" class=\"label\">"
    << esc(y_label) << "</text>\n";
  double legend_x = L + 4;
  for (const auto& s : series) {
    o << "<polyline class=\"series\" data-name=\"" << esc(s.name) << "\" fill=\"none\" stroke=\"" << s.color
      << "\" stroke-width=\"" << s.width << "\" stroke-linejoin=\"round\" points=\"";
    for (auto [x, y] : s.points)
      if (std::isfinite(y)) o << svg_num(px(x)) << "," << svg_num(py(y)) << " ";
    o << "\"/>\n";
    if (s.markers)
      for (auto [x, y] : s.points)
        if (std::isfinite(y))
          o << "<circle cx=\"" << svg_num(px(x)) << "\" cy=\"" << svg_num(py(y)) << "\" r=\"3.5\" fill=\"" << s.color
            << "\"><title>" << esc(s.name) << " at step " << format_number(x, 6) << ": " << format_number(y)
            << "</title></circle>\n";
    o << "<line x1=\"" << legend_x << "\" x2=\"" << legend_x + 18 << "\" y1=\"" << T - 14 << "\" y2=\"" << T - 14
      << "\" stroke=\"" << s.color << "\" stroke-width=\"" << std::max(2.0, s.width) << "\"/><text x=\"" << legend_x + 22
      << "\" y=\"" << T - 10 << "\">" << esc(s.name) << "</text>\n";
    legend_x += 40 + 6.5 * static_cast<double>(s.name.size());
  }
  o << "</svg></figure>\n";
  return o.str();
}

// ---- run files --------------------------------------------------------------------------------------------------

std::vector<json> read_metrics(const std::string& path) {
  std::vector<json> out;
  std::ifstream f(path);
  std::string line;
  int64_t n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (line.empty()) continue;
    try {
      out.push_back(json::parse(line));
    } catch (const json::exception& e) {
      fail_input(path + ":" + std::to_string(n) + ": invalid JSON (" + e.what() + ")", "the run's metrics are damaged");
    }
  }
  return out;
}

json read_json(const std::string& path, const std::string& what) {
  try {
    return json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    fail_input(path + ": invalid JSON (" + e.what() + ")", what);
  }
}

std::string value_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_number_integer()) return v.dump();
  if (v.is_number()) return format_number(v.get<double>());
  if (v.is_null()) return "none";
  return v.dump();
}

std::string config_table(const json& obj) {
  std::ostringstream o;
  o << "<table class=\"kv\">\n";
  for (auto& [k, v] : obj.items()) {
    if (v.is_object()) {
      for (auto& [k2, v2] : v.items())
        o << "<tr><th>" << esc(k + "." + k2) << "</th><td>" << esc(value_text(v2)) << "</td></tr>\n";
    } else {
      o << "<tr><th>" << esc(k) << "</th><td>" << esc(value_text(v)) << "</td></tr>\n";
    }
  }
  o << "</table>\n";
  return o.str();
}

double number_or(const json& j, const char* key, double fallback) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

// The run summary with labels and units, then whatever else summary.json holds.
std::string summary_table(const json& s) {
  struct Row { const char* key; const char* label; };
  static const Row rows[] = {{"steps", "Steps"},          {"tokens", "Tokens trained"},
                             {"seconds", "Time"},         {"tokens_per_s", "Throughput"},
                             {"peak_rss_bytes", "Peak memory (RSS)"}, {"best_val_loss", "Best val loss"},
                             {"parameters", "Parameters"}, {"trainable_parameters", "Trainable parameters"},
                             {"device", "Device"},        {"dtype", "Compute dtype"},
                             {"stopped_early", "Stopped early"}, {"output", "Output"}};
  std::ostringstream o;
  o << "<table class=\"kv\" id=\"summary\">\n";
  std::vector<std::string> shown;
  for (const auto& r : rows) {
    if (!s.contains(r.key)) continue;
    shown.push_back(r.key);
    const json& v = s[r.key];
    std::string text = value_text(v);
    const std::string k = r.key;
    if (v.is_number()) {
      const double d = v.get<double>();
      if (k == "steps") text = format_number(d, 9) + (s.contains("total_steps") ? " of " + value_text(s["total_steps"]) : "");
      if (k == "tokens" || k == "parameters") text = format_count(d);
      if (k == "seconds") text = format_duration(d);
      if (k == "tokens_per_s") text = format_rate(d) + " tokens/s";
      if (k == "peak_rss_bytes") text = format_bytes(d);
      if (k == "best_val_loss")
        text = fixed(d, 3) + (s.contains("best_step") ? " at step " + value_text(s["best_step"]) : "");
      if (k == "trainable_parameters") {
        text = format_count(d);
        const double all = number_or(s, "parameters", 0);
        if (all > 0) text += " (" + format_number(100.0 * d / all, 2) + "% of the model)";
      }
    }
    o << "<tr><th>" << r.label << "</th><td>" << esc(text) << "</td></tr>\n";
  }
  for (auto& [k, v] : s.items()) {
    if (std::find(shown.begin(), shown.end(), k) != shown.end() || k == "total_steps" || k == "best_step") continue;
    o << "<tr><th>" << esc(k) << "</th><td>" << esc(value_text(v)) << "</td></tr>\n";
  }
  o << "</table>\n";
  return o.str();
}

// One line: what ran, how long, how fast, how much memory, how good.
std::string headline(const json& s) {
  std::vector<std::string> parts;
  if (s.contains("steps")) parts.push_back(value_text(s["steps"]) + " steps");
  if (s.contains("seconds") && s["seconds"].is_number()) parts.push_back(format_duration(s["seconds"].get<double>()));
  if (s.contains("tokens") && s["tokens"].is_number())
    parts.push_back(format_count(s["tokens"].get<double>()) + " tokens" +
                    (s.contains("tokens_per_s") && s["tokens_per_s"].is_number()
                         ? " at " + format_rate(s["tokens_per_s"].get<double>()) + " tokens/s"
                         : ""));
  if (s.contains("peak_rss_bytes") && s["peak_rss_bytes"].is_number())
    parts.push_back("peak memory " + format_bytes(s["peak_rss_bytes"].get<double>()));
  if (s.contains("best_val_loss") && s["best_val_loss"].is_number())
    parts.push_back("best val loss " + fixed(s["best_val_loss"].get<double>(), 3));
  if (s.contains("dtype") || s.contains("device"))
    parts.push_back(value_text(s.value("dtype", json(""))) + " on " + value_text(s.value("device", json(""))));
  std::ostringstream o;
  o << "<p class=\"headline\" id=\"headline\">";
  if (parts.empty()) {
    o << "The run has not finished (no summary.json yet).";
  } else {
    for (size_t i = 0; i < parts.size(); ++i) o << (i ? " · " : "") << esc(parts[i]);
  }
  o << "</p>\n";
  return o.str();
}

// ---- eval reports -------------------------------------------------------------------------------------------------

const std::vector<std::string>& rate_metrics() {
  static const std::vector<std::string> m{"accuracy", "exact_match", "contains", "token_f1", "rougeL"};
  return m;
}

std::string metric_text(const std::string& key, double v) {
  if (key == "ppl") return fixed(v, 2);
  if (key == "loss") return fixed(v, 3);
  if (key == "tokens") return format_count(v);
  if (std::find(rate_metrics().begin(), rate_metrics().end(), key) != rate_metrics().end()) return fixed(v, 3);
  return format_number(v);
}

std::string change_text(const std::string& key, double base, double tuned) {
  const double d = tuned - base;
  std::string s = (d >= 0 ? "+" : "") + metric_text(key, d);
  if ((key == "ppl" || key == "loss") && base != 0) s += " (" + std::string(d >= 0 ? "+" : "") + fixed(100 * d / base, 1) + "%)";
  return s;
}

// Whether lower is better for a metric (the change is coloured good / bad).
bool lower_is_better(const std::string& key) { return key == "ppl" || key == "loss"; }

std::string eval_title(const json& ev, const std::string& path) {
  if (ev.contains("prompts") && ev["prompts"].is_object()) {
    const json& p = ev["prompts"];
    return "Held-out prompts: " + fs_basename(p.value("file", path)) + " (" + value_text(p.value("samples", json(0))) +
           " samples, greedy up to " + value_text(p.contains("decoding") ? p["decoding"].value("max_new_tokens", json(0)) : json(0)) +
           " tokens)";
  }
  if (ev.contains("data") && ev["data"].is_object()) {
    const json& d = ev["data"];
    std::string t = "Prepared data: " + fs_basename(d.value("dir", path));
    if (d.contains("split")) t += ", split " + value_text(d["split"]);
    if (d.contains("rows_evaluated") && d.contains("rows"))
      t += " (" + value_text(d["rows_evaluated"]) + " of " + value_text(d["rows"]) + " rows)";
    return t;
  }
  return "Eval: " + path;
}

// The eval's outputs file: as written in the report, else beside it.
std::string outputs_path(const json& ev, const std::string& report_path) {
  if (!ev.contains("prompts") || !ev["prompts"].is_object() || !ev["prompts"].contains("outputs")) return "";
  const std::string o = value_text(ev["prompts"]["outputs"]);
  if (path_exists(o)) return o;
  const std::string beside = join_path(parent_dir(report_path), fs_basename(o));
  return path_exists(beside) ? beside : "";
}

std::string generations_table(const std::string& outputs, int n) {
  std::ifstream f(outputs);
  std::string line;
  std::vector<json> rows;
  while (static_cast<int>(rows.size()) < n && std::getline(f, line)) {
    if (line.empty()) continue;
    try {
      rows.push_back(json::parse(line));
    } catch (const json::exception&) {
      break;  // a damaged outputs file: show what parsed
    }
  }
  if (rows.empty()) return "";
  std::ostringstream o;
  o << "<h4>Generations side by side (the first " << rows.size() << ", greedy)</h4>\n<table class=\"gen\">\n"
    << "<tr><th>prompt</th><th>reference</th><th>base</th><th>tuned</th></tr>\n";
  for (const auto& r : rows) {
    std::string prompt;
    if (r.contains("messages") && r["messages"].is_array() && !r["messages"].empty())
      prompt = r["messages"].back().value("content", "");
    else
      prompt = r.value("prompt", "");
    const std::string base = r.contains("base") && r["base"].is_object() ? r["base"].value("output", "") : "";
    o << "<tr><td class=\"prompt\">" << esc(prompt) << "</td><td>" << esc(r.value("reference", "")) << "</td><td>"
      << esc(base) << "</td><td class=\"tuned\">" << esc(r.value("output", "")) << "</td></tr>\n";
  }
  o << "</table>\n";
  return o.str();
}

std::string eval_section(const json& ev, const std::string& path, int index, int generations) {
  const json& t = ev.contains("metrics") ? ev["metrics"] : (ev.contains("tuned") ? ev["tuned"] : ev);
  const json empty = json::object();
  const json& b = !ev.contains("base") ? empty : (ev["base"].contains("metrics") ? ev["base"]["metrics"] : ev["base"]);
  const json tuned = t.flatten();
  const json base = b.flatten();
  const bool compare = !base.empty();
  std::ostringstream o;
  o << "<h3>" << esc(eval_title(ev, path)) << "</h3>\n<table class=\"eval\" id=\"eval" << (index ? std::to_string(index) : "")
    << "\"><tr><th>metric</th>" << (compare ? "<th>base</th>" : "") << "<th>tuned</th>" << (compare ? "<th>change</th>" : "")
    << "</tr>\n";
  for (auto& [flat_key, v] : tuned.items()) {
    if (!v.is_number()) continue;
    const std::string key = flat_key.substr(1);
    const double tv = v.get<double>();
    o << "<tr><td>" << esc(key) << "</td>";
    const bool has_base = compare && base.contains(flat_key) && base[flat_key].is_number();
    const double bv = has_base ? base[flat_key].get<double>() : 0.0;
    if (compare) o << "<td>" << (has_base ? metric_text(key, bv) : "") << "</td>";
    o << "<td>" << metric_text(key, tv) << "</td>";
    if (compare) {
      std::string cls;
      if (has_base && tv != bv && key != "tokens") cls = ((tv < bv) == lower_is_better(key)) ? "good" : "bad";
      o << "<td" << (cls.empty() ? "" : " class=\"" + cls + "\"") << ">"
        << (has_base && key != "tokens" ? change_text(key, bv, tv) : "")
        << "</td>";
    }
    o << "</tr>\n";
  }
  o << "</table>\n";
  const std::string outputs = outputs_path(ev, path);
  if (!outputs.empty() && generations > 0) o << generations_table(outputs, generations);
  return o.str();
}
}  // namespace

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 10) return fixed(s, 1) + " s";
  if (s < 60) return fixed(s, 0) + " s";
  const int64_t t = static_cast<int64_t>(std::llround(s));
  char buf[64];
  if (t < 3600)
    std::snprintf(buf, sizeof buf, "%lld min %02lld s", static_cast<long long>(t / 60), static_cast<long long>(t % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld h %02lld min", static_cast<long long>(t / 3600),
                  static_cast<long long>(t % 3600 / 60));
  return buf;
}

std::string format_bytes(double b) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) { b /= 1024; ++u; }
  return (u == 0 ? fixed(b, 0) : fixed(b, b < 10 ? 2 : 1)) + " " + units[u];
}

std::string format_count(double n) {
  const double a = std::fabs(n);
  if (a < 1e4) return fixed(n, 0);
  if (a < 1e6) return fixed(n / 1e3, a < 1e5 ? 1 : 0) + "k";
  if (a < 1e9) return fixed(n / 1e6, a < 1e8 ? 1 : 0) + "M";
  return fixed(n / 1e9, 2) + "B";
}

std::string format_number(double v, int significant) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  std::ostringstream o;
  o << std::setprecision(significant) << v;
  return o.str();
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return {lo};
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) { step = m * mag; break; }
  std::vector<double> t;
  const double first = std::floor(lo / step + 1e-9) * step;
  for (double v = first; v <= hi + step * 0.999; v += step) {
    t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
    if (t.size() > 50) break;
  }
  return t;
}

std::vector<double> smooth(const std::vector<double>& v) {
  const int64_t n = static_cast<int64_t>(v.size()), h = std::max<int64_t>(1, n / 20);
  std::vector<double> out(v.size());
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    int64_t k = 0;
    for (int64_t j = std::max<int64_t>(0, i - h); j <= std::min(n - 1, i + h); ++j)
      if (std::isfinite(v[j])) { sum += v[j]; ++k; }
    out[i] = k ? sum / k : v[i];
  }
  return out;
}

std::string render_run_report(const ReportRequest& req) {
  const RunDir run(req.run_dir);
  const std::string& dir = run.path();
  run.require_run();
  const json cfg = read_json(run.config_file(), "the run's config.resolved.json is damaged");
  const auto metrics = read_metrics(run.metrics_file());
  const std::string summary_path = run.summary_file();
  const json summary = path_exists(summary_path) ? read_json(summary_path, "the run's summary.json is damaged") : json::object();
  std::vector<std::string> evals = req.eval_reports;
  for (const auto& e : evals)
    if (!path_exists(e)) fail_input(e + ": eval report not found", "pass the file written by `loratune eval {opt:out}`");
  if (evals.empty() && path_exists(run.eval_report())) evals.push_back(run.eval_report());

  Series loss{"train loss", "#9ecae1", {}, 1.2}, smoothed{"train loss (smoothed)", "#1f4e9c", {}, 2.5},
      val{"val loss", "#d62728", {}, 2, true}, lr{"learning rate", "#2ca02c", {}}, tps{"tokens/s", "#9467bd", {}};
  for (const auto& m : metrics) {
    double step = m.value("step", 0.0);
    if (m.contains("loss")) loss.points.emplace_back(step, m["loss"].get<double>());
    if (m.contains("val_loss")) val.points.emplace_back(step, m["val_loss"].get<double>());
    if (m.contains("lr")) lr.points.emplace_back(step, m["lr"].get<double>());
    if (m.contains("tokens_per_s")) tps.points.emplace_back(step, m["tokens_per_s"].get<double>());
  }
  std::vector<double> raw;
  for (auto [x, y] : loss.points) raw.push_back(y);
  const std::vector<double> sm = smooth(raw);
  for (size_t i = 0; i < sm.size(); ++i) smoothed.points.emplace_back(loss.points[i].first, sm[i]);

  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>loratune run report: " << esc(dir)
    << "</title>\n<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222;"
       "line-height:1.4}h1{margin-bottom:.2em}.headline{font-size:17px;background:#f3f6fa;border-left:4px solid #1f4e9c;"
       "padding:.5em .8em}.meta{color:#555;font-size:13px}table{border-collapse:collapse;margin:.6em 0 1.2em}"
       "td,th{border:1px solid #ddd;padding:4px 9px;text-align:left;font-size:13px;vertical-align:top}"
       "th{background:#fafafa}table.eval td:not(:first-child){text-align:right;font-variant-numeric:tabular-nums}"
       "td.good{color:#17692d}td.bad{color:#a4161a}table.gen td{width:25%;white-space:pre-wrap}td.prompt{color:#444}"
       "td.tuned{background:#f4faf4}figure{margin:1em 0}figcaption{font-weight:600;margin-bottom:.2em}"
       ".tick{font-size:11px;fill:#555}.label{font-size:12px;fill:#333}.grid{stroke:#eee}.axis{stroke:#999}"
       "svg text{font-size:12px}details summary{cursor:pointer}</style></head>\n<body>\n";
  o << "<h1>loratune run report</h1>\n" << headline(summary);
  o << "<p class=\"meta\">Run <code>" << esc(dir) << "</code> · model <code>" << esc(cfg["model"].value("path", ""))
    << "</code>" << (cfg["model"].value("adapter", "").empty() ? "" : " + adapter <code>" + esc(cfg["model"].value("adapter", "")) + "</code>")
    << " · data <code>" << esc(cfg["train"].value("data", "")) << "</code></p>\n";
  if (!evals.empty()) {
    o << "<h2>Results: base vs tuned</h2>\n";
    int i = 0;
    for (const auto& e : evals) o << eval_section(read_json(e, "pass a report written by `loratune eval {opt:out}`"), e, i++, req.generations);
  }
  o << "<h2>Training</h2>\n";
  o << svg_chart("loss-chart", "Loss: train (raw and smoothed) and validation", "loss", {loss, smoothed, val});
  o << svg_chart("lr-chart", "Learning rate", "learning rate", {lr});
  o << svg_chart("tps-chart", "Throughput", "tokens / s", {tps});
  if (!summary.empty()) o << "<h2>Summary</h2>\n" << summary_table(summary);
  o << "<h2>Config</h2>\n<details><summary>The resolved config of the run</summary>\n" << config_table(cfg)
    << "</details>\n";
  // Records what the browser actually laid out (series bounding boxes); tests read it from the rendered DOM.
  o << "<script>document.addEventListener('DOMContentLoaded',function(){var r=[];"
       "document.querySelectorAll('svg.chart polyline').forEach(function(p){var b=p.getBBox();"
       "r.push(p.getAttribute('data-name')+':'+Math.round(b.width)+'x'+Math.round(b.height));});"
       "document.body.setAttribute('data-rendered-series',r.join(';'));});</script>\n";
  o << "</body></html>\n";
  return o.str();
}

}  // namespace loratune::train
