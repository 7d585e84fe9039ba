#include "train/report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "train/run_dir.h"

namespace loratune::train {
namespace {
using json = nlohmann::json;

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

std::string num(double v, int precision = 4) {
  std::ostringstream o;
  o << std::setprecision(precision) << v;
  return o.str();
}

struct Series {
  std::string name, color;
  std::vector<std::pair<double, double>> points;  // (step, value)
};

// A line chart as inline SVG: axes with min/max labels, one polyline per series, a legend.
std::string svg_chart(const std::string& id, const std::string& title, const std::vector<Series>& series) {
  const double W = 640, H = 260, L = 60, R = 20, T = 30, B = 40;
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
  if (y1 == y0) { y1 += 0.5; y0 -= 0.5; }
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); };
  o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << W - L - R << "\" height=\"" << H - T - B
    << "\" fill=\"none\" stroke=\"#ccc\"/>\n";
  o << "<text x=\"" << L - 6 << "\" y=\"" << py(y1) + 4 << "\" text-anchor=\"end\" class=\"tick\">" << num(y1) << "</text>\n";
  o << "<text x=\"" << L - 6 << "\" y=\"" << py(y0) + 4 << "\" text-anchor=\"end\" class=\"tick\">" << num(y0) << "</text>\n";
  o << "<text x=\"" << L << "\" y=\"" << H - B + 16 << "\" class=\"tick\">step " << num(x0, 6) << "</text>\n";
  o << "<text x=\"" << W - R << "\" y=\"" << H - B + 16 << "\" text-anchor=\"end\" class=\"tick\">step " << num(x1, 6)
    << "</text>\n";
  double legend_x = L + 8;
  for (const auto& s : series) {
    o << "<polyline class=\"series\" data-name=\"" << esc(s.name) << "\" fill=\"none\" stroke=\"" << s.color
      << "\" stroke-width=\"2\" points=\"";
    for (auto [x, y] : s.points)
      if (std::isfinite(y)) o << num(px(x), 6) << "," << num(py(y), 6) << " ";
    o << "\"/>\n";
    o << "<text x=\"" << legend_x << "\" y=\"" << T - 10 << "\" fill=\"" << s.color << "\">" << esc(s.name) << "</text>\n";
    legend_x += 12 + 8 * s.name.size();
  }
  o << "</svg></figure>\n";
  return o.str();
}

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

std::string kv_table(const json& obj) {
  std::ostringstream o;
  o << "<table>\n";
  for (auto& [k, v] : obj.items()) {
    if (v.is_object()) {
      for (auto& [k2, v2] : v.items())
        o << "<tr><th>" << esc(k + "." + k2) << "</th><td>" << esc(v2.is_string() ? v2.get<std::string>() : v2.dump())
          << "</td></tr>\n";
    } else {
      o << "<tr><th>" << esc(k) << "</th><td>" << esc(v.is_string() ? v.get<std::string>() : v.dump()) << "</td></tr>\n";
    }
  }
  o << "</table>\n";
  return o.str();
}

// Eval results: every numeric metric, with base / tuned / delta columns when the report compares them.
std::string eval_section(const json& ev) {
  // loratune eval's report: "metrics" (the tuned model) and "base": {"metrics"} with --compare-base.
  const json& t = ev.contains("metrics") ? ev["metrics"] : (ev.contains("tuned") ? ev["tuned"] : ev);
  const json empty = json::object();
  const json& b = !ev.contains("base") ? empty : (ev["base"].contains("metrics") ? ev["base"]["metrics"] : ev["base"]);
  const json tuned = t.flatten();
  const json base = b.flatten();
  const bool compare = !base.empty();
  std::ostringstream o;
  o << "<h2>Evaluation</h2>\n<table id=\"eval\"><tr><th>metric</th>" << (compare ? "<th>base</th>" : "")
    << "<th>tuned</th>" << (compare ? "<th>delta</th>" : "") << "</tr>\n";
  for (auto& [key, v] : tuned.items()) {
    if (!v.is_number()) continue;
    o << "<tr><td>" << esc(key.substr(1)) << "</td>";
    const bool has_base = compare && base.contains(key) && base[key].is_number();
    if (compare) o << "<td>" << (has_base ? num(base[key].get<double>()) : "") << "</td>";
    o << "<td>" << num(v.get<double>()) << "</td>";
    if (compare) o << "<td>" << (has_base ? num(v.get<double>() - base[key].get<double>()) : "") << "</td>";
    o << "</tr>\n";
  }
  o << "</table>\n";
  return o.str();
}
}  // namespace

std::string render_run_report(const ReportRequest& req) {
  const RunDir run(req.run_dir);
  const std::string& dir = run.path();
  run.require_run();
  const json cfg = json::parse(read_text_file(run.config_file()));
  const auto metrics = read_metrics(run.metrics_file());
  const std::string summary_path = run.summary_file();
  const json summary = path_exists(summary_path) ? json::parse(read_text_file(summary_path)) : json::object();
  std::string eval_path = req.eval_report.empty() ? run.eval_report() : req.eval_report;
  if (!req.eval_report.empty() && !path_exists(eval_path))
    fail_input(eval_path + ": eval report not found", "pass the file written by `loratune eval {opt:out}`");

  Series loss{"train loss", "#1f77b4", {}}, val{"val loss", "#d62728", {}}, lr{"learning rate", "#2ca02c", {}},
      tps{"tokens/s", "#9467bd", {}};
  for (const auto& m : metrics) {
    double step = m.value("step", 0.0);
    if (m.contains("loss")) loss.points.emplace_back(step, m["loss"].get<double>());
    if (m.contains("val_loss")) val.points.emplace_back(step, m["val_loss"].get<double>());
    if (m.contains("lr")) lr.points.emplace_back(step, m["lr"].get<double>());
    if (m.contains("tokens_per_s")) tps.points.emplace_back(step, m["tokens_per_s"].get<double>());
  }
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>loratune run report: " << esc(dir)
    << "</title>\n<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}"
       "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;"
       "font-size:13px}figure{margin:1em 0}figcaption{font-weight:bold}.tick{font-size:11px;fill:#555}"
       "svg text{font-size:12px}</style></head>\n<body>\n";
  o << "<h1>loratune run report</h1>\n<p>Run directory: <code>" << esc(dir) << "</code> · model <code>"
    << esc(cfg["model"].value("path", "")) << "</code> · data <code>" << esc(cfg["train"].value("data", ""))
    << "</code></p>\n";
  o << "<h2>Training</h2>\n";
  o << svg_chart("loss-chart", "Loss (train and validation)", {loss, val});
  o << svg_chart("lr-chart", "Learning rate", {lr});
  o << svg_chart("tps-chart", "Throughput (tokens/s)", {tps});
  if (!summary.empty()) o << "<h2>Summary</h2>\n" << kv_table(summary);
  if (path_exists(eval_path)) o << eval_section(json::parse(read_text_file(eval_path)));
  o << "<h2>Config</h2>\n" << kv_table(cfg);
  // Records what the browser actually laid out (series bounding boxes); tests read it from the rendered DOM.
  o << "<script>document.addEventListener('DOMContentLoaded',function(){var r=[];"
       "document.querySelectorAll('svg.chart polyline').forEach(function(p){var b=p.getBBox();"
       "r.push(p.getAttribute('data-name')+':'+Math.round(b.width)+'x'+Math.round(b.height));});"
       "document.body.setAttribute('data-rendered-series',r.join(';'));});</script>\n";
  o << "</body></html>\n";
  return o.str();
}

}  // namespace loratune::train
