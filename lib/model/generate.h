// Autoregressive generation with a KV cache: greedy or temperature / top-k / top-p sampling.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config/config.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace loratune {

struct SamplingOptions {
  int64_t max_new_tokens = 128;
  double temperature = 0.0;  // 0 = greedy
  int64_t top_k = 0;         // 0 = off
  double top_p = 1.0;        // 1 = off
  uint64_t seed = 42;
  std::vector<std::string> stop;  // stop strings
  std::vector<int> eos_ids;       // tokens that end generation
};

struct GenerationResult {
  std::vector<int> tokens;   // generated ids (EOS not included)
  std::string text;          // decoded, truncated before a stop string
  std::string finish_reason; // "eos" | "stop" | "length"
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
};

// Picks the next token from logits [V] (fp32) per the options; `rng_state` advances.
int sample_next(const torch::Tensor& logits, const SamplingOptions& opts, uint64_t& rng_state);

// Generates from prompt ids. on_text receives each newly decoded piece of text as soon as it is stable
// (multi-byte characters are held back until complete).
GenerationResult generate(CausalLM& model, const Tokenizer& tok, const std::vector<int>& prompt_ids,
                          const SamplingOptions& opts,
                          const std::function<void(const std::string&)>& on_text = {});

}  // namespace loratune


namespace loratune {

struct TextGeneration {
  GenerationResult result;
  std::string device, dtype;
  double load_seconds = 0;
};

struct LoadedModel;
// Decoding options from cfg.generate and cfg.runtime.seed; EOS ids from the tokenizer and config.json.
SamplingOptions sampling_options(const Config& cfg, const Tokenizer& tok, const ModelHParams& hp);
// Encodes the prompt (BOS per the tokenizer config) and generates with cfg.generate's settings and
// cfg.runtime.seed; EOS ids come from the tokenizer and config.json.
TextGeneration generate_text(LoadedModel& lm, const Tokenizer& tok, const Config& cfg, const std::string& prompt,
                             const std::function<void(const std::string&)>& on_text = {});

// Checks that the tokenizer can drive the model (every piece id < vocab_size); throws naming both.
void check_tokenizer_matches(const Tokenizer& tok, const ModelHParams& hp, const std::string& model_dir);

}  // namespace loratune
