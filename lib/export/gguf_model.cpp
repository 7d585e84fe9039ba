#include "export/gguf_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/gguf_base.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/strings.h"
#include "model/gguf_tokenizer.h"
#include "tokenizer/hf_tokenizer.h"

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
  std::string key;
  int id;
};
std::vector<SpecialKey> special_keys(const Tokenizer& tok) {
  const auto& s = tok.special();
  return {{gguf_key(GgufKey::TokenizerBosId), s.bos},
          {gguf_key(GgufKey::TokenizerEosId), s.eos},
          {gguf_key(GgufKey::TokenizerUnknownId), s.unk},
          {gguf_key(GgufKey::TokenizerPaddingId), s.pad}};
}

torch::Tensor cpu_f32(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
}

}  // namespace

GgufArch gguf_arch(const ModelHParams& hp, const std::string& model_dir) {
  const ArchInfo& info = arch_info(hp.arch);
  const std::string name = info.name;
  if (hp.rope.type == RopeType::Llama3 && !info.gguf_rope_freqs)
    fail_input(model_dir + ": llama3 RoPE scaling on a " + name + " model cannot be expressed in GGUF (the " +
                   name + " architecture has no rope_freqs tensor)",
               "export {opt:format} merged or peft instead");
  if (info.gguf_head_dim_from_hidden && hp.head_dim * hp.num_heads != hp.hidden_size)
    fail_input(model_dir + ": " + name + " with head_dim " + std::to_string(hp.head_dim) + " != hidden_size / heads (" +
                   std::to_string(hp.hidden_size) + " / " + std::to_string(hp.num_heads) +
                   ") is not supported for GGUF export: llama.cpp's " + name + " architecture assumes head_dim = "
                   "hidden_size / heads and fails to load such a file",
               "export {opt:format} merged or peft instead");
  return {hp.arch, info.gguf_name, info.gguf_rope == RopeStyle::Norm};
}

uint32_t gguf_file_type(io::GgmlType requested) {
  switch (requested) {
    case io::GgmlType::F32: return 0;
    case io::GgmlType::F16: return 1;
    case io::GgmlType::Q8_0: return 7;
    case io::GgmlType::BF16: return 32;
    default: LT_CHECK(false, std::string("gguf_file_type: loratune does not write ") + io::ggml_type_name(requested));
  }
  return 0;
}

io::GgmlType storage_type(const std::vector<int64_t>& hf_shape, io::GgmlType requested) {
  if (hf_shape.size() <= 1) return io::GgmlType::F32;
  if (requested == io::GgmlType::Q8_0 && hf_shape.back() % io::ggml_block_size(io::GgmlType::Q8_0) != 0)
    return io::GgmlType::F16;
  return requested;
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

std::vector<int64_t> gguf_ne(const std::vector<int64_t>& hf_shape) {
  return std::vector<int64_t>(hf_shape.rbegin(), hf_shape.rend());
}

std::vector<uint8_t> gguf_tensor_bytes(const torch::Tensor& hf, io::GgmlType type) {
  const torch::Tensor t = cpu_f32(hf);
  return io::ggml_encode(t.data_ptr<float>(), t.numel(), type);
}

void add_model_metadata(io::GgufWriter& w, const ModelHParams& hp, const GgufArch& arch, io::GgmlType requested,
                        const std::string& name) {
  auto u32 = [](int64_t v) { return io::GgufValue::u32(static_cast<uint32_t>(v)); };
  auto key = [&arch](GgufKey k) { return arch.key(k); };
  w.set(key(GgufKey::GeneralArchitecture), io::GgufValue::string(arch.name));
  w.set(key(GgufKey::GeneralType), io::GgufValue::string("model"));
  w.set(key(GgufKey::GeneralName), io::GgufValue::string(name));
  w.set(key(GgufKey::GeneralFileType), u32(gguf_file_type(requested)));
  if (requested == io::GgmlType::Q8_0) w.set(key(GgufKey::GeneralQuantizationVersion), u32(2));
  w.set(key(GgufKey::VocabSize), u32(hp.vocab_size));
  w.set(key(GgufKey::ContextLength), u32(hp.max_position_embeddings));
  w.set(key(GgufKey::EmbeddingLength), u32(hp.hidden_size));
  w.set(key(GgufKey::BlockCount), u32(hp.num_layers));
  w.set(key(GgufKey::FeedForwardLength), u32(hp.intermediate_size));
  w.set(key(GgufKey::HeadCount), u32(hp.num_heads));
  w.set(key(GgufKey::HeadCountKv), u32(hp.num_kv_heads));
  w.set(key(GgufKey::KeyLength), u32(hp.head_dim));
  w.set(key(GgufKey::ValueLength), u32(hp.head_dim));
  w.set(key(GgufKey::RmsEps), io::GgufValue::f32(static_cast<float>(hp.rms_norm_eps)));
  w.set(key(GgufKey::RopeDimensionCount), u32(hp.head_dim));
  w.set(key(GgufKey::RopeFreqBase), io::GgufValue::f32(static_cast<float>(hp.rope.theta)));
  if (hp.rope.type == RopeType::Linear) {
    w.set(key(GgufKey::RopeScalingType), io::GgufValue::string("linear"));
    w.set(key(GgufKey::RopeScalingFactor), io::GgufValue::f32(static_cast<float>(hp.rope.factor)));
  }
}

namespace {

// At most n bytes of s for a message (may cut a UTF-8 sequence; messages only).
std::string head(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(0, n) + "..."; }

bool is_byte_level(const nlohmann::json& p, bool use_regex) {
  return p.is_object() && p.value("type", "") == "ByteLevel" && p.value("use_regex", true) == use_regex &&
         !p.value("add_prefix_space", false);
}

// llama.cpp's tokenizer.ggml.pre name for a byte-level pre-tokenizer that splits text exactly as it does;
// "" when there is none.
std::string gguf_pre_name(const nlohmann::json& pre) {
  if (is_byte_level(pre, true)) return "gpt-2";  // the GPT-2 regex inside ByteLevel
  if (!pre.is_object() || pre.value("type", "") != "Sequence" || !pre.contains("pretokenizers")) return "";
  const nlohmann::json& seq = pre["pretokenizers"];
  if (!seq.is_array() || seq.size() != 2) return "";
  const nlohmann::json &a = seq[0], &b = seq[1];
  if (a.is_object() && a.value("type", "") == "Digits" && a.value("individual_digits", false) && is_byte_level(b, true))
    return "smollm";  // \p{N}, then the GPT-2 regex
  if (!a.is_object() || a.value("type", "") != "Split" || a.value("behavior", "") != "Isolated" ||
      a.value("invert", false) || !is_byte_level(b, false) || !a.contains("pattern") || !a["pattern"].is_object())
    return "";
  const std::string re = a["pattern"].value("Regex", "");
  if (re == kLlama3PreRegex) return "llama-bpe";
  if (re == kQwen2PreRegex) return "qwen2";
  return "";
}

// A byte-level BPE tokenizer.json as llama.cpp's "gpt2" vocabulary: the pre-tokenizer's name and the merges.
struct BpeGguf {
  std::string pre;
  std::vector<std::string> merges;  // "a b", by rank
};

BpeGguf bpe_gguf(const Tokenizer& tok) {
  const HfTokenizer* hf = tok.hf();
  LT_CHECK(hf != nullptr, "bpe_gguf on a SentencePiece tokenizer");
  const std::string& path = tok.model_path();
  auto refuse = [&](const std::string& what) {
    fail_input(path + ": " + what + ", which llama.cpp's GGUF vocabulary (tokenizer.ggml.model gpt2) cannot express",
               "export {opt:format} merged (an HF directory for llama.cpp's convert_hf_to_gguf.py), peft or "
               "gguf-lora instead");
  };
  if (!hf->byte_level())
    refuse("the tokenizer.json is a SentencePiece-style BPE (no ByteLevel pre-tokenizer; not written to GGUF yet)");
  const nlohmann::json j = nlohmann::json::parse(hf->raw_json());
  if (j.contains("normalizer") && !j["normalizer"].is_null() &&
      !(j["normalizer"].is_object() && j["normalizer"].value("type", "") == "NFC"))
    refuse("its normalizer " + head(j["normalizer"].dump(), 80) + " is not applied by llama.cpp");
  BpeGguf out;
  out.pre = gguf_pre_name(j.value("pre_tokenizer", nlohmann::json()));
  if (out.pre.empty())
    refuse("its pre-tokenizer " + head(j.value("pre_tokenizer", nlohmann::json()).dump(), 160) +
           " is none of those llama.cpp knows by name here (gpt-2, smollm, llama-bpe, qwen2)");
  for (const auto& m : j["model"]["merges"]) {
    if (m.is_string()) {
      out.merges.push_back(m.get<std::string>());
    } else {
      const std::string a = m.at(0).get<std::string>(), b = m.at(1).get<std::string>();
      if (a.find(' ') != std::string::npos || b.find(' ') != std::string::npos)
        refuse("a merge of tokens with spaces ('" + head(a, 20) + "', '" + head(b, 20) + "')");
      out.merges.push_back(a + " " + b);
    }
  }
  return out;
}

// The token stored for id i: the tokenizer's piece, or [PADi] for ids without one (model padding, gaps).
std::string gguf_token(const Tokenizer& tok, int i) {
  if (i < tok.vocab_size() && tok.type(i) != PieceType::Unused) return tok.piece(i);
  return "[PAD" + std::to_string(i) + "]";
}

}  // namespace

void check_gguf_tokenizer(const Tokenizer& tok, const std::string& model_dir) {
  if (tok.kind() == TokenizerKind::HfJson) {
    bpe_gguf(tok);
    return;
  }
  if (!tok.has_byte_fallback())
    fail_input(join_path(model_dir, "tokenizer.model") +
                   " has no byte-fallback pieces <0x00>..<0xFF>; llama.cpp's SentencePiece vocabulary needs all 256 "
                   "of them (it aborts loading the GGUF without them)",
               "use a tokenizer trained with byte fallback (loratune init {opt:corpus} trains one), or export "
               "{opt:format} merged or peft instead");
}

void add_vocab_metadata(io::GgufWriter& w, const Tokenizer& tok, const ModelHParams& hp, const std::string& model_dir) {
  const bool bpe = tok.kind() == TokenizerKind::HfJson;
  const BpeGguf v = bpe ? bpe_gguf(tok) : BpeGguf{};  // checks a tokenizer.json (parsed once here)
  if (!bpe) check_gguf_tokenizer(tok, model_dir);
  LT_CHECK(tok.vocab_size() <= hp.vocab_size, "tokenizer larger than the model vocabulary");
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (int i = 0; i < hp.vocab_size; ++i) {
    tokens.push_back(gguf_token(tok, i));
    const bool has = i < tok.vocab_size();
    scores.push_back(has ? tok.score(i) : kPadScore);
    types.push_back(static_cast<int32_t>(has ? tok.type(i) : PieceType::Unused));
  }
  if (bpe) {
    w.set(gguf_key(GgufKey::TokenizerModel), io::GgufValue::string("gpt2"));
    w.set(gguf_key(GgufKey::TokenizerPre), io::GgufValue::string(v.pre));
    w.set(gguf_key(GgufKey::TokenizerMerges), io::GgufValue::strings(v.merges));
  } else {
    w.set(gguf_key(GgufKey::TokenizerModel), io::GgufValue::string("llama"));
    w.set(gguf_key(GgufKey::TokenizerPre), io::GgufValue::string("default"));
  }
  w.set(gguf_key(GgufKey::TokenizerTokens), io::GgufValue::strings(tokens));
  w.set(gguf_key(GgufKey::TokenizerScores), io::GgufValue::f32s(scores));
  w.set(gguf_key(GgufKey::TokenizerTokenType), io::GgufValue::i32s(types));
  for (const auto& s : special_keys(tok))
    if (s.id >= 0) w.set(s.key, io::GgufValue::u32(static_cast<uint32_t>(s.id)));
  if (tok.special().eos_ids.size() > 1)
    log::warn(model_dir + ": GGUF stores one EOS id; llama.cpp will stop on " + std::to_string(tok.special().eos) +
              " (the model also lists other EOS ids)");
  w.set(gguf_key(GgufKey::TokenizerAddBos), io::GgufValue::boolean(tok.special().add_bos));
  w.set(gguf_key(GgufKey::TokenizerAddEos), io::GgufValue::boolean(tok.special().add_eos));
  if (!tok.chat_template().empty())
    w.set(gguf_key(GgufKey::TokenizerChatTemplate), io::GgufValue::string(tok.chat_template()));
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
    const RopePermute p = rope_permute_of(arch.arch, hf_name);
    torch::Tensor t = tensor;  // converted lazily while writing, one tensor at a time
    w.add_tensor(gguf_tensor_name(arch.arch, hf_name), gguf_ne(shape), type,
                 [t, p, &hp, arch, type] { return gguf_tensor_bytes(to_gguf_rows(cpu_f32(t), p, hp, arch), type); });
  }
  w.write(path);
}

namespace {

void check_model_keys(const io::GgufFile& f, const ModelHParams& hp, const GgufArch& arch) {
  auto key = [&arch](GgufKey k) { return arch.key(k); };
  const std::string arch_key = key(GgufKey::GeneralArchitecture);
  if (f.get_string(arch_key) != arch.name)
    mismatch(f, arch_key + " is '" + f.get_string(arch_key) + "', expected '" + arch.name + "'");
  expect_u32(f, key(GgufKey::VocabSize), hp.vocab_size);
  expect_u32(f, key(GgufKey::ContextLength), hp.max_position_embeddings);
  expect_u32(f, key(GgufKey::EmbeddingLength), hp.hidden_size);
  expect_u32(f, key(GgufKey::BlockCount), hp.num_layers);
  expect_u32(f, key(GgufKey::FeedForwardLength), hp.intermediate_size);
  expect_u32(f, key(GgufKey::HeadCount), hp.num_heads);
  expect_u32(f, key(GgufKey::HeadCountKv), hp.num_kv_heads);
  expect_u32(f, key(GgufKey::KeyLength), hp.head_dim);
  expect_u32(f, key(GgufKey::ValueLength), hp.head_dim);
  expect_u32(f, key(GgufKey::RopeDimensionCount), hp.head_dim);
  expect_f32(f, key(GgufKey::RmsEps), hp.rms_norm_eps);
  expect_f32(f, key(GgufKey::RopeFreqBase), hp.rope.theta);
  if (hp.rope.type == RopeType::Linear) {
    if (f.get_string(key(GgufKey::RopeScalingType)) != "linear") mismatch(f, "rope.scaling.type is not 'linear'");
    expect_f32(f, key(GgufKey::RopeScalingFactor), hp.rope.factor);
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
  const auto& tokens = f.get_array(gguf_key(GgufKey::TokenizerTokens), io::GgufType::String);
  const auto& scores = f.get_array(gguf_key(GgufKey::TokenizerScores), io::GgufType::F32);
  const auto& types = f.get_array(gguf_key(GgufKey::TokenizerTokenType), io::GgufType::I32);
  if (static_cast<int64_t>(tokens.size()) != hp.vocab_size || scores.size() != tokens.size() ||
      types.size() != tokens.size())
    mismatch(f, "the vocabulary has " + std::to_string(tokens.size()) + " tokens, the model " +
                    std::to_string(hp.vocab_size));
  for (int i = 0; i < tok.vocab_size(); ++i) {
    const size_t k = static_cast<size_t>(i);
    if (tokens[k].as_string() != gguf_token(tok, i) || static_cast<float>(scores[k].as_float()) != tok.score(i) ||
        types[k].as_int() != static_cast<int64_t>(tok.type(i)))
      mismatch(f, "token " + std::to_string(i) + " differs from " + tok.model_path() + " ('" + tokens[k].as_string() +
                      "' vs '" + gguf_token(tok, i) + "')");
  }
  if (tok.kind() == TokenizerKind::HfJson) {
    const BpeGguf v = bpe_gguf(tok);
    const std::string model = f.get_string(gguf_key(GgufKey::TokenizerModel));
    const std::string pre = f.get_string(gguf_key(GgufKey::TokenizerPre));
    const auto& merges = f.get_array(gguf_key(GgufKey::TokenizerMerges), io::GgufType::String);
    bool same = model == "gpt2" && pre == v.pre && merges.size() == v.merges.size();
    for (size_t k = 0; same && k < merges.size(); ++k) same = merges[k].as_string() == v.merges[k];
    if (!same) mismatch(f, "the BPE vocabulary (model, pre-tokenizer or merges) differs from " + tok.model_path());
  }
  for (const auto& s : special_keys(tok)) {
    const io::GgufValue* v = f.find(s.key);
    const int64_t got = v ? static_cast<int64_t>(f.get_u32(s.key)) : -1;
    if (got != s.id) mismatch(f, s.key + " is " + std::to_string(got) + ", the tokenizer has " + std::to_string(s.id));
  }
  if (f.get_bool(gguf_key(GgufKey::TokenizerAddBos)) != tok.special().add_bos ||
      f.get_bool(gguf_key(GgufKey::TokenizerAddEos)) != tok.special().add_eos)
    mismatch(f, "add_bos_token / add_eos_token differ from the tokenizer's");
  const std::string tmpl_key = gguf_key(GgufKey::TokenizerChatTemplate);
  const io::GgufValue* tmpl = f.find(tmpl_key);
  if ((tmpl ? f.get_string(tmpl_key) : std::string()) != tok.chat_template())
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
    const std::string hf = hf_tensor_name(arch.arch, ti.name);
    const std::vector<float> values = io::ggml_decode(ti.data, ti.numel(), ti.type);
    std::vector<int64_t> shape = gguf_ne(ti.ne);  // reversed back to HF order
    torch::Tensor t = torch::from_blob(const_cast<float*>(values.data()), shape, torch::kFloat32).clone();
    out.emplace_back(hf, from_gguf_rows(t, rope_permute_of(arch.arch, hf), hp, arch));
  }
  return out;
}

}  // namespace loratune::exporter
