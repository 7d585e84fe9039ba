#include "train/run_dir.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"

namespace loratune::train {

std::string RunDir::config_file() const { return join_path(path_, "config.resolved.json"); }
std::string RunDir::metrics_file() const { return join_path(path_, "metrics.jsonl"); }
std::string RunDir::summary_file() const { return join_path(path_, "summary.json"); }
std::string RunDir::eval_report() const { return join_path(path_, "eval.json"); }
std::string RunDir::checkpoints_dir() const { return join_path(path_, "checkpoints"); }
std::string RunDir::best_dir() const { return join_path(checkpoints_dir(), "best"); }
std::string RunDir::best_file() const { return join_path(best_dir(), "best.json"); }
std::string RunDir::final_dir(bool lora) const { return join_path(path_, lora ? "adapter" : "model"); }

std::string RunDir::checkpoint_dir(int64_t step) const {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "step-%08lld", static_cast<long long>(step));
  return join_path(checkpoints_dir(), buf);
}

std::vector<std::string> RunDir::checkpoints() const {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  const std::string dir = checkpoints_dir();
  if (!is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && starts_with(name, "step-") && name.find(".tmp") == std::string::npos &&
        path_exists(join_path(e.path().string(), "state.json")))
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void RunDir::require_run() const {
  if (!path_exists(config_file()))
    fail_input(path_ + ": not a loratune run directory (no config.resolved.json)", "pass the {opt:out} of a finetune run");
}

std::string RunDir::trained_output(bool lora) const {
  const std::string chosen = path_exists(best_dir()) ? best_dir() : final_dir(lora);
  if (!path_exists(chosen)) fail_input(path_ + ": the run has no adapter yet", "let the run finish, or {opt:resume} it");
  return chosen;
}

}  // namespace loratune::train
