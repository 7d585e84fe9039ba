// `loratune report`: a self-contained HTML report of a finetune run.
#include <iostream>
#include <memory>

#include "cli.h"
#include "core/error.h"
#include "core/fs.h"
#include "train/report.h"

namespace loratune::cli {
namespace {
struct ReportArgs {
  train::ReportRequest req;
  std::string out;
  bool force = false;
};

int run(const GlobalOptions& g, const ReportArgs& a) {
  resolve_config(g);
  if (path_exists(a.out) && !a.force)
    fail_input(a.out + ": already exists", "choose another output path, or pass --force to replace it");
  write_file_atomic(a.out, train::render_run_report(a.req));
  std::cout << "wrote " << a.out << std::endl;
  return 0;
}
}  // namespace

void register_report(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* sub = app.add_subcommand("report", "Write a self-contained HTML report of a finetune run");
  sub->fallthrough();
  auto a = std::make_shared<ReportArgs>();
  sub->add_option("run_dir", a->req.run_dir, "The finetune run directory")->required()->check(CLI::ExistingDirectory);
  sub->add_option("-o,--out", a->out, "Output HTML file")->required();
  sub->add_option("--eval", a->req.eval_reports,
                  "An eval report JSON (repeatable; default: RUN_DIR/eval.json when present)");
  sub->add_option("--generations", a->req.generations,
                  "Generations shown side by side per eval report with prompts (default 3)")
      ->check(CLI::Range(0, 100));
  sub->add_flag("--force", a->force, "Replace an existing output file");
  sub->footer(
      "Examples:\n"
      "  loratune report runs/legal -o report.html\n"
      "  loratune report runs/legal --eval questions.json --eval heldout-text.json -o report.html\n"
      "The page has the run's time, throughput and memory in one line, the eval results (base vs tuned, with\n"
      "the change, and the first generations side by side), loss (raw and smoothed) / val loss / learning-rate /\n"
      "throughput charts (inline SVG), the run summary and the resolved config. It needs no network to view.");
  sub->callback([&g, &action, a] { action = [&g, a] { return run(g, *a); }; });
}

}  // namespace loratune::cli
