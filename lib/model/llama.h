// The Llama-family decoder (llama, mistral, qwen2, qwen3) in LibTorch with exactly the Hugging Face math.
// Parameter names equal the HF checkpoint names ("model.layers.0.self_attn.q_proj.weight"), so loading,
// saving and later name mappings work on named_parameters() directly.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "model/hparams.h"

namespace loratune {

// Per-layer key/value cache for incremental decoding.
struct KVCache {
  std::vector<torch::Tensor> k, v;  // per layer: [B, nKV, capacity, hd]
  int64_t length = 0;               // positions filled
  int64_t capacity = 0;
};

struct ForwardOptions {
  // [B, T] int64 positions; default: cache->length + arange(T) for every row.
  torch::Tensor position_ids;
  // [B, T, S] bool, true = query t may attend key s (S = cache length + T). Default: causal (+ sliding
  // window when the model has one). Callers that pass it are responsible for causality.
  torch::Tensor attention_mask;
  KVCache* cache = nullptr;  // when set, keys/values are appended and earlier ones attended to
  // Gradient checkpointing: keep only each decoder layer's input and recompute the layer in backward
  // (training only; not with a cache). The CPU RNG state is restored for the recompute, so dropout
  // draws the same masks and the gradients equal the non-checkpointed ones.
  bool checkpoint_layers = false;
};

// An add-on to a Linear layer (e.g. a LoRA adapter, lib/lora): computes the layer's whole output from its
// input and the frozen base weight (so that it can fuse the base projection with its own work).
class LinearAdapter {
 public:
  virtual ~LinearAdapter() = default;
  // x [*, in], weight [out, in], bias [out] or undefined -> [*, out]
  virtual torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) = 0;
};

// y = x W^T + b, W [out, in] (HF nn.Linear layout), plus an optional adapter.
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in, int64_t out, bool bias);
  torch::Tensor forward(const torch::Tensor& x);  // [*, in] -> [*, out]
  torch::Tensor weight;  // [out, in]
  torch::Tensor bias;    // [out] or undefined
  std::shared_ptr<LinearAdapter> adapter;  // null = plain linear layer
};
TORCH_MODULE(Linear);

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t vocab, int64_t dim);
  torch::Tensor forward(const torch::Tensor& ids);  // [B, T] -> [B, T, D]
  torch::Tensor weight;                             // [V, D]
};
TORCH_MODULE(Embedding);

// HF RMSNorm: x * rsqrt(mean(x^2) + eps) in fp32, cast back to x's dtype, then * weight.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // [*, D] -> [*, D]
  torch::Tensor weight;                           // [D]
  double eps;
};
TORCH_MODULE(RMSNorm);

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelHParams& hp, int64_t layer_index);
  // x [B, T, H], cos/sin [B, T, hd] (x's dtype), mask [B|1, 1, T, S] (additive fp32 on LibTorch 1.13,
  // bool true = attend on 2.x; undefined on 2.x = causal over T == S, the causal kernel) -> [B, T, H]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, KVCache* cache);
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};  // qwen3 only

 private:
  int64_t n_heads_, n_kv_heads_, head_dim_, layer_;
};
TORCH_MODULE(Attention);

class MLPImpl : public torch::nn::Module {
 public:
  explicit MLPImpl(const ModelHParams& hp);
  torch::Tensor forward(const torch::Tensor& x);  // [B, T, H] -> [B, T, H]: down(silu(gate x) * up x)
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(MLP);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const ModelHParams& hp, int64_t layer_index);
  // x [B, T, H] -> [B, T, H]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, KVCache* cache);
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  MLP mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

// The decoder stack (HF "model." prefix).
class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const ModelHParams& hp);
  torch::Tensor forward(const torch::Tensor& input_ids, const ForwardOptions& opts);  // [B, T] -> [B, T, H]
  Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  std::vector<DecoderLayer> layer_list;

 private:
  ModelHParams hp_;
  torch::Tensor inv_freq_;  // [hd/2] fp32, on the device last used
};
TORCH_MODULE(Decoder);

class CausalLMImpl : public torch::nn::Module {
 public:
  explicit CausalLMImpl(const ModelHParams& hp);
  // input_ids [B, T] -> logits [B, T, V] (in the weights' dtype; upcast for losses)
  torch::Tensor forward(const torch::Tensor& input_ids, const ForwardOptions& opts = {});
  torch::Tensor hidden_states(const torch::Tensor& input_ids, const ForwardOptions& opts = {});  // [B, T, H]
  torch::Tensor logits_from_hidden(const torch::Tensor& hidden);                                 // [B, T, V]
  // The output projection's weight: lm_head's, or the input embedding's when they are tied. [V, H]
  const torch::Tensor& head_weight() const;
  // A cache for `batch` sequences of up to `capacity` positions, on the weights' device and dtype.
  KVCache new_cache(int64_t batch, int64_t capacity) const;
  const ModelHParams& hparams() const { return hp_; }
  torch::Device device() const;
  torch::ScalarType dtype() const;

  Decoder model{nullptr};
  Linear lm_head{nullptr};  // null when embeddings are tied

 private:
  ModelHParams hp_;
};
TORCH_MODULE(CausalLM);

// RoPE inverse frequencies per the config's rope type (HF modeling_rope_utils): [hd/2] fp32.
torch::Tensor rope_inv_freq(const ModelHParams& hp);
// HF rotary embedding: x [B, nH, T, hd], cos/sin [B, T, hd] -> [B, nH, T, hd]
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace loratune
