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

namespace {
void check_prompt_ids(const std::vector<int>& prompt_ids, const ModelHParams& hp) {
  if (prompt_ids.empty()) fail_input("the prompt is empty", "pass a non-empty {opt:prompt}");
  for (int id : prompt_ids)
    if (id < 0 || id >= hp.vocab_size)
      fail_input("prompt token id " + std::to_string(id) + " is outside the model's vocabulary (" +
                     std::to_string(hp.vocab_size) + ")",
                 "the tokenizer does not belong to this model");
}

// One sequence's decoding state: picks each next token from its logits, ends at EOS, a stop string or
// max_new_tokens, and keeps the decoded text (generated part only, stop strings cut off).
class RowDecoder {
 public:
  RowDecoder(const Tokenizer& tok, const std::vector<int>& prompt_ids, const SamplingOptions& opts, uint64_t seed)
      : tok_(tok), opts_(opts), rng_(seed), all_ids_(prompt_ids), prompt_text_(tok.decode(prompt_ids)) {
    res_.prompt_tokens = static_cast<int64_t>(prompt_ids.size());
    res_.finish_reason = "length";
    if (opts.max_new_tokens <= 0) done_ = true;
  }
  // Consumes the logits [V] of the next position; returns true when the sequence has ended.
  bool step(const torch::Tensor& logits) {
    const int next = sample_next(logits, opts_, rng_);
    if (std::find(opts_.eos_ids.begin(), opts_.eos_ids.end(), next) != opts_.eos_ids.end()) {
      res_.finish_reason = "eos";
      return done_ = true;
    }
    res_.tokens.push_back(next);
    all_ids_.push_back(next);
    // Decode prompt + generated and strip the decoded prompt, so the first generated word keeps its
    // leading space (SentencePiece drops it when a sequence starts with it).
    std::string full = tok_.decode(all_ids_);
    std::string text = full.compare(0, prompt_text_.size(), prompt_text_) == 0 ? full.substr(prompt_text_.size())
                                                                                : tok_.decode(res_.tokens);
    size_t cut = std::string::npos;
    for (const auto& s : opts_.stop) {
      if (s.empty()) continue;
      const size_t at = text.find(s);
      if (at != std::string::npos) cut = std::min(cut, at);
    }
    stopped_ = cut != std::string::npos;
    if (stopped_) {
      text.resize(cut);
      res_.finish_reason = "stop";
    }
    res_.text = std::move(text);
    if (stopped_ || static_cast<int64_t>(res_.tokens.size()) >= opts_.max_new_tokens) done_ = true;
    return done_;
  }
  bool done() const { return done_; }
  bool stopped() const { return stopped_; }  // the last step cut the text at a stop string
  int last_token() const { return res_.tokens.back(); }
  GenerationResult& result() { return res_; }

 private:
  const Tokenizer& tok_;
  const SamplingOptions& opts_;
  uint64_t rng_;
  std::vector<int> all_ids_;
  std::string prompt_text_;
  GenerationResult res_;
  bool done_ = false, stopped_ = false;
};
}  // namespace

GenerationResult generate(CausalLM& model, const Tokenizer& tok, const std::vector<int>& prompt_ids,
                          const SamplingOptions& opts, const std::function<void(const std::string&)>& on_text) {
  check_prompt_ids(prompt_ids, model->hparams());
  torch::NoGradGuard no_grad;
  RowDecoder row(tok, prompt_ids, opts, opts.seed);
  const int64_t capacity = static_cast<int64_t>(prompt_ids.size()) + opts.max_new_tokens;
  KVCache cache = model->new_cache(1, std::max<int64_t>(capacity, 1));
  ForwardOptions fo;
  fo.cache = &cache;

  auto t0 = std::chrono::steady_clock::now();
  auto ids = torch::tensor(std::vector<int64_t>(prompt_ids.begin(), prompt_ids.end()), torch::kInt64)
                 .unsqueeze(0)
                 .to(model->device());                             // [1, T]
  auto hidden = model->hidden_states(ids, fo);                    // [1, T, H]
  auto logits = model->logits_from_hidden(hidden.narrow(1, hidden.size(1) - 1, 1));  // [1, 1, V]
  const double prefill = seconds_since(t0);

  auto t1 = std::chrono::steady_clock::now();
  size_t emitted = 0;
  std::string streamed;
  while (!row.done()) {
    throw_if_interrupted("generation");
    row.step(logits.view({-1}));
    const std::string& text = row.result().text;
    // Emit only growth of what was already emitted (a held-back partial character may decode differently).
    if (on_text && (!ends_with_partial_utf8(text) || row.stopped()) && text.size() > emitted &&
        text.compare(0, emitted, streamed, 0, emitted) == 0) {
      on_text(text.substr(emitted));
      emitted = text.size();
      streamed = text;
    }
    if (row.done()) break;
    auto next_ids = torch::tensor({static_cast<int64_t>(row.last_token())}, torch::kInt64).view({1, 1}).to(model->device());
    logits = model->forward(next_ids, fo);  // [1, 1, V]
  }
  GenerationResult res = std::move(row.result());
  if (on_text && res.text.size() > emitted) on_text(res.text.substr(emitted));
  res.prefill_seconds = prefill;
  res.decode_seconds = seconds_since(t1);
  return res;
}

std::vector<GenerationResult> generate_batch(CausalLM& model, const Tokenizer& tok,
                                             const std::vector<std::vector<int>>& prompts,
                                             const SamplingOptions& opts, const std::vector<uint64_t>& seeds) {
  LT_CHECK(seeds.size() == prompts.size(), "generate_batch: one seed per prompt");
  if (prompts.empty()) return {};
  const auto& hp = model->hparams();
  for (const auto& p : prompts) check_prompt_ids(p, hp);
  torch::NoGradGuard no_grad;
  const auto B = static_cast<int64_t>(prompts.size());
  std::vector<RowDecoder> rows;
  rows.reserve(prompts.size());
  int64_t longest = 0;
  for (int64_t i = 0; i < B; ++i) {
    rows.emplace_back(tok, prompts[i], opts, seeds[i]);
    longest = std::max<int64_t>(longest, static_cast<int64_t>(prompts[i].size()));
  }
  const torch::Device device = model->device();
  const int64_t window = hp.sliding_window;
  KVCache cache = model->new_cache(B, longest + std::max<int64_t>(opts.max_new_tokens, 1));

  // Prompts are left-padded to the longest one: row i's pad_i leading slots hold token 0 at position 0,
  // are never attended by its real tokens, and attend only themselves (a fully masked query would give NaN).
  std::vector<int64_t> ids(static_cast<size_t>(B * longest), 0), pos(static_cast<size_t>(B * longest), 0);
  std::vector<int64_t> pad(static_cast<size_t>(B)), next_pos(static_cast<size_t>(B));
  for (int64_t i = 0; i < B; ++i) {
    const auto L = static_cast<int64_t>(prompts[i].size());
    pad[i] = longest - L;
    next_pos[i] = L;
    for (int64_t t = 0; t < L; ++t) {
      ids[i * longest + pad[i] + t] = prompts[i][t];
      pos[i * longest + pad[i] + t] = t;
    }
  }
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  auto pad_t = torch::tensor(pad, i64);                                     // [B]
  auto q = torch::arange(longest, i64).view({1, -1, 1});                    // [1, T, 1]
  auto k = torch::arange(longest, i64).view({1, 1, -1});                    // [1, 1, S]
  auto real_key = k.ge(pad_t.view({-1, 1, 1}));                             // [B, 1, S]
  auto allowed = k.le(q).logical_and(real_key.logical_or(k.eq(q)));        // [B, T, S]
  if (window > 0) allowed = allowed.logical_and(q - k < window);
  ForwardOptions fo;
  fo.cache = &cache;
  fo.position_ids = torch::tensor(pos, i64).view({B, longest}).to(device);
  fo.attention_mask = allowed.to(device);

  const auto t0 = std::chrono::steady_clock::now();
  auto hidden = model->hidden_states(torch::tensor(ids, i64).view({B, longest}).to(device), fo);  // [B, T, H]
  auto logits = model->logits_from_hidden(hidden.narrow(1, longest - 1, 1)).squeeze(1);             // [B, V]
  const double prefill = seconds_since(t0);
  const auto t1 = std::chrono::steady_clock::now();

  std::vector<int64_t> active(static_cast<size_t>(B));  // batch slot -> row, for the rows still generating
  std::iota(active.begin(), active.end(), 0);
  while (true) {
    throw_if_interrupted("generation");
    const auto cpu_logits = logits.to(torch::kCPU, torch::kFloat32).contiguous();  // [b, V]
    std::vector<int64_t> keep_slots, still;
    for (size_t slot = 0; slot < active.size(); ++slot) {
      RowDecoder& r = rows[static_cast<size_t>(active[slot])];
      if (!r.done() && !r.step(cpu_logits[static_cast<int64_t>(slot)])) {
        keep_slots.push_back(static_cast<int64_t>(slot));
        still.push_back(active[slot]);
      }
    }
    if (still.empty()) break;
    if (still.size() != active.size()) {  // finished rows leave the batch and its cache
      const auto keep = torch::tensor(keep_slots, i64).to(device);
      for (size_t l = 0; l < cache.k.size(); ++l) {
        cache.k[l] = cache.k[l].index_select(0, keep);
        cache.v[l] = cache.v[l].index_select(0, keep);
      }
      real_key = real_key.index_select(0, torch::tensor(keep_slots, i64));
      active = std::move(still);
    }
    const auto b = static_cast<int64_t>(active.size());
    const int64_t S = cache.length + 1;
    std::vector<int64_t> step_ids(static_cast<size_t>(b)), step_pos(static_cast<size_t>(b));
    for (int64_t slot = 0; slot < b; ++slot) {
      const int64_t row = active[slot];
      step_ids[slot] = rows[row].last_token();
      step_pos[slot] = next_pos[row]++;
    }
    // Key slot S-1 is the new token; earlier slots keep their prompt padding rule.
    real_key = torch::cat({real_key, torch::ones({b, 1, 1}, torch::kBool)}, 2);  // [b, 1, S]
    auto step_mask = real_key;
    if (window > 0) step_mask = step_mask.logical_and(torch::arange(S, i64).view({1, 1, -1}) > S - 1 - window);
    fo.position_ids = torch::tensor(step_pos, i64).view({b, 1}).to(device);
    fo.attention_mask = step_mask.to(device);
    logits = model->forward(torch::tensor(step_ids, i64).view({b, 1}).to(device), fo).squeeze(1);  // [b, V]
  }
  const double decode = seconds_since(t1);
  std::vector<GenerationResult> out;
  out.reserve(rows.size());
  for (auto& r : rows) {
    out.push_back(std::move(r.result()));
    out.back().prefill_seconds = prefill;
    out.back().decode_seconds = decode;
  }
  return out;
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
