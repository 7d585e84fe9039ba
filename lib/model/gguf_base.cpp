#include "model/gguf_base.h"

#include "core/error.h"
#include "io/gguf_reader.h"
#include "model/arch.h"

namespace loratune {

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
  if (f.find_tensor(kGgufRopeFreqs))
    fail_input(f.path() + ": the file has rope_freqs.weight (llama3 RoPE scaling), which loratune does not read "
                          "from GGUF yet",
               "use the model's Hugging Face directory (config.json has the rope_scaling parameters)");
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
