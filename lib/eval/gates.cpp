#include "eval/gates.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/error.h"
#include "core/strings.h"

namespace loratune::eval {
namespace {

constexpr const char* kGateForm =
    "write a gate as METRIC OP NUMBER with OP one of <=, >=, <, >, ==, e.g. {opt:gate} 'ppl<=12.5' or "
    "{opt:gate} 'delta.loss<=-0.1'";

[[noreturn]] void malformed(const std::string& text, const std::string& why) {
  fail_input("malformed gate '" + text + "': " + why, kGateForm);
}

bool is_metric_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

// The first operator in the text: two-character operators win over their one-character prefixes.
bool find_operator(const std::string& s, size_t* at, size_t* len, GateOp* op) {
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i], next = i + 1 < s.size() ? s[i + 1] : '\0';
    if ((c == '<' || c == '>' || c == '=') && next == '=') {
      *op = c == '<' ? GateOp::LessEqual : c == '>' ? GateOp::GreaterEqual : GateOp::Equal;
      *at = i;
      *len = 2;
      return true;
    }
    if (c == '<' || c == '>') {
      *op = c == '<' ? GateOp::Less : GateOp::Greater;
      *at = i;
      *len = 1;
      return true;
    }
  }
  return false;
}

double parse_bound(const std::string& text, const std::string& number) {
  if (number.empty()) malformed(text, "no bound after the operator");
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || errno == ERANGE || !std::isfinite(v))
    malformed(text, "'" + number + "' is not a finite number");
  return v;
}

std::string format_number(double v) {
  std::ostringstream o;
  o.precision(6);
  o << v;
  return o.str();
}

}  // namespace

const char* gate_op_text(GateOp op) {
  switch (op) {
    case GateOp::LessEqual: return "<=";
    case GateOp::GreaterEqual: return ">=";
    case GateOp::Less: return "<";
    case GateOp::Greater: return ">";
    case GateOp::Equal: return "==";
  }
  return "?";
}

Gate parse_gate(const std::string& raw) {
  Gate g;
  g.text = trim(raw);
  size_t at = 0, len = 0;
  if (!find_operator(g.text, &at, &len, &g.op)) malformed(g.text, "no comparison operator");
  g.metric = trim(g.text.substr(0, at));
  if (g.metric.empty()) malformed(g.text, "no metric before the operator");
  if (!std::all_of(g.metric.begin(), g.metric.end(), is_metric_char))
    malformed(g.text, "'" + g.metric + "' is not a metric name");
  g.bound = parse_bound(g.text, trim(g.text.substr(at + len)));
  return g;
}

void check_gate_metrics(const std::vector<Gate>& gates, const std::vector<std::string>& known,
                        const std::vector<std::string>& measured,
                        const std::map<std::string, std::string>& how_to_measure) {
  for (const Gate& g : gates) {
    if (std::find(known.begin(), known.end(), g.metric) == known.end())
      fail_input("gate '" + g.text + "': unknown metric '" + g.metric + "'" + did_you_mean(g.metric, known),
                 "metrics: " + join(known, ", "));
    if (std::find(measured.begin(), measured.end(), g.metric) != measured.end()) continue;
    const std::string prefix = g.metric.substr(0, g.metric.find('.'));
    auto it = how_to_measure.find(g.metric);
    if (it == how_to_measure.end()) it = how_to_measure.find(prefix);
    fail_input("gate '" + g.text + "': metric '" + g.metric + "' is not measured by this eval",
               it != how_to_measure.end() ? it->second : "drop the gate or measure the metric");
  }
}

bool gate_passes(const Gate& g, double v) {
  if (std::isnan(v)) return false;
  switch (g.op) {
    case GateOp::LessEqual: return v <= g.bound;
    case GateOp::GreaterEqual: return v >= g.bound;
    case GateOp::Less: return v < g.bound;
    case GateOp::Greater: return v > g.bound;
    case GateOp::Equal: return v == g.bound;
  }
  return false;
}

std::vector<GateResult> evaluate_gates(const std::vector<Gate>& gates, const std::map<std::string, double>& values) {
  std::vector<GateResult> out;
  for (const Gate& g : gates) {
    auto it = values.find(g.metric);
    LT_CHECK(it != values.end(), "evaluate_gates: metric " + g.metric + " was not measured");
    out.push_back({g, it->second, gate_passes(g, it->second)});
  }
  return out;
}

std::string describe_gate_result(const GateResult& r) {
  return r.gate.metric + " = " + format_number(r.value) + ", bound " + gate_op_text(r.gate.op) + " " +
         format_number(r.gate.bound);
}

}  // namespace loratune::eval
