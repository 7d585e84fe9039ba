#include "model/arch.h"

#include <cctype>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "model/hparams.h"

namespace loratune {
namespace {

const char* const kUnknownHint =
    "loratune exports Llama-family checkpoints (llama, mistral, qwen2, qwen3); is this tensor from another "
    "architecture?";

// The modules of a Llama-family decoder layer, in registration order (named_modules order).
std::vector<ModuleSpec> llama_layer_modules(bool qk_norm) {
  using K = ModuleKind;
  std::vector<ModuleSpec> m = {
      {"q_proj", "self_attn", K::Attention, true, Dim::Hidden, Dim::QDim, BiasFlag::Qkv, "attn_q", RopePermute::QueryHeads},
      {"k_proj", "self_attn", K::Attention, true, Dim::Hidden, Dim::KvDim, BiasFlag::Qkv, "attn_k", RopePermute::KeyHeads},
      {"v_proj", "self_attn", K::Attention, true, Dim::Hidden, Dim::KvDim, BiasFlag::Qkv, "attn_v", RopePermute::None},
      {"o_proj", "self_attn", K::Attention, true, Dim::QDim, Dim::Hidden, BiasFlag::O, "attn_output", RopePermute::None},
  };
  if (qk_norm) {
    m.push_back({"q_norm", "self_attn", K::Norm, false, Dim::HeadDim, Dim::HeadDim, BiasFlag::None, "attn_q_norm", RopePermute::None});
    m.push_back({"k_norm", "self_attn", K::Norm, false, Dim::HeadDim, Dim::HeadDim, BiasFlag::None, "attn_k_norm", RopePermute::None});
  }
  const std::vector<ModuleSpec> rest = {
      {"gate_proj", "mlp", K::Mlp, true, Dim::Hidden, Dim::Intermediate, BiasFlag::Mlp, "ffn_gate", RopePermute::None},
      {"up_proj", "mlp", K::Mlp, true, Dim::Hidden, Dim::Intermediate, BiasFlag::Mlp, "ffn_up", RopePermute::None},
      {"down_proj", "mlp", K::Mlp, true, Dim::Intermediate, Dim::Hidden, BiasFlag::Mlp, "ffn_down", RopePermute::None},
      {"input_layernorm", "", K::Norm, false, Dim::Hidden, Dim::Hidden, BiasFlag::None, "attn_norm", RopePermute::None},
      {"post_attention_layernorm", "", K::Norm, false, Dim::Hidden, Dim::Hidden, BiasFlag::None, "ffn_norm", RopePermute::None},
  };
  m.insert(m.end(), rest.begin(), rest.end());
  return m;
}

// The tensor rows of an architecture: the model-level tensors, then each layer module's.
std::vector<TensorRule> tensor_rules(const std::vector<ModuleSpec>& layer_modules) {
  std::vector<TensorRule> t = {
      {"model.embed_tokens", "token_embd", RopePermute::None},
      {"model.norm", "output_norm", RopePermute::None},
      {"lm_head", "output", RopePermute::None},
  };
  for (const auto& m : layer_modules)
    t.push_back({std::string("model.layers.{N}.") + (*m.parent ? std::string(m.parent) + "." : "") + m.name,
                 std::string("blk.{N}.") + m.gguf, m.permute});
  return t;
}

ArchInfo make(Arch arch, const char* name, const char* hf_class, const char* gguf_name, RopeStyle rope,
              bool rope_freqs, bool head_dim_from_hidden, BiasSource qkv, BiasSource o, BiasSource mlp, bool qk_norm,
              SlidingWindowRule sw) {
  ArchInfo a{arch, name, hf_class, gguf_name, rope, rope_freqs, head_dim_from_hidden, qkv, o, mlp, qk_norm, sw, {}, {}};
  a.layer_modules = llama_layer_modules(qk_norm);
  a.tensors = tensor_rules(a.layer_modules);
  return a;
}

// Matches `text` against `pattern` where "{N}" stands for a decimal layer index; returns the index text
// ("" for patterns without {N}) or nullopt.
std::optional<std::string> match(const std::string& pattern, const std::string& text) {
  const size_t at = pattern.find("{N}");
  if (at == std::string::npos) return pattern == text ? std::optional<std::string>("") : std::nullopt;
  const std::string pre = pattern.substr(0, at), post = pattern.substr(at + 3);
  if (text.size() <= pre.size() + post.size() || !starts_with(text, pre) || !ends_with(text, post)) return std::nullopt;
  const std::string n = text.substr(pre.size(), text.size() - pre.size() - post.size());
  for (char c : n)
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  if (n.size() > 1 && n[0] == '0') return std::nullopt;  // one spelling per index
  return n;
}

std::string fill(const std::string& pattern, const std::string& n) {
  const size_t at = pattern.find("{N}");
  return at == std::string::npos ? pattern : pattern.substr(0, at) + n + pattern.substr(at + 3);
}

// Splits "a.b.weight" into module "a.b" and parameter ".weight" (only .weight and .bias are tensors here).
std::optional<std::pair<std::string, std::string>> split_param(const std::string& tensor) {
  for (const char* p : {".weight", ".bias"})
    if (ends_with(tensor, p)) return std::make_pair(tensor.substr(0, tensor.size() - std::string(p).size()), std::string(p));
  return std::nullopt;
}

struct Found {
  const TensorRule* rule;
  std::string name;
};

// Maps a tensor name through the architecture's rows in one direction.
std::optional<Found> map_name(Arch a, const std::string& tensor, bool hf_to_gguf) {
  auto parts = split_param(tensor);
  if (!parts) return std::nullopt;
  for (const auto& rule : arch_info(a).tensors) {
    const std::string& from = hf_to_gguf ? rule.hf_module : rule.gguf_module;
    const std::string& to = hf_to_gguf ? rule.gguf_module : rule.hf_module;
    if (auto n = match(from, parts->first)) return Found{&rule, fill(to, *n) + parts->second};
  }
  return std::nullopt;
}

const char* lora_suffix(LoraMatrix f) { return f == LoraMatrix::A ? ".lora_A.weight" : ".lora_B.weight"; }

struct KeyRow {
  GgufKey key;
  const char* pattern;
};
// llama.cpp src/llama-arch.cpp LLM_KV_NAMES (the subset loratune writes and reads).
const std::vector<KeyRow>& key_table() {
  static const std::vector<KeyRow> t = {
      {GgufKey::GeneralArchitecture, "general.architecture"},
      {GgufKey::GeneralType, "general.type"},
      {GgufKey::GeneralName, "general.name"},
      {GgufKey::GeneralFileType, "general.file_type"},
      {GgufKey::GeneralQuantizationVersion, "general.quantization_version"},
      {GgufKey::VocabSize, "%s.vocab_size"},
      {GgufKey::ContextLength, "%s.context_length"},
      {GgufKey::EmbeddingLength, "%s.embedding_length"},
      {GgufKey::BlockCount, "%s.block_count"},
      {GgufKey::FeedForwardLength, "%s.feed_forward_length"},
      {GgufKey::HeadCount, "%s.attention.head_count"},
      {GgufKey::HeadCountKv, "%s.attention.head_count_kv"},
      {GgufKey::KeyLength, "%s.attention.key_length"},
      {GgufKey::ValueLength, "%s.attention.value_length"},
      {GgufKey::RmsEps, "%s.attention.layer_norm_rms_epsilon"},
      {GgufKey::RopeDimensionCount, "%s.rope.dimension_count"},
      {GgufKey::RopeFreqBase, "%s.rope.freq_base"},
      {GgufKey::RopeScalingType, "%s.rope.scaling.type"},
      {GgufKey::RopeScalingFactor, "%s.rope.scaling.factor"},
      {GgufKey::TokenizerModel, "tokenizer.ggml.model"},
      {GgufKey::TokenizerPre, "tokenizer.ggml.pre"},
      {GgufKey::TokenizerTokens, "tokenizer.ggml.tokens"},
      {GgufKey::TokenizerScores, "tokenizer.ggml.scores"},
      {GgufKey::TokenizerTokenType, "tokenizer.ggml.token_type"},
      {GgufKey::TokenizerMerges, "tokenizer.ggml.merges"},
      {GgufKey::TokenizerBosId, "tokenizer.ggml.bos_token_id"},
      {GgufKey::TokenizerEosId, "tokenizer.ggml.eos_token_id"},
      {GgufKey::TokenizerUnknownId, "tokenizer.ggml.unknown_token_id"},
      {GgufKey::TokenizerPaddingId, "tokenizer.ggml.padding_token_id"},
      {GgufKey::TokenizerAddBos, "tokenizer.ggml.add_bos_token"},
      {GgufKey::TokenizerAddEos, "tokenizer.ggml.add_eos_token"},
      {GgufKey::TokenizerChatTemplate, "tokenizer.chat_template"},
      {GgufKey::TokenizerAddSpacePrefix, "tokenizer.ggml.add_space_prefix"},
      {GgufKey::TokenizerRemoveExtraWhitespaces, "tokenizer.ggml.remove_extra_whitespaces"},
      {GgufKey::AdapterType, "adapter.type"},
      {GgufKey::AdapterLoraAlpha, "adapter.lora.alpha"},
  };
  return t;
}

}  // namespace

int64_t dim_of(const ModelHParams& hp, Dim d) {
  switch (d) {
    case Dim::Hidden: return hp.hidden_size;
    case Dim::QDim: return hp.q_dim();
    case Dim::KvDim: return hp.kv_dim();
    case Dim::Intermediate: return hp.intermediate_size;
    case Dim::HeadDim: return hp.head_dim;
  }
  return 0;
}

bool has_bias(const ModelHParams& hp, BiasFlag f) {
  switch (f) {
    case BiasFlag::None: return false;
    case BiasFlag::Qkv: return hp.qkv_bias;
    case BiasFlag::O: return hp.o_bias;
    case BiasFlag::Mlp: return hp.mlp_bias;
  }
  return false;
}

const std::vector<ArchInfo>& arch_table() {
  using B = BiasSource;
  using W = SlidingWindowRule;
  static const std::vector<ArchInfo> table = {
      //    arch          name       HF class              GGUF     rope            rope_freqs hd=H/nH
      make(Arch::Llama, "llama", "LlamaForCausalLM", "llama", RopeStyle::Norm, true, false,
           //  qkv bias               o bias                mlp bias       qk_norm  sliding window
           B::AttentionBiasKey, B::AttentionBiasKey, B::MlpBiasKey, false, W::None),
      // llama.cpp runs Mistral as "llama" (without a sliding window: export notes that).
      make(Arch::Mistral, "mistral", "MistralForCausalLM", "llama", RopeStyle::Norm, true, false,
           B::Never, B::Never, B::Never, false, W::Always),
      // llama.cpp's qwen2 assumes head_dim = hidden_size / heads and fails to load other files.
      make(Arch::Qwen2, "qwen2", "Qwen2ForCausalLM", "qwen2", RopeStyle::Neox, false, true,
           B::Always, B::Never, B::Never, false, W::UseSlidingWindow),
      make(Arch::Qwen3, "qwen3", "Qwen3ForCausalLM", "qwen3", RopeStyle::Neox, false, false,
           B::AttentionBiasKey, B::AttentionBiasKey, B::Never, true, W::UseSlidingWindow),
  };
  return table;
}

const ArchInfo& arch_info(Arch a) {
  for (const auto& e : arch_table())
    if (e.arch == a) return e;
  LT_CHECK(false, "architecture missing from the table");
  return arch_table().front();
}

std::optional<Arch> find_arch(const std::string& model_type) {
  for (const auto& e : arch_table())
    if (model_type == e.name) return e.arch;
  return std::nullopt;
}

std::optional<Arch> find_arch_by_hf_class(const std::string& hf_class) {
  for (const auto& e : arch_table())
    if (hf_class == e.hf_class) return e.arch;
  return std::nullopt;
}

const char* arch_name(Arch a) { return arch_info(a).name; }
const char* arch_hf_class(Arch a) { return arch_info(a).hf_class; }

std::vector<std::string> supported_archs() {
  std::vector<std::string> out;
  for (const auto& e : arch_table()) out.push_back(e.name);
  return out;
}

const std::vector<ModuleSpec>& decoder_linears(Arch a) {
  // Built once per architecture from its layer modules (the Linear ones, in order).
  static const std::vector<std::vector<ModuleSpec>> per_arch = [] {
    std::vector<std::vector<ModuleSpec>> out;
    for (const auto& e : arch_table()) {
      std::vector<ModuleSpec> lin;
      for (const auto& m : e.layer_modules)
        if (m.linear) lin.push_back(m);
      out.push_back(std::move(lin));
    }
    return out;
  }();
  for (size_t i = 0; i < arch_table().size(); ++i)
    if (arch_table()[i].arch == a) return per_arch[i];
  LT_CHECK(false, "architecture missing from the table");
  return per_arch.front();
}

std::vector<std::string> decoder_linear_names(Arch a) {
  std::vector<std::string> out;
  for (const auto& m : decoder_linears(a)) out.push_back(m.name);
  return out;
}

std::string layer_module_path(const ModuleSpec& m, int64_t layer) {
  return "model.layers." + std::to_string(layer) + "." + (*m.parent ? std::string(m.parent) + "." : "") + m.name;
}

std::optional<std::string> find_gguf_tensor_name(Arch a, const std::string& hf_tensor) {
  auto f = map_name(a, hf_tensor, true);
  return f ? std::optional<std::string>(f->name) : std::nullopt;
}

std::optional<std::string> find_hf_tensor_name(Arch a, const std::string& gguf_tensor) {
  auto f = map_name(a, gguf_tensor, false);
  return f ? std::optional<std::string>(f->name) : std::nullopt;
}

std::string gguf_tensor_name(Arch a, const std::string& hf_tensor) {
  auto n = find_gguf_tensor_name(a, hf_tensor);
  if (!n) fail_input("tensor '" + hf_tensor + "' has no GGUF name", kUnknownHint);
  return *n;
}

std::string hf_tensor_name(Arch a, const std::string& gguf_tensor) {
  auto n = find_hf_tensor_name(a, gguf_tensor);
  if (!n)
    fail_input("GGUF tensor '" + gguf_tensor + "' has no Hugging Face name",
               "loratune reads back the GGUF files it writes (llama, qwen2, qwen3 tensors)");
  return *n;
}

RopePermute rope_permute_of(Arch a, const std::string& hf_tensor) {
  auto f = map_name(a, hf_tensor, true);
  return f ? f->rule->permute : RopePermute::None;
}

std::string lora_parameter_name(const std::string& module_path, LoraMatrix f) { return module_path + lora_suffix(f); }

std::string peft_tensor_name(const std::string& module_path, LoraMatrix f) {
  return kPeftTensorPrefix + lora_parameter_name(module_path, f);
}

std::optional<LoraTensorName> parse_peft_tensor_name(const std::string& name) {
  if (!starts_with(name, kPeftTensorPrefix)) return std::nullopt;
  const std::string rest = name.substr(std::string(kPeftTensorPrefix).size());
  for (LoraMatrix f : {LoraMatrix::A, LoraMatrix::B}) {
    const std::string suffix = lora_suffix(f);
    if (ends_with(rest, suffix) && rest.size() > suffix.size())
      return LoraTensorName{rest.substr(0, rest.size() - suffix.size()), f};
  }
  return std::nullopt;
}

std::optional<LoraTensorName> parse_peft_tensor_name_lenient(const std::string& name) {
  const std::string n = starts_with(name, kPeftTensorPrefix) ? name.substr(std::string(kPeftTensorPrefix).size()) : name;
  if (!ends_with(n, ".weight")) return std::nullopt;
  const std::string stem = n.substr(0, n.size() - 7);  // "<path>.lora_A" or "<path>.lora_A.<adapter>"
  for (LoraMatrix f : {LoraMatrix::A, LoraMatrix::B}) {
    const std::string tag = f == LoraMatrix::A ? ".lora_A" : ".lora_B";
    if (ends_with(stem, tag) && stem.size() > tag.size()) return LoraTensorName{stem.substr(0, stem.size() - tag.size()), f};
    // An adapter name: ".lora_A.<name>" where <name> has no dot. The last such tag counts.
    const size_t dot = stem.rfind('.');
    if (dot == std::string::npos || dot + 1 >= stem.size()) continue;
    const std::string head = stem.substr(0, dot);
    if (ends_with(head, tag) && head.size() > tag.size()) return LoraTensorName{head.substr(0, head.size() - tag.size()), f};
  }
  return std::nullopt;
}

std::string gguf_lora_tensor_name(Arch a, const std::string& module_path, LoraMatrix f) {
  return gguf_tensor_name(a, module_path + ".weight") + (f == LoraMatrix::A ? ".lora_a" : ".lora_b");
}

std::optional<LoraTensorName> parse_gguf_lora_tensor_name(Arch a, const std::string& name) {
  for (LoraMatrix f : {LoraMatrix::A, LoraMatrix::B}) {
    const std::string suffix = f == LoraMatrix::A ? ".lora_a" : ".lora_b";
    if (!ends_with(name, suffix)) continue;
    auto hf = find_hf_tensor_name(a, name.substr(0, name.size() - suffix.size()));
    if (!hf || !ends_with(*hf, ".weight")) return std::nullopt;
    return LoraTensorName{hf->substr(0, hf->size() - 7), f};
  }
  return std::nullopt;
}

const std::vector<GgufKey>& all_gguf_keys() {
  static const std::vector<GgufKey> keys = [] {
    std::vector<GgufKey> k;
    for (const auto& row : key_table()) k.push_back(row.key);
    return k;
  }();
  return keys;
}

const char* gguf_key_pattern(GgufKey k) {
  for (const auto& row : key_table())
    if (row.key == k) return row.pattern;
  LT_CHECK(false, "GGUF key missing from the table");
  return "";
}

bool gguf_key_has_arch(GgufKey k) { return starts_with(gguf_key_pattern(k), "%s."); }

std::string gguf_key(GgufKey k, const std::string& gguf_arch) {
  const std::string p = gguf_key_pattern(k);
  return starts_with(p, "%s.") ? gguf_arch + p.substr(2) : p;
}

std::string gguf_key(GgufKey k) {
  LT_CHECK(!gguf_key_has_arch(k), std::string("GGUF key '") + gguf_key_pattern(k) + "' needs the architecture name");
  return gguf_key_pattern(k);
}

std::optional<GgufKey> parse_gguf_key(const std::string& key, const std::string& gguf_arch) {
  for (const auto& row : key_table())
    if (gguf_key(row.key, gguf_arch) == key) return row.key;
  return std::nullopt;
}

const std::vector<std::string>& hf_companion_files() {
  // The union of what transformers' save_pretrained writes beside the weights for a causal LM with its
  // tokenizer; chat_template.json is the older form of chat_template.jinja (transformers reads either).
  static const std::vector<std::string> files = {
      "tokenizer.model",         "tokenizer.json",    "tokenizer_config.json", "special_tokens_map.json",
      "added_tokens.json",       "chat_template.jinja", "chat_template.json",  "generation_config.json"};
  return files;
}

std::vector<std::string> copy_hf_companions(const std::string& from_dir, const std::string& to_dir) {
  std::vector<std::string> copied;
  for (const auto& f : hf_companion_files()) {
    const std::string src = join_path(from_dir, f);
    if (!path_exists(src)) continue;
    write_file_atomic(join_path(to_dir, f), read_text_file(src));
    copied.push_back(f);
  }
  return copied;
}

}  // namespace loratune
