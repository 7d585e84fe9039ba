#include "model/generate.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "core/error.h"
#include "core/log.h"
#include "core/signals.h"
#include "model/device.h"
#include "model/loader.h"

namespace loratune {
namespace {
// splitmix64: a small, portable, seedable generator (same stream on every platform).
uint64_t next_u64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
double next_unit(uint64_t& s) { return static_cast<double>(next_u64(s) >> 11) * (1.0 / 9007199254740992.0); }

bool ends_with_partial_utf8(const std::string& s) {
  // U+FFFD from decoding an incomplete byte sequence, or a raw truncated sequence.
  static const std::string replacement = "\xEF\xBF\xBD";
  return s.size() >= 3 && s.compare(s.size() - 3, 3, replacement) == 0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int sample_next(const torch::Tensor& logits_in, const SamplingOptions& opts, uint64_t& rng_state) {
  auto logits = logits_in.to(torch::kCPU, torch::kFloat32).contiguous();  // [V]
  if (opts.temperature <= 0) return static_cast<int>(logits.argmax().item<int64_t>());
  auto probs = torch::softmax(logits / opts.temperature, -1);
  const float* p = probs.data_ptr<float>();
  const int64_t V = probs.numel();
  std::vector<int> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
  int64_t keep = V;
  if (opts.top_k > 0) keep = std::min<int64_t>(keep, opts.top_k);
  if (opts.top_p < 1.0) {
    double cum = 0;
    for (int64_t i = 0; i < keep; ++i) {
      cum += p[order[i]];
      if (cum >= opts.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double total = 0;
  for (int64_t i = 0; i < keep; ++i) total += p[order[i]];
  double r = next_unit(rng_state) * total;
  for (int64_t i = 0; i < keep; ++i) {
    r -= p[order[i]];
    if (r <= 0) return order[i];
  }
  return order[keep - 1];
}

GenerationResult generate(CausalLM& model, const Tokenizer& tok, const std::vector<int>& prompt_ids,
                          const SamplingOptions& opts, const std::function<void(const std::string&)>& on_text) {
  if (prompt_ids.empty()) fail_input("the prompt is empty", "pass a non-empty {opt:prompt}");
  const auto& hp = model->hparams();
  for (int id : prompt_ids)
    if (id < 0 || id >= hp.vocab_size)
      fail_input("prompt token id " + std::to_string(id) + " is outside the model's vocabulary (" +
                     std::to_string(hp.vocab_size) + ")",
                 "the tokenizer does not belong to this model");
  torch::NoGradGuard no_grad;
  GenerationResult res;
  res.prompt_tokens = static_cast<int64_t>(prompt_ids.size());
  const int64_t capacity = res.prompt_tokens + opts.max_new_tokens;
  KVCache cache = model->new_cache(1, std::max<int64_t>(capacity, 1));
  ForwardOptions fo;
  fo.cache = &cache;
  uint64_t rng = opts.seed;

  auto t0 = std::chrono::steady_clock::now();
  auto ids = torch::tensor(std::vector<int64_t>(prompt_ids.begin(), prompt_ids.end()), torch::kInt64)
                 .unsqueeze(0)
                 .to(model->device());                             // [1, T]
  auto hidden = model->hidden_states(ids, fo);                    // [1, T, H]
  auto logits = model->logits_from_hidden(hidden.narrow(1, hidden.size(1) - 1, 1));  // [1, 1, V]
  res.prefill_seconds = seconds_since(t0);

  auto t1 = std::chrono::steady_clock::now();
  size_t emitted = 0;
  res.finish_reason = "length";
  // Decode prompt + generated and strip the decoded prompt, so the first generated word keeps its
  // leading space (SentencePiece drops it when a sequence starts with it).
  std::vector<int> all_ids = prompt_ids;
  const std::string prompt_text = tok.decode(prompt_ids);
  auto decode_generated = [&]() {
    std::string full = tok.decode(all_ids);
    if (full.compare(0, prompt_text.size(), prompt_text) == 0) return full.substr(prompt_text.size());
    return tok.decode(res.tokens);
  };
  for (int64_t step = 0; step < opts.max_new_tokens; ++step) {
    throw_if_interrupted("generation");
    int next = sample_next(logits.view({-1}), opts, rng);
    if (std::find(opts.eos_ids.begin(), opts.eos_ids.end(), next) != opts.eos_ids.end()) {
      res.finish_reason = "eos";
      break;
    }
    res.tokens.push_back(next);
    all_ids.push_back(next);
    std::string text = decode_generated();
    size_t cut = std::string::npos;
    for (const auto& s : opts.stop) {
      if (s.empty()) continue;
      size_t at = text.find(s);
      if (at != std::string::npos) cut = std::min(cut, at);
    }
    if (cut != std::string::npos) {
      text.resize(cut);
      res.finish_reason = "stop";
    }
    if (on_text && (!ends_with_partial_utf8(text) || cut != std::string::npos) && text.size() > emitted &&
        text.compare(0, emitted, res.text, 0, emitted) == 0) {
      on_text(text.substr(emitted));
      emitted = text.size();
    }
    res.text = text;
    if (cut != std::string::npos) break;
    if (step + 1 == opts.max_new_tokens) break;
    auto next_ids = torch::tensor({static_cast<int64_t>(next)}, torch::kInt64).view({1, 1}).to(model->device());
    logits = model->forward(next_ids, fo);  // [1, 1, V]
  }
  if (on_text && res.text.size() > emitted) on_text(res.text.substr(emitted));
  res.decode_seconds = seconds_since(t1);
  return res;
}

}  // namespace loratune


namespace loratune {

void check_tokenizer_matches(const Tokenizer& tok, const ModelHParams& hp, const std::string& model_dir) {
  if (tok.vocab_size() > hp.vocab_size)
    fail_input(model_dir + ": tokenizer.model has " + std::to_string(tok.vocab_size()) +
                   " pieces but config.json vocab_size is " + std::to_string(hp.vocab_size),
               "the tokenizer does not belong to this model: use the tokenizer.model shipped with the weights");
}

SamplingOptions with_model_eos(SamplingOptions so, const Tokenizer& tok, const ModelHParams& hp) {
  so.eos_ids = tok.special().eos_ids;
  for (int64_t e : hp.eos_token_ids)
    if (std::find(so.eos_ids.begin(), so.eos_ids.end(), static_cast<int>(e)) == so.eos_ids.end())
      so.eos_ids.push_back(static_cast<int>(e));
  return so;
}

nlohmann::json sampling_json(const SamplingOptions& o) {
  return {{"max_new_tokens", o.max_new_tokens}, {"temperature", o.temperature}, {"top_k", o.top_k},
          {"top_p", o.top_p}, {"stop", o.stop}};
}

TextGeneration generate_text(LoadedModel& lm, const Tokenizer& tok, const SamplingOptions& opts,
                             const std::vector<int>& ids, const std::function<void(const std::string&)>& on_text) {
  TextGeneration out;
  out.device = lm.device.str();
  out.dtype = dtype_label(lm.dtype);
  out.load_seconds = lm.load_seconds;

  const SamplingOptions so = with_model_eos(opts, tok, lm.hp);
  if (static_cast<int64_t>(ids.size()) + so.max_new_tokens > lm.hp.max_position_embeddings)
    log::warn("prompt (" + std::to_string(ids.size()) + " tokens) + max_new_tokens exceeds the model's " +
              "max_position_embeddings (" + std::to_string(lm.hp.max_position_embeddings) + ")");
  out.result = generate(lm.model, tok, ids, so, on_text);
  return out;
}

}  // namespace loratune
