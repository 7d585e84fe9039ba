#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "model/tensor_io.h"

namespace loratune::train {
namespace {
using json = nlohmann::json;

json read_json_file(const std::string& path) {
  try {
    return json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    fail_input(path + ": invalid JSON (" + e.what() + ")", "the run directory is damaged; start a new run");
  }
}
}  // namespace

std::string save_checkpoint(const RunDir& run, const LoopState& st, const Trainables& t, const AdamW& opt,
                            int64_t keep_last) {
  const std::string dir = run.checkpoint_dir(st.step);
  AtomicDirectory ad(dir, /*overwrite=*/true);
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (size_t i = 0; i < t.params.size(); ++i) named.emplace_back(t.names[i], t.params[i]);
  save_safetensors(ad.file("trainable.safetensors"), named);
  save_safetensors(ad.file("optimizer.safetensors"), opt.state());
  save_safetensors(ad.file("rng.safetensors"), {{"cpu", at::detail::getDefaultCPUGenerator().get_state()}});
  json j{{"step", st.step},
         {"epoch", st.epoch},
         {"position", st.position},
         {"best_val_loss", std::isfinite(st.best_val) ? json(st.best_val) : json(nullptr)},
         {"best_step", st.best_step},
         {"evals_without_improvement", st.bad_evals},
         {"tokens_seen", st.tokens_seen},
         {"elapsed", st.elapsed},
         {"metrics_lines", st.metrics_lines},
         {"total_steps", st.total_steps}};
  write_file_atomic(ad.file("state.json"), j.dump(2) + "\n");
  ad.commit();
  auto all = run.checkpoints();
  for (size_t i = 0; i + static_cast<size_t>(keep_last) < all.size(); ++i) remove_tree(all[i]);
  return dir;
}

LoopState restore_checkpoint(const std::string& ckpt, Trainables& t, AdamW& opt) {
  const json st = read_json_file(join_path(ckpt, "state.json"));
  auto trainable = load_safetensors(join_path(ckpt, "trainable.safetensors"));
  {
    torch::NoGradGuard ng;
    for (size_t i = 0; i < t.params.size(); ++i) {
      auto it = trainable.find(t.names[i]);
      if (it == trainable.end() || it->second.sizes() != t.params[i].sizes())
        fail_input(ckpt + ": checkpoint does not match this run (tensor " + t.names[i] + ")",
                   "resume with the config the run was started with (config.resolved.json)");
      t.params[i].copy_(it->second);
    }
  }
  opt.load_state(load_safetensors(join_path(ckpt, "optimizer.safetensors")), join_path(ckpt, "optimizer.safetensors"));
  auto rng = load_safetensors(join_path(ckpt, "rng.safetensors"));
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  gen.set_state(rng.at("cpu"));
  LoopState s;
  s.step = st.at("step").get<int64_t>();
  s.epoch = st.at("epoch").get<int64_t>();
  s.position = st.at("position").get<int64_t>();
  s.best_val = st.at("best_val_loss").is_null() ? INFINITY : st.at("best_val_loss").get<double>();
  s.best_step = st.at("best_step").get<int64_t>();
  s.bad_evals = st.at("evals_without_improvement").get<int64_t>();
  s.tokens_seen = st.at("tokens_seen").get<int64_t>();
  s.elapsed = st.at("elapsed").get<double>();
  s.metrics_lines = st.at("metrics_lines").get<int64_t>();
  s.total_steps = st.at("total_steps").get<int64_t>();
  return s;
}

void truncate_lines(const std::string& path, int64_t keep) {
  std::ifstream in(path);
  std::string line, kept;
  for (int64_t i = 0; i < keep && std::getline(in, line); ++i) kept += line + "\n";
  write_file_atomic(path, kept);
}

}  // namespace loratune::train
