// A GGUF model file as a base model: the hyper-parameters from its architecture keys and its tensors under
// Hugging Face names (dequantized to fp32, llama's q/k rows un-permuted), for load_model. Also the q/k row
// permutation llama.cpp's "llama" architecture uses, shared with the GGUF export.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "model/hparams.h"

namespace loratune {

namespace io {
class GgufFile;
}

// llama.cpp's "llama" RoPE pairs (2i, 2i+1) of each head where HF pairs (i, i + hd/2). The converter reorders
// the rows of q_proj (per attention head) and k_proj (per key/value head):
// w [n_heads * hd, *] -> view [n_heads, 2, hd/2, *] -> swap dims 1 and 2 -> [n_heads * hd, *].
// 1-D tensors (biases) and lora_B [out, r] are reordered the same way.
torch::Tensor permute_for_llama_rope(const torch::Tensor& w, int64_t n_heads);     // [nH*hd, *] -> [nH*hd, *]
torch::Tensor unpermute_from_llama_rope(const torch::Tensor& w, int64_t n_heads);  // the inverse

// llama3 RoPE as llama.cpp applies it: per frequency i < head_dim/2 the divisor of theta^(-2i/hd)
// (1, factor, or 1 / ((1 - s) / factor + s) in the smooth band), stored as the F32 tensor rope_freqs.weight.
std::vector<float> llama3_rope_freqs(const ModelHParams& hp);  // [head_dim / 2]

// The hyper-parameters of a GGUF model (general.architecture llama, qwen2 or qwen3; a llama file may be a
// Llama or a Mistral model: both load as llama). Input errors name the file and key: another architecture,
// a missing key, another RoPE scaling type, or a rope_freqs.weight that is not llama3 RoPE (its
// parameters are recovered from the divisors: see gguf_base.cpp).
ModelHParams hparams_from_gguf(const io::GgufFile& f);

// The file's tensors as HF tensors (fp32, CPU): names mapped with the architecture table, every type
// dequantized as ggml does, q/k rows un-permuted for NORM-RoPE architectures. An unknown tensor name is an
// input error naming it.
std::vector<std::pair<std::string, torch::Tensor>> gguf_hf_tensors(const io::GgufFile& f, const ModelHParams& hp);

}  // namespace loratune
