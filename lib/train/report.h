// `loratune report`: a self-contained HTML page for a run directory (no network, no scripts needed to view
// it), written for people: the run's time, throughput and memory in one line at the top; the train loss (raw
// and smoothed), validation loss, learning rate and throughput as inline SVG charts with ticked axes; the
// run summary with units; eval results (base vs tuned, with the change) for each eval report given, and for
// a report with prompts, the first generations of the base and the tuned model side by side; the config.
// Torch-free.
#pragma once
#include <string>
#include <vector>

namespace loratune::train {

struct ReportRequest {
  std::string run_dir;
  std::vector<std::string> eval_reports;  // eval --out report.json files; empty = <run_dir>/eval.json when present
  int generations = 3;                    // side-by-side generations shown per report with prompts
};

std::string render_run_report(const ReportRequest& req);  // the HTML document

// Formatting for people (also used by the tests): "2 min 03 s", "3.3 GiB", "26.9k", 4 significant digits.
std::string format_duration(double seconds);
std::string format_bytes(double bytes);
std::string format_count(double n);
std::string format_number(double v, int significant = 4);

// Axis ticks: about `target` round values (1, 2 or 5 x 10^k apart) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

// A centred moving average of `v` (window 2h+1, shorter at the ends), h = max(1, n / 20).
std::vector<double> smooth(const std::vector<double>& v);

}  // namespace loratune::train
