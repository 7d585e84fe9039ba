#include "lora/peft.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "io/json_fields.h"
#include "io/safetensors.h"
#include "model/tensor_io.h"

namespace loratune {
namespace {
using json = nlohmann::json;

std::string shape_str(const std::vector<int64_t>& s) { return io::shape_to_string(s); }

std::string list_block(const std::string& title, const std::vector<std::string>& items) {
  if (items.empty()) return {};
  std::string out = "\n  " + title + " (" + std::to_string(items.size()) + "):";
  const size_t show = 12;
  for (size_t i = 0; i < items.size() && i < show; ++i) out += "\n    " + items[i];
  if (items.size() > show) out += "\n    ... and " + std::to_string(items.size() - show) + " more";
  return out;
}

// A number as PEFT writes it: integral values as integers (lora_alpha 16, not 16.0).
json peft_number(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) return json(static_cast<int64_t>(v));
  return json(v);
}

// Typed access to adapter_config.json keys; every error names the file and the key. Integers may be written
// as 8.0 (Python json.dump of a float).
using Reader = io::JsonFields;
const char* const kTypeHint = "fix adapter_config.json (is this a PEFT LoRA adapter?)";

struct PeftConfig {
  LoraOptions opts;
  std::string base_model;
};

PeftConfig parse_peft_config(const std::string& adapter_dir) {
  if (!is_directory(adapter_dir))
    fail_input("adapter directory '" + adapter_dir + "' does not exist or is not a directory",
               "pass the directory that holds adapter_config.json and adapter_model.safetensors");
  const std::string path = join_path(adapter_dir, kPeftConfigFile);
  if (!path_exists(path))
    fail_input(adapter_dir + " has no " + kPeftConfigFile,
               "pass a PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors)");
  json j;
  try {
    j = json::parse(read_text_file(path));
  } catch (const json::parse_error& e) {
    fail_input(path + ": not valid JSON (" + e.what() + ")", "fix or re-export adapter_config.json");
  }
  if (!j.is_object()) fail_input(path + ": expected a JSON object", "fix or re-export adapter_config.json");
  const Reader r(j, path, kTypeHint, Reader::Integers::AllowIntegral);

  // What this file is.
  if (!r.has("peft_type")) fail_input(path + ": key 'peft_type' is missing", "a PEFT adapter config has \"peft_type\": \"LORA\"");
  const std::string peft_type = r.get<std::string>("peft_type", "");
  if (peft_type != "LORA")
    fail_input(path + ": peft_type is '" + peft_type + "'; loratune reads LoRA adapters (peft_type \"LORA\") only",
               "use a LoRA adapter, or merge this adapter into the base model with PEFT and load the merged model");
  const std::string task = r.get<std::string>("task_type", "CAUSAL_LM");
  if (task != "CAUSAL_LM")
    fail_input(path + ": task_type is '" + task + "'; loratune loads causal-LM adapters (task_type \"CAUSAL_LM\")",
               "use an adapter trained for text generation");

  // Features that change the math beyond y = Wx + s*BAx are refused rather than silently ignored.
  const std::string merge_hint = "merge the adapter into the base model with PEFT (merge_and_unload) and load the "
                                 "merged model, or train a plain LoRA adapter";
  if (r.get<bool>("use_dora", false))
    fail_input(path + ": DoRA adapters (use_dora: true) are not supported", merge_hint);
  if (r.is_set("modules_to_save"))
    fail_input(path + ": modules_to_save " + j.at("modules_to_save").dump() +
                   " is not supported (those modules are stored as full trained copies)",
               merge_hint);
  const std::string bias = r.get<std::string>("bias", "none");
  if (bias != "none")
    fail_input(path + ": bias '" + bias + "' is not supported (the adapter trains bias terms); only \"none\" is",
               merge_hint);
  if (r.get<bool>("fan_in_fan_out", false))
    fail_input(path + ": fan_in_fan_out: true is not supported (it is for GPT-2 style Conv1D weights, which "
                      "Llama-family models do not have)",
               "is this adapter for another base model? Llama-family adapters have fan_in_fan_out false");
  if (r.get<bool>("lora_bias", false))
    fail_input(path + ": lora_bias: true is not supported (lora_B carries a bias)", merge_hint);
  for (const char* key : {"layer_replication", "exclude_modules", "target_parameters", "trainable_token_indices"})
    if (r.is_set(key))
      fail_input(path + ": '" + key + "' " + j.at(key).dump() + " is not supported", merge_hint);
  if (r.is_set("layers_pattern")) {
    const json& lp = j.at("layers_pattern");
    const bool ok = lp == json("layers") || lp == json::array({"layers"});
    if (!ok)
      fail_input(path + ": layers_pattern " + lp.dump() + " does not name this model's layer list",
                 "Llama-family models keep their decoder layers in 'layers': set layers_pattern to \"layers\" or null");
  }

  PeftConfig out;
  LoraOptions& o = out.opts;
  out.base_model = r.get<std::string>("base_model_name_or_path", "");
  // Defaults are PEFT LoraConfig's for keys it may omit.
  o.r = r.get<int64_t>("r", 8);
  o.alpha = r.get<double>("lora_alpha", 8.0);
  o.dropout = r.get<double>("lora_dropout", 0.0);
  o.rslora = r.get<bool>("use_rslora", false);

  // init_lora_weights only matters for training from scratch, except for schemes that rewrite the base weights.
  o.init = LoraInit::Kaiming;
  if (r.has("init_lora_weights")) {
    const json& v = j.at("init_lora_weights");
    if (v.is_string()) {
      std::string s = v.get<std::string>();
      std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      for (const char* scheme : {"pissa", "olora", "loftq", "corda"})
        if (starts_with(s, scheme))
          fail_input(path + ": init_lora_weights '" + v.get<std::string>() +
                         "' changes the base model's weights, so this adapter does not apply to the original base model",
                     "convert it to a plain LoRA adapter with PEFT (save_pretrained with "
                     "path_initial_model_for_weight_conversion), or merge it with PEFT and load the merged model");
      if (s == "gaussian") o.init = LoraInit::Gaussian;
    } else if (!v.is_boolean()) {
      r.bad("init_lora_weights", "true, false or a string");
    }
  }

  if (!r.has("target_modules"))
    fail_input(path + ": key 'target_modules' is missing",
               "add it, e.g. \"target_modules\": [\"q_proj\", \"v_proj\"] (PEFT's default for Llama-family models)");
  const json& tm = j.at("target_modules");
  if (tm.is_string()) {
    const std::string s = tm.get<std::string>();
    if (s.empty()) r.bad("target_modules", "a non-empty list or string");
    o.targets = {s == "all-linear" ? s : "regex:" + s};
  } else if (tm.is_array() && !tm.empty()) {
    o.targets.clear();
    for (const auto& e : tm) {
      if (!e.is_string() || e.get<std::string>().empty()) r.bad("target_modules", "a list of module names");
      o.targets.push_back(e.get<std::string>());
    }
  } else {
    r.bad("target_modules", "a non-empty list of module names or a regex string");
  }

  if (r.has("layers_to_transform")) {
    const json& lt = j.at("layers_to_transform");
    if (lt.is_number_integer()) {
      o.layers = {lt.get<int64_t>()};
    } else if (lt.is_array()) {
      for (const auto& e : lt) {
        if (!e.is_number_integer()) r.bad("layers_to_transform", "null, an integer or a list of integers");
        o.layers.push_back(e.get<int64_t>());
      }
    } else {
      r.bad("layers_to_transform", "null, an integer or a list of integers");
    }
  }

  for (const char* key : {"rank_pattern", "alpha_pattern"}) {
    if (!r.has(key)) continue;
    const json& pat = j.at(key);
    if (!pat.is_object()) r.bad(key, "an object of module pattern -> value");
    for (const auto& [k, v] : pat.items()) {
      if (std::string(key) == "rank_pattern") {
        const bool integral = v.is_number_integer() || (v.is_number_float() && v.get<double>() == std::floor(v.get<double>()));
        if (!integral)
          fail_input(path + ": rank_pattern['" + k + "'] must be an integer >= 1, got " + v.dump(), "fix adapter_config.json");
        o.rank_pattern[k] = static_cast<int64_t>(v.get<double>());
      } else {
        if (!v.is_number())
          fail_input(path + ": alpha_pattern['" + k + "'] must be a positive number, got " + v.dump(), "fix adapter_config.json");
        o.alpha_pattern[k] = v.get<double>();
      }
    }
  }
  check_lora_options(
      o,
      [&](LoraField f, const std::string& key) {
        switch (f) {
          case LoraField::R: return path + ": r";
          case LoraField::Alpha: return path + ": lora_alpha";
          case LoraField::Dropout: return path + ": lora_dropout";
          case LoraField::RankPattern: return path + ": rank_pattern['" + key + "']";
          case LoraField::AlphaPattern: return path + ": alpha_pattern['" + key + "']";
        }
        return path;
      },
      "fix adapter_config.json");
  return out;
}

// A plan error (from the config's options) gets the config file's path in front.
std::vector<LoraTarget> plan_for_config(const CausalLM& model, const Adapter& adapter) {
  try {
    return plan_lora(model->hparams(), adapter.options, TargetCheck::AnyMatch);
  } catch (const Error& e) {
    throw Error(e.kind(), adapter.config_path + ": " + e.message(),
                e.hint().empty() ? "is this adapter for another base model?" : e.hint());
  }
}

}  // namespace

void save_peft_adapter(const std::string& dir, const CausalLM& model, const LoraOptions& opts,
                       const std::string& base_model) {
  if (lora_modules(model).empty())
    fail_input("the model has no LoRA adapters to save to " + dir,
               "inject adapters (inject_lora) or load one (load_peft_adapter) before saving");
  save_peft_adapter(dir, model, opts, base_model, plan_lora(model->hparams(), opts, TargetCheck::AnyMatch));
}

void save_peft_adapter(const std::string& dir, const CausalLM& model, const LoraOptions& opts,
                       const std::string& base_model, const std::vector<LoraTarget>& plan) {
  const auto mods = lora_modules(model);
  if (mods.empty())
    fail_input("the model has no LoRA adapters to save to " + dir,
               "inject adapters (inject_lora) or load one (load_peft_adapter) before saving");
  // The config must describe exactly these adapters, or PEFT would rebuild a different model.
  LT_CHECK(plan.size() == mods.size(), "save_peft_adapter: the LoRA options select " + std::to_string(plan.size()) +
                                           " modules but the model has " + std::to_string(mods.size()) + " adapters");
  for (size_t i = 0; i < plan.size(); ++i) {
    const auto& t = plan[i];
    const auto& m = mods[i];
    LT_CHECK(t.path == m.path && t.r == m.adapter->r() && t.alpha == m.adapter->alpha() &&
                 t.scaling == m.adapter->scaling(),
             "save_peft_adapter: the LoRA options disagree with the model's adapter at " + m.path);
  }

  if (path_exists(dir) && !is_directory(dir))
    fail_input("adapter output path '" + dir + "' exists and is not a directory", "choose another output path");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail_runtime("cannot create adapter directory '" + dir + "': " + ec.message(), "check the path and permissions");

  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& m : mods) {
    tensors.emplace_back(peft_tensor_name(m.path, LoraMatrix::A), m.adapter->A().detach().to(torch::kFloat32));
    tensors.emplace_back(peft_tensor_name(m.path, LoraMatrix::B), m.adapter->B().detach().to(torch::kFloat32));
  }
  // Weights first: the config is what makes the directory an adapter, so it is written last.
  save_safetensors(join_path(dir, kPeftWeightsFile), tensors, {{"format", "pt"}});

  json target_modules;
  const auto& targets = opts.targets;
  if (targets.size() == 1 && starts_with(targets[0], "regex:")) {
    target_modules = targets[0].substr(6);
  } else {
    // all-linear is saved expanded, as PEFT does; lists keep their order without duplicates.
    std::vector<std::string> names;
    if (targets.size() == 1 && targets[0] == "all-linear")
      for (const auto& t : plan) names.push_back(t.name);
    else
      names = targets;
    target_modules = json::array();
    std::set<std::string> seen;
    for (const auto& n : names)
      if (seen.insert(n).second) target_modules.push_back(n);
  }
  json layers = nullptr;
  if (!opts.layers.empty()) {
    std::set<int64_t> sorted(opts.layers.begin(), opts.layers.end());
    layers = json(std::vector<int64_t>(sorted.begin(), sorted.end()));
  }
  json rank_pattern = json::object(), alpha_pattern = json::object();
  for (const auto& [k, v] : opts.rank_pattern) rank_pattern[k] = v;
  for (const auto& [k, v] : opts.alpha_pattern) alpha_pattern[k] = peft_number(v);

  // nlohmann::json objects keep keys sorted, like PEFT's json.dumps(sort_keys=True).
  json cfg = {
      {"alpha_pattern", alpha_pattern},
      {"base_model_name_or_path", base_model},
      {"bias", "none"},
      {"fan_in_fan_out", false},
      {"inference_mode", true},
      {"init_lora_weights", opts.init == LoraInit::Gaussian ? json(lora_init_name(opts.init)) : json(true)},
      {"layers_pattern", nullptr},
      {"layers_to_transform", layers},
      {"lora_alpha", peft_number(opts.alpha)},
      {"lora_dropout", opts.dropout},
      {"modules_to_save", nullptr},
      {"peft_type", "LORA"},
      {"r", opts.r},
      {"rank_pattern", rank_pattern},
      {"target_modules", target_modules},
      {"task_type", "CAUSAL_LM"},
      {"use_dora", false},
      {"use_rslora", opts.rslora},
  };
  write_file_atomic(join_path(dir, kPeftConfigFile), cfg.dump(2) + "\n");
}

LoraOptions read_peft_config(const std::string& adapter_dir) { return parse_peft_config(adapter_dir).opts; }

const io::TensorView* Adapter::find(const std::string& module_path, LoraMatrix m) const {
  for (const auto& t : tensors)
    if (t.name && t.name->module_path == module_path && t.name->matrix == m) return t.view;
  return nullptr;
}

Adapter read_peft_adapter(const std::string& adapter_dir) {
  PeftConfig cfg = parse_peft_config(adapter_dir);
  Adapter a;
  a.dir = adapter_dir;
  a.config_path = join_path(adapter_dir, kPeftConfigFile);
  a.weights_path = join_path(adapter_dir, kPeftWeightsFile);
  a.options = std::move(cfg.opts);
  a.base_model = std::move(cfg.base_model);
  if (!path_exists(a.weights_path)) {
    if (path_exists(join_path(adapter_dir, "adapter_model.bin")))
      fail_input(adapter_dir + " holds adapter_model.bin (a pickled PyTorch file), which loratune does not read",
                 "convert it to adapter_model.safetensors, e.g. in Python: safetensors.torch.save_file("
                 "torch.load('adapter_model.bin'), 'adapter_model.safetensors', metadata={'format': 'pt'})");
    fail_input(adapter_dir + " has no " + kPeftWeightsFile, "pass a complete PEFT adapter directory");
  }
  a.weights = io::SafetensorsFile::open(a.weights_path);
  // Names may carry PEFT's prefix (or not) and an adapter name (".lora_A.default.weight"; PEFT strips it on
  // save, other writers may not).
  for (const auto& v : a.weights->tensors()) a.tensors.push_back({parse_peft_tensor_name_lenient(v.name), &v});
  return a;
}

LoraInjection apply_adapter(CausalLM& model, const Adapter& adapter) {
  const std::string& file = adapter.weights_path;
  const auto plan = plan_for_config(model, adapter);

  // Expected factor -> shape, from the plan.
  using Key = std::pair<std::string, LoraMatrix>;
  std::map<Key, std::vector<int64_t>> expected;
  for (const auto& t : plan) {
    expected[{t.path, LoraMatrix::A}] = {t.r, t.in};
    expected[{t.path, LoraMatrix::B}] = {t.out, t.r};
  }
  std::map<Key, const io::TensorView*> found;
  std::vector<std::string> unexpected, mismatched, duplicated, bad_dtype;
  for (const auto& t : adapter.tensors) {
    const io::TensorView& v = *t.view;
    if (!t.name) {
      unexpected.push_back(v.name + " " + shape_str(v.shape));
      continue;
    }
    const Key key{t.name->module_path, t.name->matrix};
    if (!found.emplace(key, &v).second)
      duplicated.push_back(v.name + " (another tensor also maps to " + lora_parameter_name(key.first, key.second) + ")");
    auto it = expected.find(key);
    if (it == expected.end()) {
      unexpected.push_back(v.name + " " + shape_str(v.shape));
      continue;
    }
    if (v.shape != it->second)
      mismatched.push_back(v.name + ": adapter " + shape_str(v.shape) + ", model expects " + shape_str(it->second));
    if (v.dtype != io::DType::F32 && v.dtype != io::DType::F16 && v.dtype != io::DType::BF16 && v.dtype != io::DType::F64)
      bad_dtype.push_back(v.name + " (" + io::dtype_name(v.dtype) + ")");
  }
  std::vector<std::string> missing;
  for (const auto& [key, shape] : expected)
    if (!found.count(key)) missing.push_back(peft_tensor_name(key.first, key.second) + " " + shape_str(shape));
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty() || !duplicated.empty() || !bad_dtype.empty()) {
    const auto& hp = model->hparams();
    fail_input(file + ": the adapter does not fit this model" + list_block("missing tensors", missing) +
                   list_block("unexpected tensors", unexpected) + list_block("shape mismatches", mismatched) +
                   list_block("duplicate tensors", duplicated) + list_block("non-float tensors", bad_dtype),
               "adapter for another base model? adapter_config.json names base model '" + adapter.base_model +
                   "'; this model is " + arch_name(hp.arch) + " with hidden size " + std::to_string(hp.hidden_size) +
                   " and " + std::to_string(hp.num_layers) +
                   " layers. Also check that r / rank_pattern / target_modules in adapter_config.json match the tensors");
  }

  auto injection = inject_lora(model, plan, adapter.options, /*seed=*/0);  // init is overwritten below
  torch::NoGradGuard no_grad;
  for (const auto& m : lora_modules(model)) {
    if (!expected.count({m.path, LoraMatrix::A})) continue;  // an adapter that was there before (not ours)
    const auto* a = found.at({m.path, LoraMatrix::A});
    const auto* b = found.at({m.path, LoraMatrix::B});
    m.adapter->A().copy_(tensor_from_view(*a, adapter.weights).to(torch::kFloat32));
    m.adapter->B().copy_(tensor_from_view(*b, adapter.weights).to(torch::kFloat32));
  }
  return injection;
}

LoraInjection load_peft_adapter(CausalLM& model, const std::string& adapter_dir) {
  return apply_adapter(model, read_peft_adapter(adapter_dir));
}

}  // namespace loratune
