// Eval gates (torch-free): "metric OP bound" conditions a CI pipeline puts on eval's metrics, such as
// "ppl<=12.5", "rougeL>=0.40" or "delta.loss<=-0.1". A failing gate makes `loratune eval` exit 3.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace loratune::eval {

enum class GateOp { LessEqual, GreaterEqual, Less, Greater, Equal };
const char* gate_op_text(GateOp op);  // "<=", ">=", "<", ">", "=="

struct Gate {
  std::string text;    // as given (trimmed)
  std::string metric;  // "ppl", "base.loss", "delta.rougeL", ...
  GateOp op = GateOp::LessEqual;
  double bound = 0;
};

// Parses "METRIC OP NUMBER" (spaces allowed around the parts). OP is one of <=, >=, <, >, ==; METRIC is
// letters, digits, '_' and '.'; NUMBER a finite decimal number. A malformed gate is an input error
// naming it and showing the form.
Gate parse_gate(const std::string& text);

// Checks gate metric names before anything is evaluated: a name not in `known` is an input error with a
// "did you mean"; a known name not in `measured` (e.g. rougeL without a generations file, delta.* without
// --compare-base) is an input error saying what would measure it (`how_to_measure`, keyed by the part
// before the first '.' for "base." / "delta." names and by the name otherwise; may be missing).
void check_gate_metrics(const std::vector<Gate>& gates, const std::vector<std::string>& known,
                        const std::vector<std::string>& measured,
                        const std::map<std::string, std::string>& how_to_measure);

// True when `value` satisfies the gate; a NaN value never does.
bool gate_passes(const Gate& gate, double value);

struct GateResult {
  Gate gate;
  double value = 0;
  bool passed = false;
};

// Evaluates every gate against the measured values (a gate whose metric is absent is an internal
// error: check_gate_metrics runs first).
std::vector<GateResult> evaluate_gates(const std::vector<Gate>& gates, const std::map<std::string, double>& values);

// "rougeL = 0.3125, bound >= 0.4" for messages.
std::string describe_gate_result(const GateResult& r);

}  // namespace loratune::eval
