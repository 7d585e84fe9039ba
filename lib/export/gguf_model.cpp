#include "export/gguf_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"

namespace loratune::exporter {
namespace {

constexpr float kPadScore = -10000.0f;
const char* const kBugHint = "this is a bug in loratune's GGUF export; please report it";

[[noreturn]] void mismatch(const io::GgufFile& f, const std::string& what) {
  fail_runtime(f.path() + ": read back, " + what, kBugHint);
}

void expect_u32(const io::GgufFile& f, const std::string& key, int64_t want) {
  const uint32_t got = f.get_u32(key);
  if (static_cast<int64_t>(got) != want)
    mismatch(f, "key '" + key + "' is " + std::to_string(got) + ", the model has " + std::to_string(want));
}

void expect_f32(const io::GgufFile& f, const std::string& key, double want) {
  const float got = f.get_f32(key);
  if (got != static_cast<float>(want))
    mismatch(f, "key '" + key + "' is " + std::to_string(got) + ", the model has " + std::to_string(want));
}

// Special ids as the tokenizer defines them (-1 = undefined).
struct SpecialKey {
  const char* key;
  int id;
};
std::vector<SpecialKey> special_keys(const Tokenizer& tok) {
  const auto& s = tok.special();
  return {{"tokenizer.ggml.bos_token_id", s.bos},
          {"tokenizer.ggml.eos_token_id", s.eos},
          {"tokenizer.ggml.unknown_token_id", s.unk},
          {"tokenizer.ggml.padding_token_id", s.pad}};
}

torch::Tensor cpu_f32(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
}

}  // namespace

GgufArch gguf_arch(const ModelHParams& hp, const std::string& model_dir) {
  switch (hp.arch) {
    case Arch::Llama:
    case Arch::Mistral:  // llama.cpp runs Mistral as "llama" (without a sliding window: export notes that)
      return {"llama", true};
    case Arch::Qwen2:
    case Arch::Qwen3: {
      const std::string name = arch_name(hp.arch);
      if (hp.rope.type == RopeType::Llama3)
        fail_input(model_dir + ": llama3 RoPE scaling on a " + name + " model cannot be expressed in GGUF (the " +
                       name + " architecture has no rope_freqs tensor)",
                   "export --format merged or peft instead");
      if (hp.arch == Arch::Qwen2 && hp.head_dim * hp.num_heads != hp.hidden_size)
        fail_input(model_dir + ": qwen2 with head_dim " + std::to_string(hp.head_dim) + " != hidden_size / heads (" +
                       std::to_string(hp.hidden_size) + " / " + std::to_string(hp.num_heads) +
                       ") is not supported for GGUF export: llama.cpp's qwen2 architecture assumes head_dim = "
                       "hidden_size / heads and fails to load such a file",
                   "export --format merged or peft instead");
      return {name, false};
    }
  }
  LT_CHECK(false, "unknown architecture");
  return {};
}

uint32_t gguf_file_type(io::GgmlType requested) {
  switch (requested) {
    case io::GgmlType::F32: return 0;
    case io::GgmlType::F16: return 1;
    case io::GgmlType::Q8_0: return 7;
    case io::GgmlType::BF16: return 32;
  }
  return 0;
}

io::GgmlType storage_type(const std::vector<int64_t>& hf_shape, io::GgmlType requested) {
  if (hf_shape.size() <= 1) return io::GgmlType::F32;
  if (requested == io::GgmlType::Q8_0 && hf_shape.back() % io::ggml_block_size(io::GgmlType::Q8_0) != 0)
    return io::GgmlType::F16;
  return requested;
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
int64_t heads_for(RopePermute p, const ModelHParams& hp) {
  return p == RopePermute::QueryHeads ? hp.num_heads : hp.num_kv_heads;
}
}  // namespace

torch::Tensor to_gguf_rows(const torch::Tensor& w, RopePermute p, const ModelHParams& hp, const GgufArch& arch) {
  if (p == RopePermute::None || !arch.permute_qk) return w;
  return permute_for_llama_rope(w, heads_for(p, hp));
}

torch::Tensor from_gguf_rows(const torch::Tensor& w, RopePermute p, const ModelHParams& hp, const GgufArch& arch) {
  if (p == RopePermute::None || !arch.permute_qk) return w;
  return unpermute_from_llama_rope(w, heads_for(p, hp));
}

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

std::vector<int64_t> gguf_ne(const std::vector<int64_t>& hf_shape) {
  return std::vector<int64_t>(hf_shape.rbegin(), hf_shape.rend());
}

std::vector<uint8_t> gguf_tensor_bytes(const torch::Tensor& hf, io::GgmlType type) {
  const torch::Tensor t = cpu_f32(hf);
  return io::ggml_encode(t.data_ptr<float>(), t.numel(), type);
}

void add_model_metadata(io::GgufWriter& w, const ModelHParams& hp, const GgufArch& arch, io::GgmlType requested,
                        const std::string& name) {
  const std::string& a = arch.name;
  auto u32 = [](int64_t v) { return io::GgufValue::u32(static_cast<uint32_t>(v)); };
  w.set("general.architecture", io::GgufValue::string(a));
  w.set("general.type", io::GgufValue::string("model"));
  w.set("general.name", io::GgufValue::string(name));
  w.set("general.file_type", u32(gguf_file_type(requested)));
  if (requested == io::GgmlType::Q8_0) w.set("general.quantization_version", u32(2));
  w.set(a + ".vocab_size", u32(hp.vocab_size));
  w.set(a + ".context_length", u32(hp.max_position_embeddings));
  w.set(a + ".embedding_length", u32(hp.hidden_size));
  w.set(a + ".block_count", u32(hp.num_layers));
  w.set(a + ".feed_forward_length", u32(hp.intermediate_size));
  w.set(a + ".attention.head_count", u32(hp.num_heads));
  w.set(a + ".attention.head_count_kv", u32(hp.num_kv_heads));
  w.set(a + ".attention.key_length", u32(hp.head_dim));
  w.set(a + ".attention.value_length", u32(hp.head_dim));
  w.set(a + ".attention.layer_norm_rms_epsilon", io::GgufValue::f32(static_cast<float>(hp.rms_norm_eps)));
  w.set(a + ".rope.dimension_count", u32(hp.head_dim));
  w.set(a + ".rope.freq_base", io::GgufValue::f32(static_cast<float>(hp.rope.theta)));
  if (hp.rope.type == RopeType::Linear) {
    w.set(a + ".rope.scaling.type", io::GgufValue::string("linear"));
    w.set(a + ".rope.scaling.factor", io::GgufValue::f32(static_cast<float>(hp.rope.factor)));
  }
}

void check_gguf_tokenizer(const Tokenizer& tok, const std::string& model_dir) {
  if (!tok.has_byte_fallback())
    fail_input(join_path(model_dir, "tokenizer.model") +
                   " has no byte-fallback pieces <0x00>..<0xFF>; llama.cpp's SentencePiece vocabulary needs all 256 "
                   "of them (it aborts loading the GGUF without them)",
               "use a tokenizer trained with byte fallback (loratune init --corpus trains one), or export "
               "--format merged or peft instead");
}

void add_vocab_metadata(io::GgufWriter& w, const Tokenizer& tok, const ModelHParams& hp, const std::string& model_dir) {
  check_gguf_tokenizer(tok, model_dir);
  LT_CHECK(tok.vocab_size() <= hp.vocab_size, "tokenizer larger than the model vocabulary");
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (int i = 0; i < hp.vocab_size; ++i) {
    if (i < tok.vocab_size()) {
      tokens.push_back(tok.piece(i));
      scores.push_back(tok.score(i));
      types.push_back(static_cast<int32_t>(tok.type(i)));
    } else {
      tokens.push_back("[PAD" + std::to_string(i) + "]");
      scores.push_back(kPadScore);
      types.push_back(static_cast<int32_t>(PieceType::Unused));
    }
  }
  w.set("tokenizer.ggml.model", io::GgufValue::string("llama"));
  w.set("tokenizer.ggml.pre", io::GgufValue::string("default"));
  w.set("tokenizer.ggml.tokens", io::GgufValue::strings(tokens));
  w.set("tokenizer.ggml.scores", io::GgufValue::f32s(scores));
  w.set("tokenizer.ggml.token_type", io::GgufValue::i32s(types));
  for (const auto& s : special_keys(tok))
    if (s.id >= 0) w.set(s.key, io::GgufValue::u32(static_cast<uint32_t>(s.id)));
  if (tok.special().eos_ids.size() > 1)
    log::warn(model_dir + ": GGUF stores one EOS id; llama.cpp will stop on " + std::to_string(tok.special().eos) +
              " (the model also lists other EOS ids)");
  w.set("tokenizer.ggml.add_bos_token", io::GgufValue::boolean(tok.special().add_bos));
  w.set("tokenizer.ggml.add_eos_token", io::GgufValue::boolean(tok.special().add_eos));
  if (!tok.chat_template().empty()) w.set("tokenizer.chat_template", io::GgufValue::string(tok.chat_template()));
}

void write_gguf_model(const std::string& path, const NamedTensors& state, const ModelHParams& hp, const Tokenizer& tok,
                      io::GgmlType requested, const std::string& name, const std::string& model_dir) {
  const GgufArch arch = gguf_arch(hp, model_dir);
  io::GgufWriter w;
  add_model_metadata(w, hp, arch, requested, name);
  add_vocab_metadata(w, tok, hp, model_dir);
  if (hp.rope.type == RopeType::Llama3) {
    const auto freqs = llama3_rope_freqs(hp);
    w.add_tensor(kGgufRopeFreqs, {static_cast<int64_t>(freqs.size())}, io::GgmlType::F32,
                 io::ggml_encode(freqs.data(), static_cast<int64_t>(freqs.size()), io::GgmlType::F32));
  }
  for (const auto& [hf_name, tensor] : state) {
    const std::vector<int64_t> shape(tensor.sizes().begin(), tensor.sizes().end());
    const io::GgmlType type = storage_type(shape, requested);
    const RopePermute p = rope_permute_of(hf_name);
    torch::Tensor t = tensor;  // converted lazily while writing, one tensor at a time
    w.add_tensor(gguf_tensor_name(hf_name), gguf_ne(shape), type,
                 [t, p, &hp, arch, type] { return gguf_tensor_bytes(to_gguf_rows(cpu_f32(t), p, hp, arch), type); });
  }
  w.write(path);
}

namespace {

void check_model_keys(const io::GgufFile& f, const ModelHParams& hp, const GgufArch& arch) {
  const std::string& a = arch.name;
  if (f.get_string("general.architecture") != a)
    mismatch(f, "general.architecture is '" + f.get_string("general.architecture") + "', expected '" + a + "'");
  expect_u32(f, a + ".vocab_size", hp.vocab_size);
  expect_u32(f, a + ".context_length", hp.max_position_embeddings);
  expect_u32(f, a + ".embedding_length", hp.hidden_size);
  expect_u32(f, a + ".block_count", hp.num_layers);
  expect_u32(f, a + ".feed_forward_length", hp.intermediate_size);
  expect_u32(f, a + ".attention.head_count", hp.num_heads);
  expect_u32(f, a + ".attention.head_count_kv", hp.num_kv_heads);
  expect_u32(f, a + ".attention.key_length", hp.head_dim);
  expect_u32(f, a + ".attention.value_length", hp.head_dim);
  expect_u32(f, a + ".rope.dimension_count", hp.head_dim);
  expect_f32(f, a + ".attention.layer_norm_rms_epsilon", hp.rms_norm_eps);
  expect_f32(f, a + ".rope.freq_base", hp.rope.theta);
  if (hp.rope.type == RopeType::Linear) {
    if (f.get_string(a + ".rope.scaling.type") != "linear") mismatch(f, "rope.scaling.type is not 'linear'");
    expect_f32(f, a + ".rope.scaling.factor", hp.rope.factor);
  }
  const auto* rf = f.find_tensor(kGgufRopeFreqs);
  if ((rf != nullptr) != (hp.rope.type == RopeType::Llama3))
    mismatch(f, std::string(rf ? "has" : "lacks") + " rope_freqs.weight for rope type " + rope_type_name(hp.rope.type));
  if (rf) {
    const auto want = llama3_rope_freqs(hp);
    const auto got = io::ggml_decode(rf->data, rf->numel(), rf->type);
    if (got != want) mismatch(f, "rope_freqs.weight differs from the llama3 factors of config.json");
  }
}

void check_vocab(const io::GgufFile& f, const Tokenizer& tok, const ModelHParams& hp) {
  const auto& tokens = f.get_array("tokenizer.ggml.tokens", io::GgufType::String);
  const auto& scores = f.get_array("tokenizer.ggml.scores", io::GgufType::F32);
  const auto& types = f.get_array("tokenizer.ggml.token_type", io::GgufType::I32);
  if (static_cast<int64_t>(tokens.size()) != hp.vocab_size || scores.size() != tokens.size() ||
      types.size() != tokens.size())
    mismatch(f, "the vocabulary has " + std::to_string(tokens.size()) + " tokens, the model " +
                    std::to_string(hp.vocab_size));
  for (int i = 0; i < tok.vocab_size(); ++i) {
    const size_t k = static_cast<size_t>(i);
    if (tokens[k].as_string() != tok.piece(i) || static_cast<float>(scores[k].as_float()) != tok.score(i) ||
        types[k].as_int() != static_cast<int64_t>(tok.type(i)))
      mismatch(f, "token " + std::to_string(i) + " differs from tokenizer.model ('" + tokens[k].as_string() +
                      "' vs '" + tok.piece(i) + "')");
  }
  for (const auto& s : special_keys(tok)) {
    const io::GgufValue* v = f.find(s.key);
    const int64_t got = v ? static_cast<int64_t>(f.get_u32(s.key)) : -1;
    if (got != s.id) mismatch(f, std::string(s.key) + " is " + std::to_string(got) + ", the tokenizer has " + std::to_string(s.id));
  }
  if (f.get_bool("tokenizer.ggml.add_bos_token") != tok.special().add_bos ||
      f.get_bool("tokenizer.ggml.add_eos_token") != tok.special().add_eos)
    mismatch(f, "add_bos_token / add_eos_token differ from the tokenizer's");
  const io::GgufValue* tmpl = f.find("tokenizer.chat_template");
  if ((tmpl ? f.get_string("tokenizer.chat_template") : std::string()) != tok.chat_template())
    mismatch(f, "tokenizer.chat_template differs from the model's chat template");
}

}  // namespace

NamedTensors read_gguf_model(const io::GgufFile& f, const ModelHParams& hp, const Tokenizer& tok) {
  const GgufArch arch = gguf_arch(hp, f.path());
  check_model_keys(f, hp, arch);
  check_vocab(f, tok, hp);
  NamedTensors out;
  for (const auto& ti : f.tensors()) {
    if (ti.name == kGgufRopeFreqs) continue;  // checked above; not an HF tensor
    const std::string hf = hf_tensor_name(ti.name);
    const std::vector<float> values = io::ggml_decode(ti.data, ti.numel(), ti.type);
    std::vector<int64_t> shape = gguf_ne(ti.ne);  // reversed back to HF order
    torch::Tensor t = torch::from_blob(const_cast<float*>(values.data()), shape, torch::kFloat32).clone();
    out.emplace_back(hf, from_gguf_rows(t, rope_permute_of(hf), hp, arch));
  }
  return out;
}

}  // namespace loratune::exporter
