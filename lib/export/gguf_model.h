// Hugging Face model <-> GGUF full model (llama.cpp's convert_hf_to_gguf.py conventions): architecture and
// hyper-parameter keys, the SentencePiece vocabulary, the q/k row permutation for the "llama" architecture,
// llama3 RoPE frequency factors, storage types per tensor, and the way back (GGUF -> HF tensors) that
// export uses to verify what it wrote.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "io/gguf.h"
#include "model/arch.h"
#include "model/gguf_base.h"
#include "model/hparams.h"
#include "tokenizer/tokenizer.h"

namespace loratune::exporter {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// The GGUF architecture a model becomes, from the architecture table (model/arch.h): llama and mistral ->
// "llama" (NORM RoPE: q/k rows permuted for its interleaved pairs), qwen2 -> "qwen2", qwen3 -> "qwen3" (NEOX
// RoPE: no permutation). Refused with an input error naming `model_dir` and the reason: qwen2 with head_dim
// != hidden / heads (llama.cpp's qwen2 crashes on it), llama3 RoPE scaling on qwen2/qwen3 (their GGUF
// architectures take no rope_freqs tensor).
struct GgufArch {
  Arch arch = Arch::Llama;  // the HF architecture (its row of the tensor name table)
  std::string name;         // general.architecture
  bool permute_qk = false;
  std::string key(GgufKey k) const { return gguf_key(k, name); }  // "llama.context_length"
};
GgufArch gguf_arch(const ModelHParams& hp, const std::string& model_dir);

// general.file_type for a requested tensor type (ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7, MOSTLY_BF16 32).
uint32_t gguf_file_type(io::GgmlType requested);

// The type a tensor of HF shape `hf_shape` is stored as when `requested` is asked for. As in llama.cpp's
// converter, 1-D tensors (norms, biases) stay F32, and a Q8_0 tensor whose rows (the last HF dimension)
// are not a multiple of 32 falls back to F16.
io::GgmlType storage_type(const std::vector<int64_t>& hf_shape, io::GgmlType requested);

// The q/k row permutation of llama.cpp's "llama" architecture (model/gguf_base.h).
using loratune::permute_for_llama_rope;
using loratune::unpermute_from_llama_rope;
// The reordering `p` (from the name table) for this model; identity for None or NEOX architectures.
torch::Tensor to_gguf_rows(const torch::Tensor& w, RopePermute p, const ModelHParams& hp, const GgufArch& arch);
torch::Tensor from_gguf_rows(const torch::Tensor& w, RopePermute p, const ModelHParams& hp, const GgufArch& arch);

// llama3_rope_freqs (the rope_freqs.weight values): model/gguf_base.h.

// The bytes of an HF tensor (any dtype/device) in GGUF layout: ne = the HF shape reversed, rows reordered
// for `p`, encoded as `type`.
std::vector<uint8_t> gguf_tensor_bytes(const torch::Tensor& hf, io::GgmlType type);
std::vector<int64_t> gguf_ne(const std::vector<int64_t>& hf_shape);  // reversed

// llama.cpp's SentencePiece ("llama") vocabulary needs the 256 byte-fallback pieces <0x00>..<0xFF> (it aborts
// loading a GGUF without them): an input error naming <model_dir>/tokenizer.model otherwise.
void check_gguf_tokenizer(const Tokenizer& tok, const std::string& model_dir);

// Adds the architecture, hyper-parameter, tokenizer and chat-template keys for a full model.
// The tokenizer must pass check_gguf_tokenizer. Vocabulary rows beyond the tokenizer (hp.vocab_size larger) become
// "[PAD<i>]" pieces of type unused with score -10000, as the converter writes them.
void add_model_metadata(io::GgufWriter& w, const ModelHParams& hp, const GgufArch& arch, io::GgmlType requested,
                        const std::string& name);
void add_vocab_metadata(io::GgufWriter& w, const Tokenizer& tok, const ModelHParams& hp,
                        const std::string& model_dir);

// Writes a full-model GGUF from `state` (HF names, e.g. model_state() of a merged model) atomically to `path`.
void write_gguf_model(const std::string& path, const NamedTensors& state, const ModelHParams& hp, const Tokenizer& tok,
                      io::GgmlType requested, const std::string& name, const std::string& model_dir);

// Reads a full-model GGUF back as HF tensors (fp32, CPU): names mapped back, rows un-permuted, types decoded.
// Checks the architecture and hyper-parameter keys against `hp`, rope_freqs against llama3_rope_freqs, and
// the vocabulary (tokens, scores, types, special ids) against `tok`; a mismatch is a runtime error naming
// the key (an export bug, not a user error).
NamedTensors read_gguf_model(const io::GgufFile& f, const ModelHParams& hp, const Tokenizer& tok);

}  // namespace loratune::exporter
