#include "model/hparams.h"

#include <nlohmann/json.hpp>

#include <optional>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "io/json_fields.h"

namespace loratune {
namespace {
using json = nlohmann::json;

using Reader = io::JsonFields;

const char* const kTypeHint = "fix config.json (is this a Hugging Face causal-LM config?)";
const char* const kRequiredHint = "a Hugging Face config.json for a Llama-family model has it";

Arch detect_arch(const json& j, const std::string& path) {
  std::string model_type = j.contains("model_type") && j["model_type"].is_string() ? j["model_type"].get<std::string>() : "";
  std::string cls;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string())
    cls = j["architectures"][0].get<std::string>();
  if (auto a = find_arch(model_type)) return *a;
  if (auto a = find_arch_by_hf_class(cls)) return *a;
  std::string what = !model_type.empty() ? "model_type '" + model_type + "'"
                     : !cls.empty()      ? "architecture '" + cls + "'"
                                         : "no model_type or architectures key";
  fail_input(path + ": unsupported model (" + what + ")",
             "loratune supports these Llama-family architectures: " + join(supported_archs(), ", "));
}

void parse_rope(const Reader& r, ModelHParams& hp) {
  std::optional<Reader> scaling;
  // transformers v5 writes rope_parameters {rope_theta, rope_type, factor, ...}.
  if (r.has("rope_parameters")) {
    scaling = r.object("rope_parameters", "an object");
    hp.rope.theta = scaling->has("rope_theta") ? scaling->get<double>("rope_theta", 10000.0)
                                               : r.get<double>("rope_theta", 10000.0);
  } else {
    hp.rope.theta = r.get<double>("rope_theta", 10000.0);
    scaling = r.object("rope_scaling", "an object or null");
  }
  if (!scaling) return;
  const Reader& s = *scaling;
  std::string type = s.get<std::string>("rope_type", s.get<std::string>("type", "default"));
  if (type == "default") {
    hp.rope.type = RopeType::Default;
  } else if (type == "linear") {
    hp.rope.type = RopeType::Linear;
    hp.rope.factor = s.get<double>("factor", 1.0);
  } else if (type == "llama3") {
    hp.rope.type = RopeType::Llama3;
    hp.rope.factor = s.get<double>("factor", 8.0);
    hp.rope.low_freq_factor = s.get<double>("low_freq_factor", 1.0);
    hp.rope.high_freq_factor = s.get<double>("high_freq_factor", 4.0);
    hp.rope.original_max_position_embeddings = s.get<int64_t>("original_max_position_embeddings", 8192);
    if (hp.rope.high_freq_factor <= hp.rope.low_freq_factor)
      fail_input(r.path() + ": llama3 rope scaling needs high_freq_factor > low_freq_factor");
  } else {
    fail_input(r.path() + ": rope scaling type '" + type + "' is not supported",
               "supported: default, linear, llama3; loratune does not approximate other rope types");
  }
  if (!(hp.rope.factor > 0)) fail_input(r.path() + ": rope scaling factor must be > 0");
}
}  // namespace

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
  const Reader r(j, path, kTypeHint);
  ModelHParams hp;
  hp.arch = detect_arch(j, path);
  const ArchInfo& info = arch_info(hp.arch);
  hp.vocab_size = r.require<int64_t>("vocab_size", kRequiredHint);
  hp.hidden_size = r.require<int64_t>("hidden_size", kRequiredHint);
  hp.intermediate_size = r.require<int64_t>("intermediate_size", kRequiredHint);
  hp.num_layers = r.require<int64_t>("num_hidden_layers", kRequiredHint);
  hp.num_heads = r.require<int64_t>("num_attention_heads", kRequiredHint);
  hp.num_kv_heads = r.get<int64_t>("num_key_value_heads", hp.num_heads);
  if (hp.num_heads <= 0 || hp.hidden_size <= 0 || hp.vocab_size <= 0 || hp.num_layers <= 0 ||
      hp.intermediate_size <= 0 || hp.num_kv_heads <= 0)
    fail_input(path + ": vocab_size, hidden_size, intermediate_size, num_hidden_layers and head counts must be > 0");
  if (hp.num_heads % hp.num_kv_heads != 0)
    fail_input(path + ": num_attention_heads (" + std::to_string(hp.num_heads) +
               ") must be a multiple of num_key_value_heads (" + std::to_string(hp.num_kv_heads) + ")");
  if (!r.has("head_dim") && hp.hidden_size % hp.num_heads != 0)
    fail_input(path + ": hidden_size is not divisible by num_attention_heads and head_dim is not set");
  hp.head_dim = r.get<int64_t>("head_dim", hp.hidden_size / hp.num_heads);
  if (hp.head_dim <= 0 || hp.head_dim % 2 != 0)
    fail_input(path + ": head_dim must be a positive even number, got " + std::to_string(hp.head_dim));
  hp.rms_norm_eps = r.get<double>("rms_norm_eps", 1e-6);
  parse_rope(r, hp);
  hp.max_position_embeddings = r.get<int64_t>("max_position_embeddings", 2048);
  hp.tie_word_embeddings = r.get<bool>("tie_word_embeddings", false);
  // The bias flags per the table: e.g. Qwen2's q/k/v always have a bias and o_proj never; only LlamaMLP
  // reads mlp_bias; MistralAttention has no biases.
  const bool attention_bias = r.get<bool>("attention_bias", false);
  auto bias = [&](BiasSource src) {
    switch (src) {
      case BiasSource::Never: return false;
      case BiasSource::Always: return true;
      case BiasSource::AttentionBiasKey: return attention_bias;
      case BiasSource::MlpBiasKey: return r.get<bool>("mlp_bias", false);
    }
    return false;
  };
  hp.qkv_bias = bias(info.qkv_bias);
  hp.o_bias = bias(info.o_bias);
  hp.mlp_bias = bias(info.mlp_bias);
  hp.qk_norm = info.qk_norm;
  switch (info.sliding_window) {
    case SlidingWindowRule::None: break;
    case SlidingWindowRule::Always: hp.sliding_window = r.get<int64_t>("sliding_window", 0); break;
    case SlidingWindowRule::UseSlidingWindow:
      // Qwen2/3 only apply the window when use_sliding_window is true (per layer, which loratune lacks).
      if (r.get<bool>("use_sliding_window", false)) hp.sliding_window = r.get<int64_t>("sliding_window", 0);
      if (hp.sliding_window > 0)
        fail_input(path + ": use_sliding_window is set; loratune does not implement Qwen's per-layer sliding window",
                   "set use_sliding_window to false if the model was trained without it");
      break;
  }
  hp.bos_token_id = r.get<int64_t>("bos_token_id", -1);
  hp.eos_token_ids = r.list<int64_t>("eos_token_id", "an integer or a list of integers", /*scalar_ok=*/true);
  hp.pad_token_id = r.get<int64_t>("pad_token_id", -1);
  hp.torch_dtype = r.get<std::string>("torch_dtype", r.get<std::string>("dtype", "float32"));
  return hp;
}

ModelHParams load_hparams(const std::string& model_dir) {
  if (!is_directory(model_dir))
    fail_input(model_dir + ": model directory not found", "pass a Hugging Face model directory with {opt:model}");
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
  const ArchInfo& info = arch_info(hp.arch);
  j["attention_bias"] = info.qkv_bias == BiasSource::AttentionBiasKey ? hp.qkv_bias : false;
  j["attention_dropout"] = 0.0;
  if (info.mlp_bias == BiasSource::MlpBiasKey) j["mlp_bias"] = hp.mlp_bias;
  if (info.sliding_window == SlidingWindowRule::Always)
    j["sliding_window"] = hp.sliding_window > 0 ? json(hp.sliding_window) : json(nullptr);
  if (info.sliding_window == SlidingWindowRule::UseSlidingWindow) {
    j["use_sliding_window"] = false;
    j["sliding_window"] = nullptr;
  }
  j["initializer_range"] = 0.02;
  j["bos_token_id"] = hp.bos_token_id >= 0 ? json(hp.bos_token_id) : json(nullptr);
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
