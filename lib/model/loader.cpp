#include "model/loader.h"

#include <chrono>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "io/gguf_reader.h"
#include "model/device.h"
#include "model/gguf_base.h"
#include "model/gguf_tokenizer.h"
#include "model/tensor_io.h"

namespace loratune {
namespace {
std::string shape_str(c10::IntArrayRef s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

// Tensors that HF checkpoints may carry but that are derived state, not weights.
bool ignorable(const std::string& name) {
  return name.find("rotary_emb.inv_freq") != std::string::npos;
}

std::string list_block(const std::string& title, const std::vector<std::string>& items) {
  if (items.empty()) return {};
  std::string out = "\n  " + title + " (" + std::to_string(items.size()) + "):";
  const size_t show = 12;
  for (size_t i = 0; i < items.size() && i < show; ++i) out += "\n    " + items[i];
  if (items.size() > show) out += "\n    ... and " + std::to_string(items.size() - show) + " more";
  return out;
}
}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> model_state(const CausalLM& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : model->named_parameters(/*recurse=*/true)) out.emplace_back(p.key(), p.value());
  return out;
}

void load_weights(CausalLM& model, const io::Checkpoint& ckpt, torch::ScalarType dtype, torch::Device device) {
  std::vector<std::string> missing, mismatched, unexpected;
  std::set<std::string> used;
  auto params = model->named_parameters(true);
  for (const auto& p : params) {
    const std::string& name = p.key();
    if (!ckpt.contains(name)) {
      missing.push_back(name + " " + shape_str(p.value().sizes()));
      continue;
    }
    used.insert(name);
    const auto& view = ckpt.at(name);
    if (c10::IntArrayRef(view.shape) != p.value().sizes())
      mismatched.push_back(name + ": checkpoint " + shape_str(view.shape) + ", model expects " +
                           shape_str(p.value().sizes()));
  }
  const bool tied = model->lm_head.is_empty();
  for (const auto& name : ckpt.names()) {
    if (used.count(name) || ignorable(name)) continue;
    if (tied && name == "lm_head.weight") continue;  // HF ignores a stored copy of tied weights
    unexpected.push_back(name + " " + shape_str(ckpt.at(name).shape));
  }
  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    fail_input(ckpt.path() + ": checkpoint does not match config.json" + list_block("missing tensors", missing) +
                   list_block("shape mismatches", mismatched) + list_block("unexpected tensors", unexpected),
               "check that config.json belongs to these weights (architecture, sizes, tie_word_embeddings)");
  }
  torch::NoGradGuard no_grad;
  for (auto& p : params) {
    const auto& view = ckpt.at(p.key());
    auto src = tensor_from_view(view, ckpt.file_of(p.key()));
    if (src.scalar_type() != torch::kFloat32 && src.scalar_type() != torch::kBFloat16 &&
        src.scalar_type() != torch::kHalf && src.scalar_type() != torch::kDouble)
      fail_input(ckpt.path() + ": tensor '" + p.key() + "' has dtype " + io::dtype_name(view.dtype) +
                 ", expected a floating-point type");
    // Same dtype on CPU: keep the zero-copy view; otherwise convert (a copy).
    auto t = (src.scalar_type() == dtype && device.is_cpu()) ? src : src.to(device, dtype);
    p.value().set_data(t);
    p.value().set_requires_grad(false);
  }
}

void load_named_weights(CausalLM& model, std::vector<std::pair<std::string, torch::Tensor>> tensors,
                        torch::ScalarType dtype, torch::Device device, const std::string& source) {
  std::map<std::string, torch::Tensor> by_name;
  for (auto& [name, t] : tensors) by_name[name] = std::move(t);
  std::vector<std::string> missing, mismatched, unexpected;
  auto params = model->named_parameters(true);
  for (const auto& p : params) {
    auto it = by_name.find(p.key());
    if (it == by_name.end())
      missing.push_back(p.key() + " " + shape_str(p.value().sizes()));
    else if (it->second.sizes() != p.value().sizes())
      mismatched.push_back(p.key() + ": file " + shape_str(it->second.sizes()) + ", model expects " +
                           shape_str(p.value().sizes()));
  }
  const bool tied = model->lm_head.is_empty();
  for (const auto& [name, t] : by_name)
    if (!params.contains(name) && !(tied && name == "lm_head.weight")) unexpected.push_back(name + " " + shape_str(t.sizes()));
  if (!missing.empty() || !mismatched.empty() || !unexpected.empty())
    fail_input(source + ": the tensors do not match the model its metadata describes" +
                   list_block("missing tensors", missing) + list_block("shape mismatches", mismatched) +
                   list_block("unexpected tensors", unexpected),
               "the file is damaged or not a complete model: convert it again");
  torch::NoGradGuard no_grad;
  for (auto& p : params) {
    p.value().set_data(by_name.at(p.key()).to(device, dtype));
    p.value().set_requires_grad(false);
  }
}

LoadedModel load_model(const std::string& dir, const LoadOptions& opts) {
  auto t0 = std::chrono::steady_clock::now();
  LoadedModel lm;
  lm.dir = dir;
  lm.device = resolve_device(opts.device);
  lm.dtype = resolve_dtype(opts.dtype, lm.device);
  if (is_gguf_file(dir)) {
    const auto f = io::GgufFile::open(dir);
    lm.hp = hparams_from_gguf(*f);
    lm.model = CausalLM(lm.hp);
    load_named_weights(lm.model, gguf_hf_tensors(*f, lm.hp), lm.dtype, lm.device, dir);
  } else {
    lm.hp = load_hparams(dir);
    auto ckpt = io::Checkpoint::open(dir);
    lm.model = CausalLM(lm.hp);
    load_weights(lm.model, ckpt, lm.dtype, lm.device);
  }
  lm.model->eval();
  lm.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log::debug("loaded " + dir + " (" + arch_name(lm.hp.arch) + ", " + std::to_string(lm.hp.num_parameters()) +
             " parameters) as " + dtype_label(lm.dtype) + " on " + lm.device.str() + " in " +
             std::to_string(lm.load_seconds) + " s");
  return lm;
}

}  // namespace loratune
