#include "export/gguf_lora.h"

#include <cmath>
#include <map>
#include <unordered_map>

#include "core/error.h"
#include "core/strings.h"
#include "export/gguf_model.h"
#include "model/arch.h"

namespace loratune::exporter {
namespace {

const char* const kWrongBaseHint = "is this adapter for another base model? (llama.cpp: \"maybe wrong base model?\")";

// "model.layers.12.mlp.down_proj" -> 12 (or -1 when the path has no layer index).
int64_t layer_of(const std::string& path) {
  const std::string pre = "model.layers.";
  if (!starts_with(path, pre)) return -1;
  const size_t end = path.find('.', pre.size());
  try {
    return std::stoll(path.substr(pre.size(), end - pre.size()));
  } catch (const std::exception&) {
    return -1;
  }
}

std::string last_component(const std::string& path) {
  const size_t dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

torch::Tensor decode(const io::GgufTensorInfo& ti) {
  const std::vector<float> v = io::ggml_decode(ti.data, ti.numel(), ti.type);
  return torch::from_blob(const_cast<float*>(v.data()), gguf_ne(ti.ne), torch::kFloat32).clone();
}

}  // namespace

std::vector<LoraWeights> lora_weights(const CausalLM& model) {
  std::vector<LoraWeights> out;
  for (const auto& m : lora_modules(model))
    out.push_back({m.path, m.adapter->A().detach().to(torch::kCPU, torch::kFloat32).clone(),
                   m.adapter->B().detach().to(torch::kCPU, torch::kFloat32).clone(), m.adapter->scaling()});
  return out;
}

GgufLoraPlan plan_gguf_lora(std::vector<LoraWeights> weights) {
  LT_CHECK(!weights.empty(), "plan_gguf_lora without adapters");
  GgufLoraPlan plan;
  plan.alpha = weights.front().scaling * static_cast<double>(weights.front().a.size(0));
  for (auto& w : weights) {
    const double runtime = plan.alpha / static_cast<double>(w.a.size(0));  // what llama.cpp will use
    const double ratio = w.scaling / runtime;
    if (std::fabs(ratio - 1.0) > 1e-12) {
      w.b = w.b * ratio;
      plan.rescaled.push_back(w.module_path);
    }
    w.scaling = runtime;
  }
  plan.weights = std::move(weights);
  return plan;
}

GgufLoraPlan write_gguf_lora(const std::string& path, const CausalLM& model, io::GgmlType requested,
                             const std::string& name, const std::string& model_dir) {
  const ModelHParams& hp = model->hparams();
  const GgufArch arch = gguf_arch(hp, model_dir);
  auto weights = lora_weights(model);
  if (weights.empty())
    fail_input("the model has no LoRA adapter to write as a GGUF adapter", "pass {opt:adapter} DIR (or {opt:run} RUN_DIR)");
  GgufLoraPlan plan = plan_gguf_lora(std::move(weights));

  io::GgufWriter w;
  w.set(arch.key(GgufKey::GeneralArchitecture), io::GgufValue::string(arch.name));
  w.set(arch.key(GgufKey::GeneralType), io::GgufValue::string("adapter"));
  w.set(arch.key(GgufKey::GeneralName), io::GgufValue::string(name));
  w.set(arch.key(GgufKey::AdapterType), io::GgufValue::string("lora"));
  w.set(arch.key(GgufKey::AdapterLoraAlpha), io::GgufValue::f32(static_cast<float>(plan.alpha)));
  for (const auto& lw : plan.weights) {
    const RopePermute p = rope_permute_of(arch.arch, lw.module_path + ".weight");
    const std::vector<int64_t> a_shape(lw.a.sizes().begin(), lw.a.sizes().end());
    const std::vector<int64_t> b_shape(lw.b.sizes().begin(), lw.b.sizes().end());
    const io::GgmlType ta = storage_type(a_shape, requested), tb = storage_type(b_shape, requested);
    w.add_tensor(gguf_lora_tensor_name(arch.arch, lw.module_path, LoraMatrix::A), gguf_ne(a_shape), ta,
                 gguf_tensor_bytes(lw.a, ta));
    w.add_tensor(gguf_lora_tensor_name(arch.arch, lw.module_path, LoraMatrix::B), gguf_ne(b_shape), tb,
                 gguf_tensor_bytes(to_gguf_rows(lw.b, p, hp, arch), tb));
  }
  w.write(path);
  return plan;
}

std::vector<LoraWeights> read_gguf_lora(const io::GgufFile& f, const ModelHParams& hp) {
  const GgufArch arch = gguf_arch(hp, f.path());
  const std::string type_key = arch.key(GgufKey::GeneralType), adapter_key = arch.key(GgufKey::AdapterType),
                    arch_key = arch.key(GgufKey::GeneralArchitecture);
  if (f.get_string(type_key) != "adapter")
    fail_input(f.path() + ": " + type_key + " is '" + f.get_string(type_key) + "', not 'adapter'",
               "pass a LoRA adapter GGUF (loratune export {opt:format} gguf-lora)");
  if (f.get_string(adapter_key) != "lora")
    fail_input(f.path() + ": " + adapter_key + " is '" + f.get_string(adapter_key) + "', not 'lora'");
  if (f.get_string(arch_key) != arch.name)
    fail_input(f.path() + ": the adapter is for architecture '" + f.get_string(arch_key) + "', the model is '" +
                   arch.name + "'",
               kWrongBaseHint);
  const double alpha = f.get_f32(arch.key(GgufKey::AdapterLoraAlpha));

  std::map<std::string, std::pair<const io::GgufTensorInfo*, const io::GgufTensorInfo*>> pairs;  // path -> (a, b)
  for (const auto& ti : f.tensors()) {
    auto n = parse_gguf_lora_tensor_name(arch.arch, ti.name);
    if (!n || layer_of(n->module_path) >= hp.num_layers)
      fail_input(f.path() + ": tensor '" + ti.name + "' is not a LoRA factor of a " + arch.name + " model with " +
                     std::to_string(hp.num_layers) + " layers",
                 kWrongBaseHint);
    if (ti.ne.size() != 2) fail_input(f.path() + ": tensor '" + ti.name + "' is not a matrix");
    auto& slot = n->matrix == LoraMatrix::A ? pairs[n->module_path].first : pairs[n->module_path].second;
    slot = &ti;
  }
  std::vector<LoraWeights> out;
  for (const auto& [path, ab] : pairs) {
    if (!ab.first || !ab.second)
      fail_input(f.path() + ": the LoRA pair for '" + gguf_tensor_name(arch.arch, path + ".weight") + "' is missing " +
                 (ab.first ? "lora_b" : "lora_a"));
    torch::Tensor a = decode(*ab.first), b = decode(*ab.second);  // [r, in], [out, r]
    if (a.size(0) != b.size(1))
      fail_input(f.path() + ": '" + ab.first->name + "' has rank " + std::to_string(a.size(0)) + " but '" +
                 ab.second->name + "' has rank " + std::to_string(b.size(1)));
    b = from_gguf_rows(b, rope_permute_of(arch.arch, path + ".weight"), hp, arch);
    out.push_back({path, a, b, alpha / static_cast<double>(a.size(0))});
  }
  return out;
}

void apply_lora_weights(CausalLM& model, const std::vector<LoraWeights>& weights) {
  std::unordered_map<std::string, LinearImpl*> linears;
  for (const auto& item : model->named_modules("", /*include_self=*/false))
    if (auto* lin = dynamic_cast<LinearImpl*>(item.value().get())) linears[item.key()] = lin;
  std::vector<LoraTarget> plan;
  for (const auto& w : weights) {
    auto it = linears.find(w.module_path);
    if (it == linears.end())
      fail_input("the adapter has factors for '" + w.module_path + "', which the model does not have", kWrongBaseHint);
    const auto& weight = it->second->weight;  // [out, in]
    if (w.a.size(1) != weight.size(1) || w.b.size(0) != weight.size(0))
      fail_input("the adapter for '" + w.module_path + "' is [" + std::to_string(w.b.size(0)) + " x " +
                     std::to_string(w.a.size(1)) + "], the model's weight is [" + std::to_string(weight.size(0)) +
                     " x " + std::to_string(weight.size(1)) + "]",
                 kWrongBaseHint);
    LoraTarget t;
    t.path = w.module_path;
    t.name = last_component(w.module_path);
    t.layer = layer_of(w.module_path);
    t.in = weight.size(1);
    t.out = weight.size(0);
    t.r = w.a.size(0);
    t.scaling = w.scaling;
    t.alpha = w.scaling * static_cast<double>(t.r);
    plan.push_back(t);
  }
  LoraOptions opts;
  opts.dropout = 0.0;
  inject_lora(model, plan, opts, /*seed=*/0);
  torch::NoGradGuard no_grad;
  std::map<std::string, const LoraWeights*> by_path;
  for (const auto& w : weights) by_path[w.module_path] = &w;
  for (const auto& m : lora_modules(model)) {
    auto it = by_path.find(m.path);
    if (it == by_path.end()) continue;
    m.adapter->A().copy_(it->second->a);
    m.adapter->B().copy_(it->second->b);
  }
}

}  // namespace loratune::exporter
