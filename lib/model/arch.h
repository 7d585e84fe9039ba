// The architecture table: one entry per supported architecture (llama.cpp: src/llama-arch.{h,cpp},
// gguf-py/gguf/tensor_mapping.py). Everything that names a part of a model lives here, so that the model,
// LoRA planning, the exporters and the readers of exported files agree by construction:
//   - how config.json names the architecture (model_type, architectures[0]) and what it implies (biases,
//     q/k norms, sliding window);
//   - the decoder modules (q_proj ... down_proj with their shapes and bias flags, the norms), in the order
//     the model registers them;
//   - HF <-> GGUF tensor names, with the RoPE row permutation each tensor needs for GGUF;
//   - PEFT adapter tensor names, derived from the HF module path;
//   - GGUF metadata keys (an enum-keyed table, "%s" standing for the GGUF architecture name);
//   - the HF files that travel with a model's weights.
// tests/model/test_arch.cpp checks every mapping both ways. Torch-free.
//
//   HF tensor                                    GGUF tensor                 PEFT adapter tensor
//   model.embed_tokens.weight                    token_embd.weight
//   model.layers.3.self_attn.q_proj.weight       blk.3.attn_q.weight         base_model.model.model.layers.3
//                                                blk.3.attn_q.weight.lora_a    .self_attn.q_proj.lora_A.weight
//
// Adding an architecture (say Phi-3): a value in `Arch`, one `ArchInfo` entry in arch.cpp (names, GGUF
// arch, RoPE style, bias/norm/window rules, its tensor rows), and whatever its forward pass does differently
// in model/llama.cpp.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace loratune {

struct ModelHParams;

enum class Arch { Llama, Mistral, Qwen2, Qwen3 };

// llama.cpp's RoPE styles: NORM rotates consecutive pairs (2i, 2i+1), so HF's q/k rows (which pair i with
// i + head_dim/2) are permuted for it; NEOX pairs like HF and needs no permutation.
enum class RopeStyle { Norm, Neox };

// How a tensor's rows are reordered for a NORM-rope GGUF architecture.
enum class RopePermute {
  None,
  QueryHeads,  // q_proj rows (weight and bias), per attention head
  KeyHeads,    // k_proj rows, per key/value head
};

// Where a decoder module sits.
enum class ModuleKind { Attention, Mlp, Norm };

// A size taken from the hyper-parameters.
enum class Dim { Hidden, QDim, KvDim, Intermediate, HeadDim };
int64_t dim_of(const ModelHParams& hp, Dim d);

// Which ModelHParams flag says whether a Linear has a bias.
enum class BiasFlag { None, Qkv, O, Mlp };
bool has_bias(const ModelHParams& hp, BiasFlag f);

// How config.json decides a bias flag for an architecture.
enum class BiasSource {
  Never,
  Always,
  AttentionBiasKey,  // the "attention_bias" key (default false)
  MlpBiasKey,        // the "mlp_bias" key (default false)
};

// How an architecture treats config.json's sliding_window.
enum class SlidingWindowRule {
  None,              // no sliding window (llama)
  Always,            // sliding_window applies whenever set (mistral)
  UseSlidingWindow,  // only with use_sliding_window true, which loratune refuses (qwen2, qwen3)
};

// One module of a decoder layer: "model.layers.{N}.<parent>.<name>" (or "model.layers.{N}.<name>" when
// parent is empty).
struct ModuleSpec {
  const char* name;    // "q_proj"
  const char* parent;  // "self_attn", "mlp", "" (layer norms)
  ModuleKind kind;
  bool linear;         // a Linear [out, in] (LoRA can target it); otherwise an RMSNorm [in]
  Dim in, out;         // weight [out, in]; norms: [in]
  BiasFlag bias;
  const char* gguf;    // "attn_q": the GGUF module "blk.{N}.attn_q"
  RopePermute permute;
};

// One row of the tensor name table: an HF module path pattern and its GGUF name, "{N}" standing for the
// layer index; ".weight" / ".bias" are carried over.
struct TensorRule {
  std::string hf_module;    // "model.layers.{N}.self_attn.q_proj"
  std::string gguf_module;  // "blk.{N}.attn_q"
  RopePermute permute;
};

struct ArchInfo {
  Arch arch;
  const char* name;      // HF model_type and loratune's name: "llama"
  const char* hf_class;  // architectures[0]: "LlamaForCausalLM"
  const char* gguf_name;  // general.architecture: "llama" (mistral runs as llama in llama.cpp)
  RopeStyle gguf_rope;
  bool gguf_rope_freqs;         // the GGUF architecture takes llama3's rope_freqs tensor
  bool gguf_head_dim_from_hidden;  // llama.cpp's GGUF architecture assumes head_dim = hidden / heads
  BiasSource qkv_bias, o_bias, mlp_bias;
  bool qk_norm;  // q_norm / k_norm RMSNorm [head_dim] after the projections
  SlidingWindowRule sliding_window;
  std::vector<ModuleSpec> layer_modules;  // in registration order (named_modules order)
  std::vector<TensorRule> tensors;        // every tensor the architecture has
};

// The table, one entry per Arch value, in enum order.
const std::vector<ArchInfo>& arch_table();
const ArchInfo& arch_info(Arch a);
// By HF model_type, or nullopt.
std::optional<Arch> find_arch(const std::string& model_type);
// By architectures[0] ("LlamaForCausalLM"), or nullopt.
std::optional<Arch> find_arch_by_hf_class(const std::string& hf_class);

const char* arch_name(Arch a);                // "llama", "mistral", "qwen2", "qwen3"
const char* arch_hf_class(Arch a);            // "LlamaForCausalLM", ...
std::vector<std::string> supported_archs();   // the names, in table order

// The decoder Linear modules LoRA can target (every architecture has the same seven), in model order:
// q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.
const std::vector<ModuleSpec>& decoder_linears(Arch a);
std::vector<std::string> decoder_linear_names(Arch a);
// "model.layers.3.self_attn.q_proj"
std::string layer_module_path(const ModuleSpec& m, int64_t layer);

// ---- HF <-> GGUF tensor names --------------------------------------------------------------------------

// The GGUF-only tensor holding llama3 RoPE frequency divisors (F32 [head_dim / 2]).
constexpr const char* kGgufRopeFreqs = "rope_freqs.weight";

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight" (".weight" / ".bias" carried over).
// A tensor the architecture does not have is an input error naming it ("is this a Llama-family checkpoint?").
std::string gguf_tensor_name(Arch a, const std::string& hf_tensor);
// The inverse; an unknown GGUF tensor name is an input error naming it.
std::string hf_tensor_name(Arch a, const std::string& gguf_tensor);
// nullopt instead of an error, for callers that sort names into known and unknown.
std::optional<std::string> find_gguf_tensor_name(Arch a, const std::string& hf_tensor);
std::optional<std::string> find_hf_tensor_name(Arch a, const std::string& gguf_tensor);
// The reordering an HF tensor needs for a NORM-rope GGUF architecture (None for unknown tensors).
RopePermute rope_permute_of(Arch a, const std::string& hf_tensor);

// ---- LoRA tensor names ---------------------------------------------------------------------------------

enum class LoraMatrix { A, B };

struct LoraTensorName {
  std::string module_path;  // HF module path, "model.layers.3.self_attn.q_proj"
  LoraMatrix matrix = LoraMatrix::A;
  bool operator==(const LoraTensorName& o) const { return module_path == o.module_path && matrix == o.matrix; }
};

// What PEFT puts in front of the HF module path of a saved adapter tensor.
constexpr const char* kPeftTensorPrefix = "base_model.model.";

// The module's own parameter name: "<module path>.lora_A.weight" / ".lora_B.weight" (named_parameters()).
std::string lora_parameter_name(const std::string& module_path, LoraMatrix f);
// PEFT: "base_model.model.<module path>.lora_A.weight" / ".lora_B.weight" (the names PEFT saves).
std::string peft_tensor_name(const std::string& module_path, LoraMatrix f);
// The exact inverse of peft_tensor_name (nullopt for anything else).
std::optional<LoraTensorName> parse_peft_tensor_name(const std::string& name);
// What PEFT's loader accepts too: the prefix may be missing and an adapter name may follow lora_A / lora_B
// ("...q_proj.lora_A.default.weight").
std::optional<LoraTensorName> parse_peft_tensor_name_lenient(const std::string& name);

// GGUF LoRA: "<GGUF base tensor>.lora_a" / ".lora_b", e.g. "blk.3.attn_q.weight.lora_a" (what llama.cpp's
// adapter loader pairs with the base model's "blk.3.attn_q.weight").
std::string gguf_lora_tensor_name(Arch a, const std::string& module_path, LoraMatrix f);
std::optional<LoraTensorName> parse_gguf_lora_tensor_name(Arch a, const std::string& name);

// ---- GGUF metadata keys --------------------------------------------------------------------------------

enum class GgufKey {
  GeneralArchitecture,
  GeneralType,
  GeneralName,
  GeneralFileType,
  GeneralQuantizationVersion,
  VocabSize,
  ContextLength,
  EmbeddingLength,
  BlockCount,
  FeedForwardLength,
  HeadCount,
  HeadCountKv,
  KeyLength,
  ValueLength,
  RmsEps,
  RopeDimensionCount,
  RopeFreqBase,
  RopeScalingType,
  RopeScalingFactor,
  TokenizerModel,
  TokenizerPre,
  TokenizerTokens,
  TokenizerScores,
  TokenizerTokenType,
  TokenizerMerges,
  TokenizerBosId,
  TokenizerEosId,
  TokenizerUnknownId,
  TokenizerPaddingId,
  TokenizerAddBos,
  TokenizerAddEos,
  TokenizerChatTemplate,
  TokenizerAddSpacePrefix,
  TokenizerRemoveExtraWhitespaces,
  AdapterType,
  AdapterLoraAlpha,
};
// Every key, in enum order.
const std::vector<GgufKey>& all_gguf_keys();
// The key's pattern: "general.architecture", "%s.context_length" (%s = the GGUF architecture name).
const char* gguf_key_pattern(GgufKey k);
bool gguf_key_has_arch(GgufKey k);
// The key as stored for GGUF architecture `gguf_arch` ("llama.context_length"); keys without "%s" ignore it.
std::string gguf_key(GgufKey k, const std::string& gguf_arch);
// For keys without "%s" only (an internal error otherwise).
std::string gguf_key(GgufKey k);
// The inverse: which key a stored name is for this GGUF architecture, or nullopt.
std::optional<GgufKey> parse_gguf_key(const std::string& key, const std::string& gguf_arch);

// ---- HF companion files --------------------------------------------------------------------------------

// The files of an HF model directory that travel with its weights (tokenizer, chat template, generation
// settings); config.json and the weights are written by whoever writes the model.
const std::vector<std::string>& hf_companion_files();
// Copies each companion file that exists in `from_dir` into `to_dir` (atomically, replacing); returns the
// names copied.
std::vector<std::string> copy_hf_companions(const std::string& from_dir, const std::string& to_dir);

}  // namespace loratune
