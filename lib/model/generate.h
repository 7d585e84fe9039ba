// Autoregressive generation with a KV cache: greedy or temperature / top-k / top-p sampling.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/llama.h"
#include "model/sampling.h"
#include "tokenizer/tokenizer.h"

namespace loratune {

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

// Generates from several prompts at once, each with the seed at its index: the prompts are left-padded to
// the longest into one batch (padding masked out, positions per row), decoded together with one KV cache
// row each, and a row that ends (EOS, stop string, max_new_tokens) leaves the batch and the cache. Each
// result equals generate() on that prompt alone up to floating-point summation order (greedy: the same
// tokens unless two logits tie within rounding); prefill/decode seconds are the batch's.
std::vector<GenerationResult> generate_batch(CausalLM& model, const Tokenizer& tok,
                                             const std::vector<std::vector<int>>& prompts,
                                             const SamplingOptions& opts, const std::vector<uint64_t>& seeds);

}  // namespace loratune


namespace loratune {

struct TextGeneration {
  GenerationResult result;
  std::string device, dtype;
  double load_seconds = 0;
};

struct LoadedModel;
// `opts` with eos_ids set to the tokenizer's EOS ids plus config.json's eos_token_id(s).
SamplingOptions with_model_eos(SamplingOptions opts, const Tokenizer& tok, const ModelHParams& hp);
// Generates from the prompt ids with `opts` (with_model_eos applied); warns when the prompt and
// max_new_tokens exceed the model's max_position_embeddings.
TextGeneration generate_text(LoadedModel& lm, const Tokenizer& tok, const SamplingOptions& opts,
                             const std::vector<int>& prompt_ids,
                             const std::function<void(const std::string&)>& on_text = {});
// The decoding settings as reports record them: max_new_tokens, temperature, top_k, top_p, stop.
nlohmann::json sampling_json(const SamplingOptions& opts);

// Checks that the tokenizer can drive the model (every piece id < vocab_size); throws naming both.
void check_tokenizer_matches(const Tokenizer& tok, const ModelHParams& hp, const std::string& model_dir);

}  // namespace loratune
