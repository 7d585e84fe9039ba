// The layout of a finetune run directory, in one place (trainer, report, eval and the CLI all go through it):
//   <run>/config.resolved.json   the options the run trained with (feeds --resume and --config)
//   <run>/metrics.jsonl          one JSON object per optimizer step
//   <run>/summary.json           written when the run ends
//   <run>/checkpoints/step-N/    trainable.safetensors, optimizer.safetensors, rng.safetensors, state.json
//   <run>/checkpoints/best/      the adapter (or model) with the best val loss, + best.json
//   <run>/adapter/ or model/     the final PEFT adapter (LoRA) or HF model directory (full fine-tune)
//   <run>/eval.json              an eval report the user put there (read by `loratune report`)
// Torch-free.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace loratune::train {

class RunDir {
 public:
  explicit RunDir(std::string path) : path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  std::string config_file() const;
  std::string metrics_file() const;
  std::string summary_file() const;
  std::string eval_report() const;
  std::string checkpoints_dir() const;
  std::string checkpoint_dir(int64_t step) const;  // checkpoints/step-00000008
  std::string best_dir() const;
  std::string best_file() const;                   // best/best.json
  std::string final_dir(bool lora) const;          // adapter/ (LoRA) or model/ (full fine-tune)

  // Complete checkpoints (state.json present, no temporary directories), oldest first.
  std::vector<std::string> checkpoints() const;

  // An input error unless the directory holds config.resolved.json (what every run has from its start).
  void require_run() const;
  // What a finished (or validated) run produced for generate / eval / export: its best adapter (model),
  // else its final one; an input error when there is neither yet.
  std::string trained_output(bool lora) const;

 private:
  std::string path_;
};

}  // namespace loratune::train
