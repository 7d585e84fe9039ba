// LoRA adapters as llama.cpp adapter GGUFs (convert_lora_to_gguf.py, src/llama-adapter.cpp):
// general.type "adapter", general.architecture = the base model's GGUF architecture, adapter.type "lora",
// adapter.lora.alpha (f32). Each adapted base tensor "blk.N.attn_q.weight" gets "blk.N.attn_q.weight.lora_a"
// with ne = [in, r] (the bytes of PEFT's A [r, in]) and ".lora_b" with ne = [r, out] (B [out, r]); for arch
// llama the q/k lora_b rows take the base weights' RoPE permutation. llama.cpp scales each pair by
// alpha / r with r = lora_b's ne[0]: one alpha for the whole file.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "io/gguf.h"
#include "lora/lora.h"

namespace loratune::exporter {

// One adapter in HF layout.
struct LoraWeights {
  std::string module_path;  // "model.layers.0.self_attn.q_proj"
  torch::Tensor a;          // [r, in] fp32
  torch::Tensor b;          // [out, r] fp32
  double scaling = 0;       // the factor on B A x
};

// The adapters of `model` (fp32 copies on the CPU).
std::vector<LoraWeights> lora_weights(const CausalLM& model);

// The file's alpha and the B factors that make llama.cpp's alpha / r equal each adapter's scaling:
// alpha = the first adapter's scaling * r (lora_alpha, or lora_alpha * sqrt(r) for rsLoRA); an adapter whose
// scaling differs from alpha / r_module (alpha_pattern, rsLoRA with rank_pattern) has its B multiplied by
// scaling / (alpha / r_module), which gives the same product. `rescaled` lists those modules.
struct GgufLoraPlan {
  double alpha = 0;
  std::vector<LoraWeights> weights;  // b already rescaled
  std::vector<std::string> rescaled;
};
GgufLoraPlan plan_gguf_lora(std::vector<LoraWeights> weights);

// Writes the adapter GGUF atomically. `requested` is the tensor type (F32, F16, BF16, Q8_0; Q8_0 rows that
// are not a multiple of 32, such as lora_b's [r, out] for r < 32, fall back to F16). Returns the plan used.
GgufLoraPlan write_gguf_lora(const std::string& path, const CausalLM& model, io::GgmlType requested,
                             const std::string& name, const std::string& model_dir);

// Reads an adapter GGUF back in HF layout (fp32, lora_b rows un-permuted, scaling = alpha / r). The keys,
// names and shapes are checked against `hp`; a problem is an input error naming the file and tensor.
std::vector<LoraWeights> read_gguf_lora(const io::GgufFile& f, const ModelHParams& hp);

// Attaches `weights` to a model without adapters, each with exactly its scaling (dropout 0).
void apply_lora_weights(CausalLM& model, const std::vector<LoraWeights>& weights);

}  // namespace loratune::exporter
