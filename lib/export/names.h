// The one table of tensor-name mappings between Hugging Face checkpoints, PEFT adapters and GGUF files
// (llama.cpp: gguf-py/gguf/tensor_mapping.py, convert_lora_to_gguf.py). Every exporter and every reader
// of an exported file goes through these functions; tests/export/test_names.cpp checks them both ways.
//
//   HF tensor                                    GGUF tensor                 PEFT adapter tensor
//   model.embed_tokens.weight                    token_embd.weight
//   model.layers.3.self_attn.q_proj.weight       blk.3.attn_q.weight         base_model.model.model.layers.3
//                                                blk.3.attn_q.weight.lora_a    .self_attn.q_proj.lora_A.weight
//   ...
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace loratune::exporter {

// How a tensor's rows must be reordered for llama.cpp's "llama" architecture, whose RoPE rotates
// consecutive pairs (2i, 2i+1) where HF rotates (i, i + head_dim/2). NEOX-rope architectures (qwen2, qwen3)
// need no reordering.
enum class RopePermute {
  None,
  QueryHeads,  // q_proj rows, per attention head
  KeyHeads,    // k_proj rows, per key/value head
};

// One row of the table: an HF module path pattern and its GGUF name, "{N}" standing for the layer index.
struct NameRule {
  const char* hf_module;    // "model.layers.{N}.self_attn.q_proj"
  const char* gguf_module;  // "blk.{N}.attn_q"
  RopePermute permute;
};
const std::vector<NameRule>& name_table();

// The GGUF-only tensor holding llama3 RoPE frequency divisors (F32 [head_dim / 2]).
constexpr const char* kGgufRopeFreqs = "rope_freqs.weight";

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight" (".weight" / ".bias" carried over).
// A tensor the table does not know is an input error naming it ("is this a Llama-family checkpoint?").
std::string gguf_tensor_name(const std::string& hf_tensor);
// The inverse; an unknown GGUF tensor name is an input error naming it.
std::string hf_tensor_name(const std::string& gguf_tensor);
// nullopt instead of an error, for callers that sort names into known and unknown.
std::optional<std::string> find_gguf_tensor_name(const std::string& hf_tensor);
std::optional<std::string> find_hf_tensor_name(const std::string& gguf_tensor);
// The reordering an HF tensor needs for GGUF arch "llama" (None for tensors the table does not know).
RopePermute rope_permute_of(const std::string& hf_tensor);

enum class LoraMatrix { A, B };

struct LoraTensorName {
  std::string module_path;  // HF module path, "model.layers.3.self_attn.q_proj"
  LoraMatrix matrix = LoraMatrix::A;
  bool operator==(const LoraTensorName& o) const { return module_path == o.module_path && matrix == o.matrix; }
};

// PEFT: "base_model.model.<module path>.lora_A.weight" / ".lora_B.weight" (the names PEFT saves).
std::string peft_tensor_name(const std::string& module_path, LoraMatrix f);
std::optional<LoraTensorName> parse_peft_tensor_name(const std::string& name);

// GGUF LoRA: "<GGUF base tensor>.lora_a" / ".lora_b", e.g. "blk.3.attn_q.weight.lora_a" (what llama.cpp's
// adapter loader pairs with the base model's "blk.3.attn_q.weight").
std::string gguf_lora_tensor_name(const std::string& module_path, LoraMatrix f);
std::optional<LoraTensorName> parse_gguf_lora_tensor_name(const std::string& name);

}  // namespace loratune::exporter
