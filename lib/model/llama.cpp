#include "model/llama.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "core/error.h"

// LibTorch 2.x has scaled_dot_product_attention (fused kernels); 1.13 keeps the eager matmul-softmax-matmul
// path, which the 1.13 build's test suite covers.
#if TORCH_VERSION_MAJOR >= 2
#define LORATUNE_SDPA 1
#else
#define LORATUNE_SDPA 0
#endif

namespace loratune {
namespace {
// Uninitialised storage: weights are filled by the loader or by random init.
torch::Tensor empty_param(torch::IntArrayRef shape) { return torch::empty(shape, torch::kFloat32); }
}  // namespace

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias) {
  weight = register_parameter("weight", empty_param({out, in}));
  if (with_bias) bias = register_parameter("bias", empty_param({out}));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  return adapter ? adapter->forward(x, weight, bias) : torch::linear(x, weight, bias);
}

EmbeddingImpl::EmbeddingImpl(int64_t vocab, int64_t dim) {
  weight = register_parameter("weight", empty_param({vocab, dim}));
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) { return torch::embedding(weight, ids); }

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", empty_param({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto h = x.to(torch::kFloat32);
  auto var = h.pow(2).mean(-1, /*keepdim=*/true);
  h = h * torch::rsqrt(var + eps);
  return weight * h.to(x.scalar_type());
}

torch::Tensor rope_inv_freq(const ModelHParams& hp) {
  const int64_t hd = hp.head_dim;
  auto idx = torch::arange(0, hd, 2, torch::kInt64).to(torch::kFloat32);
  auto inv = 1.0 / torch::pow(static_cast<float>(hp.rope.theta), idx / static_cast<float>(hd));  // [hd/2]
  switch (hp.rope.type) {
    case RopeType::Default:
      return inv;
    case RopeType::Linear:
      return inv / static_cast<float>(hp.rope.factor);
    case RopeType::Llama3: {
      const double factor = hp.rope.factor, low = hp.rope.low_freq_factor, high = hp.rope.high_freq_factor;
      const double orig = static_cast<double>(hp.rope.original_max_position_embeddings);
      const double low_wavelen = orig / low, high_wavelen = orig / high;
      auto wavelen = 2.0 * M_PI / inv;
      auto scaled = torch::where(wavelen > low_wavelen, inv / factor, inv);
      auto smooth = (orig / wavelen - low) / (high - low);
      auto smoothed = (1.0 - smooth) * scaled / factor + smooth * scaled;
      auto is_medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
      return torch::where(is_medium, smoothed, scaled);
    }
  }
  return inv;
}

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  auto rotated = torch::cat({-x2, x1}, -1);  // rotate_half: pairs element i with i + hd/2
  auto c = cos.unsqueeze(1), s = sin.unsqueeze(1);  // [B, 1, T, hd]
  return x * c + rotated * s;
}

namespace {
// A decoder Linear as the architecture table describes it (shape [out, in] and bias flag from hp).
Linear table_linear(const ModelHParams& hp, const char* name) {
  for (const auto& m : decoder_linears(hp.arch))
    if (std::string(m.name) == name) return Linear(dim_of(hp, m.in), dim_of(hp, m.out), has_bias(hp, m.bias));
  LT_CHECK(false, std::string("the architecture table has no Linear '") + name + "'");
  return Linear(nullptr);
}
}  // namespace

AttentionImpl::AttentionImpl(const ModelHParams& hp, int64_t layer_index)
    : n_heads_(hp.num_heads), n_kv_heads_(hp.num_kv_heads), head_dim_(hp.head_dim), layer_(layer_index) {
  q_proj = register_module("q_proj", table_linear(hp, "q_proj"));
  k_proj = register_module("k_proj", table_linear(hp, "k_proj"));
  v_proj = register_module("v_proj", table_linear(hp, "v_proj"));
  o_proj = register_module("o_proj", table_linear(hp, "o_proj"));
  if (hp.qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(hp.head_dim, hp.rms_norm_eps));
    k_norm = register_module("k_norm", RMSNorm(hp.head_dim, hp.rms_norm_eps));
  }
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                     const torch::Tensor& mask, KVCache* cache) {
  const int64_t B = x.size(0), T = x.size(1);
  auto q = q_proj(x).view({B, T, n_heads_, head_dim_});     // [B, T, nH, hd]
  auto k = k_proj(x).view({B, T, n_kv_heads_, head_dim_});  // [B, T, nKV, hd]
  auto v = v_proj(x).view({B, T, n_kv_heads_, head_dim_});
  if (!q_norm.is_empty()) {
    q = q_norm(q);
    k = k_norm(k);
  }
  q = apply_rope(q.transpose(1, 2), cos, sin);  // [B, nH, T, hd]
  k = apply_rope(k.transpose(1, 2), cos, sin);  // [B, nKV, T, hd]
  v = v.transpose(1, 2);                        // [B, nKV, T, hd]
  if (cache) {
    const int64_t start = cache->length;
    if (start + T > cache->capacity)
      fail_runtime("KV cache overflow: " + std::to_string(start + T) + " positions > capacity " +
                   std::to_string(cache->capacity));
    cache->k[layer_].narrow(2, start, T).copy_(k);
    cache->v[layer_].narrow(2, start, T).copy_(v);
    k = cache->k[layer_].narrow(2, 0, start + T);  // [B, nKV, S, hd]
    v = cache->v[layer_].narrow(2, 0, start + T);
  }
  const int64_t S = k.size(2);
  if (n_kv_heads_ != n_heads_) {  // GQA: query head h uses kv head h / (nH / nKV)
    const int64_t rep = n_heads_ / n_kv_heads_;
    k = k.unsqueeze(2).expand({B, n_kv_heads_, rep, S, head_dim_}).reshape({B, n_heads_, S, head_dim_});
    v = v.unsqueeze(2).expand({B, n_kv_heads_, rep, S, head_dim_}).reshape({B, n_heads_, S, head_dim_});
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim_));
#if LORATUNE_SDPA
  // LibTorch 2.x: fused attention (flash kernels on CPU and CUDA, fp32 softmax accumulation); mask is bool.
  // An undefined mask means plain causal attention over T == S positions (DecoderImpl decides): the causal
  // kernel skips the masked half.
  auto out = mask.defined() ? at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale)
                            : at::scaled_dot_product_attention(q, k, v, {}, 0.0, true, scale);  // [B, nH, T, hd]
#else
  auto scores = torch::matmul(q, k.transpose(2, 3)) * scale;  // [B, nH, T, S]
  auto probs = torch::softmax(scores.to(torch::kFloat32) + mask, -1).to(q.scalar_type());
  auto out = torch::matmul(probs, v);  // [B, nH, T, hd]
#endif
  out = out.transpose(1, 2).reshape({B, T, n_heads_ * head_dim_});
  return o_proj(out);
}

MLPImpl::MLPImpl(const ModelHParams& hp) {
  gate_proj = register_module("gate_proj", table_linear(hp, "gate_proj"));
  up_proj = register_module("up_proj", table_linear(hp, "up_proj"));
  down_proj = register_module("down_proj", table_linear(hp, "down_proj"));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

DecoderLayerImpl::DecoderLayerImpl(const ModelHParams& hp, int64_t layer_index) {
  self_attn = register_module("self_attn", Attention(hp, layer_index));
  mlp = register_module("mlp", MLP(hp));
  input_layernorm = register_module("input_layernorm", RMSNorm(hp.hidden_size, hp.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(hp.hidden_size, hp.rms_norm_eps));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                        const torch::Tensor& mask, KVCache* cache) {
  auto h = x + self_attn(input_layernorm(x), cos, sin, mask, cache);
  return h + mlp(post_attention_layernorm(h));
}

namespace {
// Reentrant gradient checkpointing of one decoder layer (as torch.utils.checkpoint with
// use_reentrant=True): forward runs without building a graph; backward re-runs the layer with grad
// enabled from the saved input and back-propagates through it, accumulating parameter grads directly.
struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  // An autograd Function's tensor inputs must be defined (LibTorch 2.x describes each one): "no mask"
  // (causal attention, see Batch::causal) travels as an empty 1-D tensor.
  static torch::Tensor pack_mask(const torch::Tensor& m) { return m.defined() ? m : torch::empty({0}); }
  static torch::Tensor unpack_mask(const torch::Tensor& m) {
    return m.dim() == 1 && m.numel() == 0 ? torch::Tensor() : m;
  }
  // x [B, T, H] (must require grad so that backward is reached), cos/sin [B, T, hd], mask [B|1, 1, T, S]
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, torch::Tensor cos,
                               torch::Tensor sin, torch::Tensor mask, int64_t layer_ptr) {
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(layer_ptr);
    ctx->saved_data["layer"] = layer_ptr;
    ctx->saved_data["rng"] = at::detail::getDefaultCPUGenerator().get_state();
    ctx->save_for_backward({x, cos, sin, mask});
    return layer->forward(x, cos, sin, unpack_mask(mask), nullptr);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(ctx->saved_data["layer"].toInt());
    auto gen = at::detail::getDefaultCPUGenerator();
    auto now = gen.get_state();
    gen.set_state(ctx->saved_data["rng"].toTensor());
    auto x = saved[0].detach().requires_grad_(true);
    torch::Tensor y;
    {
      torch::AutoGradMode enable(true);
      y = layer->forward(x, saved[1], saved[2], unpack_mask(saved[3]), nullptr);
    }
    gen.set_state(now);
    torch::autograd::backward({y}, {grads[0]});
    return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};
}  // namespace

DecoderImpl::DecoderImpl(const ModelHParams& hp) : hp_(hp) {
  embed_tokens = register_module("embed_tokens", Embedding(hp.vocab_size, hp.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < hp.num_layers; ++i) {
    layer_list.push_back(DecoderLayer(hp, i));
    layers->push_back(layer_list.back());
  }
  norm = register_module("norm", RMSNorm(hp.hidden_size, hp.rms_norm_eps));
  inv_freq_ = rope_inv_freq(hp);
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& input_ids, const ForwardOptions& opts) {
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  const auto device = embed_tokens->weight.device();
  const auto dtype = embed_tokens->weight.scalar_type();
  const int64_t past = opts.cache ? opts.cache->length : 0;
  const int64_t S = past + T;

  auto pos = opts.position_ids.defined()
                 ? opts.position_ids.to(device)
                 : torch::arange(past, S, torch::TensorOptions().dtype(torch::kInt64).device(device))
                       .unsqueeze(0)
                       .expand({B, T});  // [B, T]
  if (inv_freq_.device() != device) inv_freq_ = inv_freq_.to(device);
  auto freqs = pos.to(torch::kFloat32).unsqueeze(-1) * inv_freq_.view({1, 1, -1});  // [B, T, hd/2]
  auto emb = torch::cat({freqs, freqs}, -1);                                          // [B, T, hd]
  auto cos = emb.cos().to(dtype), sin = emb.sin().to(dtype);

  torch::Tensor allowed;  // [B|1, T, S] bool
  if (opts.attention_mask.defined()) {
    allowed = opts.attention_mask.to(device).to(torch::kBool);
  } else {
    auto opts_i = torch::TensorOptions().dtype(torch::kInt64).device(device);
    auto q_pos = torch::arange(past, S, opts_i).unsqueeze(1);  // [T, 1]
    auto k_pos = torch::arange(0, S, opts_i).unsqueeze(0);     // [1, S]
    allowed = k_pos <= q_pos;
    if (hp_.sliding_window > 0) allowed = allowed.logical_and(q_pos - k_pos < hp_.sliding_window);
    allowed = allowed.unsqueeze(0);  // [1, T, S]
  }
#if LORATUNE_SDPA
  // [B|1, 1, T, S] bool, true = attend (scaled_dot_product_attention); undefined = its causal kernel, for the
  // default mask without a cache (T == S) when no sliding window cuts it.
  const bool plain_causal =
      !opts.attention_mask.defined() && !opts.cache && (hp_.sliding_window <= 0 || S <= hp_.sliding_window);
  auto mask = plain_causal ? torch::Tensor() : allowed.unsqueeze(1);
#else
  auto mask = torch::zeros(allowed.sizes(), torch::TensorOptions().dtype(torch::kFloat32).device(device))
                  .masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity())
                  .unsqueeze(1);  // [B|1, 1, T, S] additive
#endif

  auto h = embed_tokens(input_ids);  // [B, T, H]
  const bool checkpoint = opts.checkpoint_layers && !opts.cache && torch::GradMode::is_enabled();
  if (checkpoint && !h.requires_grad()) h = h.detach().requires_grad_(true);  // reach backward (frozen embeddings)
  for (auto& layer : layer_list) {
    h = checkpoint ? CheckpointedLayer::apply(h, cos, sin, CheckpointedLayer::pack_mask(mask), reinterpret_cast<int64_t>(layer.get()))
                   : layer(h, cos, sin, mask, opts.cache);
  }
  if (opts.cache) opts.cache->length = S;
  return norm(h);
}

CausalLMImpl::CausalLMImpl(const ModelHParams& hp) : hp_(hp) {
  model = register_module("model", Decoder(hp));
  if (!hp.tie_word_embeddings) lm_head = register_module("lm_head", Linear(hp.hidden_size, hp.vocab_size, false));
}

torch::Tensor CausalLMImpl::hidden_states(const torch::Tensor& input_ids, const ForwardOptions& opts) {
  return model(input_ids, opts);
}

torch::Tensor CausalLMImpl::logits_from_hidden(const torch::Tensor& hidden) {
  if (lm_head.is_empty()) return torch::linear(hidden, model->embed_tokens->weight);
  return lm_head(hidden);
}

const torch::Tensor& CausalLMImpl::head_weight() const {
  return lm_head.is_empty() ? model->embed_tokens->weight : lm_head->weight;
}

torch::Tensor CausalLMImpl::forward(const torch::Tensor& input_ids, const ForwardOptions& opts) {
  return logits_from_hidden(hidden_states(input_ids, opts));
}

KVCache CausalLMImpl::new_cache(int64_t batch, int64_t capacity) const {
  KVCache c;
  c.capacity = capacity;
  auto o = torch::TensorOptions().dtype(dtype()).device(device());
  for (int64_t i = 0; i < hp_.num_layers; ++i) {
    c.k.push_back(torch::zeros({batch, hp_.num_kv_heads, capacity, hp_.head_dim}, o));
    c.v.push_back(torch::zeros({batch, hp_.num_kv_heads, capacity, hp_.head_dim}, o));
  }
  return c;
}

torch::Device CausalLMImpl::device() const { return model->embed_tokens->weight.device(); }
torch::ScalarType CausalLMImpl::dtype() const { return model->embed_tokens->weight.scalar_type(); }

}  // namespace loratune
