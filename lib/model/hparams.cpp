#include "model/hparams.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"

namespace loratune {
namespace {
using json = nlohmann::json;

struct Reader {
  const json& j;
  const std::string& path;

  bool has(const char* key) const { return j.contains(key) && !j.at(key).is_null(); }
  [[noreturn]] void bad(const char* key, const std::string& want) const {
    fail_input(path + ": key '" + key + "' must be " + want + ", got " + j.at(key).dump(),
               "fix config.json (is this a Hugging Face causal-LM config?)");
  }
  int64_t int_req(const char* key) const {
    if (!has(key)) fail_input(path + ": required key '" + key + "' is missing",
                              "a Hugging Face config.json for a Llama-family model has it");
    return int_opt(key, 0);
  }
  int64_t int_opt(const char* key, int64_t def) const {
    if (!has(key)) return def;
    if (!j.at(key).is_number_integer()) bad(key, "an integer");
    return j.at(key).get<int64_t>();
  }
  double num_opt(const char* key, double def) const {
    if (!has(key)) return def;
    if (!j.at(key).is_number()) bad(key, "a number");
    return j.at(key).get<double>();
  }
  bool bool_opt(const char* key, bool def) const {
    if (!has(key)) return def;
    if (!j.at(key).is_boolean()) bad(key, "true or false");
    return j.at(key).get<bool>();
  }
  std::string str_opt(const char* key, const std::string& def) const {
    if (!has(key)) return def;
    if (!j.at(key).is_string()) bad(key, "a string");
    return j.at(key).get<std::string>();
  }
};

Arch detect_arch(const json& j, const std::string& path) {
  std::string model_type = j.contains("model_type") && j["model_type"].is_string() ? j["model_type"].get<std::string>() : "";
  std::string cls;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string())
    cls = j["architectures"][0].get<std::string>();
  const std::pair<const char*, Arch> types[] = {
      {"llama", Arch::Llama}, {"mistral", Arch::Mistral}, {"qwen2", Arch::Qwen2}, {"qwen3", Arch::Qwen3}};
  for (auto& [name, arch] : types)
    if (model_type == name) return arch;
  for (auto& [name, arch] : types)
    if (cls == arch_hf_class(arch)) return arch;
  std::string what = !model_type.empty() ? "model_type '" + model_type + "'"
                     : !cls.empty()      ? "architecture '" + cls + "'"
                                         : "no model_type or architectures key";
  fail_input(path + ": unsupported model (" + what + ")",
             "loratune supports these Llama-family architectures: " + join(supported_archs(), ", "));
}

void parse_rope(const Reader& r, const json& j, ModelHParams& hp) {
  const json* scaling = nullptr;
  // transformers v5 writes rope_parameters {rope_theta, rope_type, factor, ...}.
  if (j.contains("rope_parameters") && !j["rope_parameters"].is_null()) {
    if (!j["rope_parameters"].is_object()) r.bad("rope_parameters", "an object");
    scaling = &j["rope_parameters"];
    if (scaling->contains("rope_theta")) {
      Reader rp{*scaling, r.path};
      hp.rope.theta = rp.num_opt("rope_theta", 10000.0);
    } else {
      hp.rope.theta = r.num_opt("rope_theta", 10000.0);
    }
  } else {
    hp.rope.theta = r.num_opt("rope_theta", 10000.0);
    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
      if (!j["rope_scaling"].is_object()) r.bad("rope_scaling", "an object or null");
      scaling = &j["rope_scaling"];
    }
  }
  if (!scaling) return;
  Reader s{*scaling, r.path};
  std::string type = s.str_opt("rope_type", s.str_opt("type", "default"));
  if (type == "default") {
    hp.rope.type = RopeType::Default;
  } else if (type == "linear") {
    hp.rope.type = RopeType::Linear;
    hp.rope.factor = s.num_opt("factor", 1.0);
  } else if (type == "llama3") {
    hp.rope.type = RopeType::Llama3;
    hp.rope.factor = s.num_opt("factor", 8.0);
    hp.rope.low_freq_factor = s.num_opt("low_freq_factor", 1.0);
    hp.rope.high_freq_factor = s.num_opt("high_freq_factor", 4.0);
    hp.rope.original_max_position_embeddings = s.int_opt("original_max_position_embeddings", 8192);
    if (hp.rope.high_freq_factor <= hp.rope.low_freq_factor)
      fail_input(r.path + ": llama3 rope scaling needs high_freq_factor > low_freq_factor");
  } else {
    fail_input(r.path + ": rope scaling type '" + type + "' is not supported",
               "supported: default, linear, llama3; loratune does not approximate other rope types");
  }
  if (!(hp.rope.factor > 0)) fail_input(r.path + ": rope scaling factor must be > 0");
}
}  // namespace

const char* arch_name(Arch a) {
  switch (a) {
    case Arch::Llama: return "llama";
    case Arch::Mistral: return "mistral";
    case Arch::Qwen2: return "qwen2";
    case Arch::Qwen3: return "qwen3";
  }
  return "?";
}

const char* arch_hf_class(Arch a) {
  switch (a) {
    case Arch::Llama: return "LlamaForCausalLM";
    case Arch::Mistral: return "MistralForCausalLM";
    case Arch::Qwen2: return "Qwen2ForCausalLM";
    case Arch::Qwen3: return "Qwen3ForCausalLM";
  }
  return "?";
}

std::vector<std::string> supported_archs() { return {"llama", "mistral", "qwen2", "qwen3"}; }

const char* rope_type_name(RopeType t) {
  switch (t) {
    case RopeType::Default: return "default";
    case RopeType::Linear: return "linear";
    case RopeType::Llama3: return "llama3";
  }
  return "?";
}

int64_t ModelHParams::num_parameters() const {
  int64_t H = hidden_size;
  int64_t attn = H * q_dim() + 2 * H * kv_dim() + q_dim() * H;
  if (qkv_bias) attn += q_dim() + 2 * kv_dim();
  if (o_bias) attn += H;
  if (qk_norm) attn += 2 * head_dim;
  int64_t mlp = 3 * H * intermediate_size + (mlp_bias ? 2 * intermediate_size + H : 0);
  int64_t layer = attn + mlp + 2 * H;
  int64_t total = vocab_size * H + num_layers * layer + H;
  if (!tie_word_embeddings) total += vocab_size * H;
  return total;
}

ModelHParams parse_hf_config(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    fail_input(path + ": invalid JSON: " + e.what());
  }
  if (!j.is_object()) fail_input(path + ": expected a JSON object");
  Reader r{j, path};
  ModelHParams hp;
  hp.arch = detect_arch(j, path);
  hp.vocab_size = r.int_req("vocab_size");
  hp.hidden_size = r.int_req("hidden_size");
  hp.intermediate_size = r.int_req("intermediate_size");
  hp.num_layers = r.int_req("num_hidden_layers");
  hp.num_heads = r.int_req("num_attention_heads");
  hp.num_kv_heads = r.int_opt("num_key_value_heads", hp.num_heads);
  if (hp.num_heads <= 0 || hp.hidden_size <= 0 || hp.vocab_size <= 0 || hp.num_layers <= 0 ||
      hp.intermediate_size <= 0 || hp.num_kv_heads <= 0)
    fail_input(path + ": vocab_size, hidden_size, intermediate_size, num_hidden_layers and head counts must be > 0");
  if (hp.num_heads % hp.num_kv_heads != 0)
    fail_input(path + ": num_attention_heads (" + std::to_string(hp.num_heads) +
               ") must be a multiple of num_key_value_heads (" + std::to_string(hp.num_kv_heads) + ")");
  if (!r.has("head_dim") && hp.hidden_size % hp.num_heads != 0)
    fail_input(path + ": hidden_size is not divisible by num_attention_heads and head_dim is not set");
  hp.head_dim = r.int_opt("head_dim", hp.hidden_size / hp.num_heads);
  if (hp.head_dim <= 0 || hp.head_dim % 2 != 0)
    fail_input(path + ": head_dim must be a positive even number, got " + std::to_string(hp.head_dim));
  hp.rms_norm_eps = r.num_opt("rms_norm_eps", 1e-6);
  parse_rope(r, j, hp);
  hp.max_position_embeddings = r.int_opt("max_position_embeddings", 2048);
  hp.tie_word_embeddings = r.bool_opt("tie_word_embeddings", false);
  bool attention_bias = r.bool_opt("attention_bias", false);
  hp.mlp_bias = hp.arch == Arch::Llama && r.bool_opt("mlp_bias", false);  // only LlamaMLP reads it
  switch (hp.arch) {
    case Arch::Llama:
      hp.qkv_bias = hp.o_bias = attention_bias;
      break;
    case Arch::Mistral:
      hp.qkv_bias = hp.o_bias = false;  // MistralAttention has no biases
      break;
    case Arch::Qwen2:
      hp.qkv_bias = true;  // Qwen2: q/k/v always have a bias, o_proj never
      hp.o_bias = false;
      break;
    case Arch::Qwen3:
      hp.qkv_bias = hp.o_bias = attention_bias;
      hp.qk_norm = true;
      break;
  }
  if (hp.arch == Arch::Mistral || hp.arch == Arch::Qwen2 || hp.arch == Arch::Qwen3) {
    // Qwen2/3 only apply the window when use_sliding_window is true; Mistral whenever it is set.
    bool use = hp.arch == Arch::Mistral || r.bool_opt("use_sliding_window", false);
    if (use) hp.sliding_window = r.int_opt("sliding_window", 0);
  }
  if (hp.arch != Arch::Mistral && hp.sliding_window > 0)
    fail_input(path + ": use_sliding_window is set; loratune does not implement Qwen's per-layer sliding window",
               "set use_sliding_window to false if the model was trained without it");
  hp.bos_token_id = r.int_opt("bos_token_id", -1);
  if (r.has("eos_token_id")) {
    const json& e = j["eos_token_id"];
    if (e.is_number_integer()) {
      hp.eos_token_ids.push_back(e.get<int64_t>());
    } else if (e.is_array()) {
      for (const auto& v : e) {
        if (!v.is_number_integer()) r.bad("eos_token_id", "an integer or a list of integers");
        hp.eos_token_ids.push_back(v.get<int64_t>());
      }
    } else {
      r.bad("eos_token_id", "an integer or a list of integers");
    }
  }
  hp.pad_token_id = r.int_opt("pad_token_id", -1);
  hp.torch_dtype = r.str_opt("torch_dtype", r.str_opt("dtype", "float32"));
  return hp;
}

ModelHParams load_hparams(const std::string& model_dir) {
  if (!is_directory(model_dir))
    fail_input(model_dir + ": model directory not found", "pass a Hugging Face model directory with --model");
  std::string path = join_path(model_dir, "config.json");
  if (!path_exists(path))
    fail_input(path + ": missing", "a Hugging Face model directory has config.json next to its *.safetensors");
  return parse_hf_config(read_text_file(path), path);
}

std::string hf_config_json(const ModelHParams& hp) {
  json j;
  j["architectures"] = {arch_hf_class(hp.arch)};
  j["model_type"] = arch_name(hp.arch);
  j["vocab_size"] = hp.vocab_size;
  j["hidden_size"] = hp.hidden_size;
  j["intermediate_size"] = hp.intermediate_size;
  j["num_hidden_layers"] = hp.num_layers;
  j["num_attention_heads"] = hp.num_heads;
  j["num_key_value_heads"] = hp.num_kv_heads;
  j["head_dim"] = hp.head_dim;
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = hp.rms_norm_eps;
  j["rope_theta"] = hp.rope.theta;
  if (hp.rope.type == RopeType::Default) {
    j["rope_scaling"] = nullptr;
  } else if (hp.rope.type == RopeType::Linear) {
    j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", hp.rope.factor}};
  } else {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", hp.rope.factor},
                         {"low_freq_factor", hp.rope.low_freq_factor},
                         {"high_freq_factor", hp.rope.high_freq_factor},
                         {"original_max_position_embeddings", hp.rope.original_max_position_embeddings}};
  }
  j["max_position_embeddings"] = hp.max_position_embeddings;
  j["tie_word_embeddings"] = hp.tie_word_embeddings;
  j["attention_bias"] = hp.arch == Arch::Qwen2 ? false : hp.qkv_bias;
  j["attention_dropout"] = 0.0;
  if (hp.arch == Arch::Llama) j["mlp_bias"] = hp.mlp_bias;
  if (hp.arch == Arch::Mistral) j["sliding_window"] = hp.sliding_window > 0 ? json(hp.sliding_window) : json(nullptr);
  if (hp.arch == Arch::Qwen2 || hp.arch == Arch::Qwen3) {
    j["use_sliding_window"] = false;
    j["sliding_window"] = nullptr;
  }
  j["initializer_range"] = 0.02;
  j["bos_token_id"] = hp.bos_token_id;
  if (hp.eos_token_ids.size() == 1)
    j["eos_token_id"] = hp.eos_token_ids[0];
  else
    j["eos_token_id"] = hp.eos_token_ids;
  if (hp.pad_token_id >= 0) j["pad_token_id"] = hp.pad_token_id;
  j["torch_dtype"] = hp.torch_dtype;
  j["use_cache"] = true;
  return j.dump(2) + "\n";
}

}  // namespace loratune
