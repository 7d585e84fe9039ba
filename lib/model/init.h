// `loratune init`: a randomly initialised model directory in Hugging Face layout (config.json,
// model.safetensors, tokenizer.model, tokenizer_config.json, generation_config.json).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/hparams.h"

namespace loratune {

struct InitOptions {
  std::string out_dir;
  bool force = false;
  std::string arch = "llama";     // llama | mistral | qwen2 | qwen3
  std::string preset = "tiny";    // see init_presets()
  // Explicit dimensions override the preset (0 / negative = keep the preset's value).
  int64_t hidden_size = 0, intermediate_size = 0, num_layers = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0;
  int64_t max_position_embeddings = 0;
  int64_t vocab_size = 0;         // model vocab; default = tokenizer size (may be larger, never smaller)
  int tie_embeddings = -1;        // -1 preset, 0 no, 1 yes
  double rope_theta = 0;          // 0 = preset
  // Tokenizer: train on corpus files, or copy an existing tokenizer.model.
  std::vector<std::string> corpus;
  std::string tokenizer_model;
  int tokenizer_vocab_size = 512;
  std::string dtype = "fp32";     // stored dtype: fp32 | bf16 | fp16
  uint64_t seed = 42;
  double init_std = 0.02;         // HF initializer_range
};

struct InitPreset {
  std::string name, description;
  int64_t hidden, intermediate, layers, heads, kv_heads, max_pos;
  bool tie;
  double rope_theta;
};
const std::vector<InitPreset>& init_presets();

struct InitResult {
  ModelHParams hp;
  std::string dir;
  int64_t parameters = 0;
  int tokenizer_vocab = 0;
};

InitResult init_model(const InitOptions& opts);

}  // namespace loratune
