#include "model/gguf_base.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/strings.h"
#include "io/gguf_codec.h"
#include "io/gguf_reader.h"
#include "model/arch.h"

namespace loratune {

std::vector<float> llama3_rope_freqs(const ModelHParams& hp) {
  const auto& r = hp.rope;
  const double orig = static_cast<double>(r.original_max_position_embeddings);
  const double low_wavelen = orig / r.low_freq_factor, high_wavelen = orig / r.high_freq_factor;
  std::vector<float> out;
  for (int64_t i = 0; i < hp.head_dim; i += 2) {
    const double freq = 1.0 / std::pow(r.theta, static_cast<double>(i) / static_cast<double>(hp.head_dim));
    const double wavelen = 2.0 * M_PI / freq;
    double divisor;
    if (wavelen < high_wavelen) {
      divisor = 1.0;
    } else if (wavelen > low_wavelen) {
      divisor = r.factor;
    } else {
      const double s = (orig / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
      divisor = 1.0 / ((1.0 - s) / r.factor + s);
    }
    out.push_back(static_cast<float>(divisor));
  }
  return out;
}


torch::Tensor permute_for_llama_rope(const torch::Tensor& w, int64_t n_heads) {
  LT_CHECK(w.dim() >= 1 && w.size(0) % (2 * n_heads) == 0, "q/k rows do not split into heads of even size");
  std::vector<int64_t> shape{n_heads, 2, w.size(0) / n_heads / 2};
  for (int64_t d = 1; d < w.dim(); ++d) shape.push_back(w.size(d));
  return w.reshape(shape).transpose(1, 2).reshape(w.sizes()).contiguous();
}

torch::Tensor unpermute_from_llama_rope(const torch::Tensor& w, int64_t n_heads) {
  LT_CHECK(w.dim() >= 1 && w.size(0) % (2 * n_heads) == 0, "q/k rows do not split into heads of even size");
  std::vector<int64_t> shape{n_heads, w.size(0) / n_heads / 2, 2};
  for (int64_t d = 1; d < w.dim(); ++d) shape.push_back(w.size(d));
  return w.reshape(shape).transpose(1, 2).reshape(w.sizes()).contiguous();
}

namespace {

const ArchInfo& arch_of_gguf(const io::GgufFile& f) {
  const std::string name = f.get_string(gguf_key(GgufKey::GeneralArchitecture));
  std::vector<std::string> known;
  for (const ArchInfo& a : arch_table()) {
    if (name == a.gguf_name) return a;  // the first row wins: llama before mistral
    if (std::find(known.begin(), known.end(), a.gguf_name) == known.end()) known.push_back(a.gguf_name);
  }
  fail_input(f.path() + ": general.architecture '" + name + "' is not one loratune tunes (it reads " +
                 [&] { std::string s; for (const auto& k : known) s += (s.empty() ? "" : ", ") + k; return s; }() + ")",
             "use a GGUF of a supported architecture, or the model's Hugging Face directory");
}

// The llama3 RoPE parameters whose frequencies (llama3_rope_freqs) the file's rope_freqs.weight holds: the
// GGUF stores only the per-frequency divisors, so the parameter sets of the known releases and of any power-of-
// two original context are tried, with the largest divisor as the factor. None matching is an input error.
std::string num(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

RopeConfig llama3_from_rope_freqs(const io::GgufFile& f, const io::GgufTensorInfo& t, ModelHParams hp) {
  const std::string where = f.path() + ": " + kGgufRopeFreqs;
  if (t.ne.size() != 1 || t.ne[0] != hp.head_dim / 2)
    fail_input(where + " has " + std::to_string(t.numel()) + " values; llama3 RoPE has head_dim / 2 = " +
                   std::to_string(hp.head_dim / 2),
               "the file is damaged or was written by a broken converter: convert the model again");
  const std::vector<float> got = io::ggml_decode(t.data, t.numel(), t.type);
  const double fmax = *std::max_element(got.begin(), got.end());
  const double fmin = *std::min_element(got.begin(), got.end());
  if (fmin == 1.0 && fmax == 1.0) return hp.rope;  // no scaling at all
  std::vector<double> origs;
  for (int64_t o = 16; o <= (int64_t{1} << 20); o *= 2) origs.push_back(static_cast<double>(o));
  origs.push_back(static_cast<double>(hp.max_position_embeddings));
  for (double factor : {fmax, 8.0, 32.0, 16.0, 4.0, 2.0, 64.0})
    for (double low : {1.0, 2.0})
      for (double high : {4.0, 2.0, 8.0})
        for (double orig : origs) {
          if (high <= low) continue;
          hp.rope.type = RopeType::Llama3;
          hp.rope.factor = factor;
          hp.rope.low_freq_factor = low;
          hp.rope.high_freq_factor = high;
          hp.rope.original_max_position_embeddings = static_cast<int64_t>(orig);
          const std::vector<float> want = llama3_rope_freqs(hp);
          bool same = true;
          for (size_t i = 0; i < got.size() && same; ++i)
            same = std::fabs(static_cast<double>(want[i]) - got[i]) <= 1e-6 * std::max(1.0, std::fabs(static_cast<double>(got[i])));
          if (same) return hp.rope;
        }
  fail_input(where + " (per-frequency RoPE divisors from " + num(fmin) + " to " + num(fmax) +
                 ") is not llama3 RoPE scaling with any parameters tried (factor, low_freq_factor 1 or 2, "
                 "high_freq_factor 2, 4 or 8, an original context of 16 .. 2^20 tokens)",
             "use the model's Hugging Face directory (config.json has the rope_scaling parameters)");
}

}  // namespace

ModelHParams hparams_from_gguf(const io::GgufFile& f) {
  const ArchInfo& info = arch_of_gguf(f);
  const std::string g = info.gguf_name;
  auto u32 = [&](GgufKey k) { return static_cast<int64_t>(f.get_u32(gguf_key(k, g))); };
  auto has = [&](GgufKey k) { return f.find(gguf_key(k, g)) != nullptr; };
  ModelHParams hp;
  hp.arch = info.arch;
  hp.num_layers = u32(GgufKey::BlockCount);
  hp.hidden_size = u32(GgufKey::EmbeddingLength);
  hp.intermediate_size = u32(GgufKey::FeedForwardLength);
  hp.num_heads = u32(GgufKey::HeadCount);
  hp.num_kv_heads = has(GgufKey::HeadCountKv) ? u32(GgufKey::HeadCountKv) : hp.num_heads;
  if (hp.num_heads <= 0 || hp.num_kv_heads <= 0 || hp.num_heads % hp.num_kv_heads != 0)
    fail_input(f.path() + ": " + g + ".attention.head_count " + std::to_string(hp.num_heads) + " / head_count_kv " +
               std::to_string(hp.num_kv_heads) + " do not form grouped-query attention");
  hp.head_dim = has(GgufKey::KeyLength) ? u32(GgufKey::KeyLength) : hp.hidden_size / hp.num_heads;
  hp.max_position_embeddings = has(GgufKey::ContextLength) ? u32(GgufKey::ContextLength) : 2048;
  hp.rms_norm_eps = f.get_f32(gguf_key(GgufKey::RmsEps, g));
  hp.rope.theta = has(GgufKey::RopeFreqBase) ? f.get_f32(gguf_key(GgufKey::RopeFreqBase, g)) : 10000.0;
  if (has(GgufKey::RopeScalingType)) {
    const std::string t = f.get_string(gguf_key(GgufKey::RopeScalingType, g));
    if (t == "linear") {
      hp.rope.type = RopeType::Linear;
      hp.rope.factor = f.get_f32(gguf_key(GgufKey::RopeScalingFactor, g));
    } else if (t != "none") {
      fail_input(f.path() + ": " + g + ".rope.scaling.type '" + t + "' is not read (linear and none are)",
                 "use the model's Hugging Face directory");
    }
  }
  const std::string tokens = gguf_key(GgufKey::TokenizerTokens);
  hp.vocab_size = has(GgufKey::VocabSize) ? u32(GgufKey::VocabSize)
                  : f.find(tokens)        ? static_cast<int64_t>(f.find(tokens)->as_array().size())
                                          : 0;
  const io::GgufTensorInfo* emb = f.find_tensor("token_embd.weight");
  if (!emb) fail_input(f.path() + ": no token_embd.weight tensor", "the file is not a full model (an adapter?)");
  if (emb->ne.size() == 2) hp.vocab_size = emb->ne[1];
  hp.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
  hp.qkv_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  hp.o_bias = f.find_tensor("blk.0.attn_output.bias") != nullptr;
  hp.mlp_bias = f.find_tensor("blk.0.ffn_gate.bias") != nullptr;
  hp.qk_norm = info.qk_norm;
  auto id = [&](GgufKey k) { return f.find(gguf_key(k)) ? static_cast<int64_t>(f.get_u32(gguf_key(k))) : -1; };
  hp.bos_token_id = id(GgufKey::TokenizerBosId);
  if (id(GgufKey::TokenizerEosId) >= 0) hp.eos_token_ids = {id(GgufKey::TokenizerEosId)};
  hp.pad_token_id = id(GgufKey::TokenizerPaddingId);
  hp.torch_dtype = "float32";
  if (const io::GgufTensorInfo* rf = f.find_tensor(kGgufRopeFreqs)) {
    if (hp.rope.type != RopeType::Default)
      fail_input(f.path() + ": rope_freqs.weight together with " + g + ".rope.scaling.type linear is not read",
                 "use the model's Hugging Face directory");
    hp.rope = llama3_from_rope_freqs(f, *rf, hp);
  }
  return hp;
}

std::vector<std::pair<std::string, torch::Tensor>> gguf_hf_tensors(const io::GgufFile& f, const ModelHParams& hp) {
  const ArchInfo& info = arch_info(hp.arch);
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& ti : f.tensors()) {
    if (ti.name == kGgufRopeFreqs) continue;
    const std::string hf = hf_tensor_name(hp.arch, ti.name);
    std::vector<float> values = io::ggml_decode(ti.data, ti.numel(), ti.type);
    const std::vector<int64_t> shape(ti.ne.rbegin(), ti.ne.rend());
    torch::Tensor t = torch::from_blob(values.data(), shape, torch::kFloat32).clone();
    const RopePermute p = rope_permute_of(hp.arch, hf);
    if (p != RopePermute::None && info.gguf_rope == RopeStyle::Norm)
      t = unpermute_from_llama_rope(t, p == RopePermute::QueryHeads ? hp.num_heads : hp.num_kv_heads);
    out.emplace_back(hf, std::move(t));
  }
  return out;
}

}  // namespace loratune
