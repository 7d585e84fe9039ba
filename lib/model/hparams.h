// Model hyper-parameters parsed from a Hugging Face config.json (torch-free).
// Supported: the architectures of model/arch.h (llama, mistral, qwen2, qwen3). Anything else is refused
// with a clear message.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/arch.h"  // Arch, arch_name, arch_hf_class, supported_archs: the architecture table

namespace loratune {

enum class RopeType { Default, Linear, Llama3 };
const char* rope_type_name(RopeType t);

struct RopeConfig {
  RopeType type = RopeType::Default;
  double theta = 10000.0;
  double factor = 1.0;                      // linear, llama3
  double low_freq_factor = 1.0;             // llama3
  double high_freq_factor = 4.0;            // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3
};

struct ModelHParams {
  Arch arch = Arch::Llama;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  double rms_norm_eps = 1e-6;
  RopeConfig rope;
  int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;   // qwen2: always; llama/mistral: attention_bias
  bool o_bias = false;     // llama/mistral: attention_bias
  bool mlp_bias = false;
  bool qk_norm = false;    // qwen3
  int64_t sliding_window = 0;  // 0 = none (mistral)
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;
  int64_t pad_token_id = -1;
  std::string torch_dtype = "float32";

  int64_t q_dim() const { return num_heads * head_dim; }
  int64_t kv_dim() const { return num_kv_heads * head_dim; }
  int64_t num_parameters() const;  // total, counting tied embeddings once
};

// Parses config.json text; `path` names the file in errors. Validates consistency (heads divide, etc.).
ModelHParams parse_hf_config(const std::string& json_text, const std::string& path);
// Reads <dir>/config.json.
ModelHParams load_hparams(const std::string& model_dir);
// The config.json transformers would write for these hparams.
std::string hf_config_json(const ModelHParams& hp);

}  // namespace loratune
