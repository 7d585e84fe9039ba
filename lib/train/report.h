// `loratune report`: a self-contained HTML page for a run directory (no network, no scripts needed to view
// it): loss / validation loss / learning-rate curves as inline SVG, the run's config, throughput, and eval
// results (base vs tuned) when an eval report is given or found in the run directory.
#pragma once
#include <string>

namespace loratune::train {

struct ReportRequest {
  std::string run_dir;
  std::string eval_report;  // eval --out report.json; "" = <run_dir>/eval.json when present
};

std::string render_run_report(const ReportRequest& req);  // the HTML document

}  // namespace loratune::train
