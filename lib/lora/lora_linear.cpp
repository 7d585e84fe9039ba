// The LoRA Linear's forward and backward (see LoraLinearAdapter in lora/lora.h).
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <mutex>

#include "core/error.h"
#include "lora/lora.h"

namespace loratune {
namespace {

constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ULL;

inline uint64_t mix64(uint64_t z) {  // splitmix64's finalizer
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// A dropout mask of rate threshold / 65536 over n elements, as a pure function of (key, element index).
struct DropMask {
  uint64_t key = 0;
  uint32_t threshold = 0;  // elements whose 16 hash bits are below it are dropped
  float scale = 1;         // 65536 / (65536 - threshold)

  static DropMask of_rate(double p, uint64_t key) {
    DropMask m;
    m.key = key;
    m.threshold = static_cast<uint32_t>(std::lround(p * 65536.0));
    if (m.threshold > 65535) m.threshold = 65535;
    m.scale = static_cast<float>(65536.0 / (65536.0 - m.threshold));
    return m;
  }
};

// out[i] = src[i] * keep(i) * scale in fp32; src contiguous of any float dtype (out may alias src when fp32).
template <typename T>
void apply_mask(const T* src, float* out, int64_t n, const DropMask& m) {
  const int64_t groups = (n + 3) / 4;
  at::parallel_for(0, groups, 4096, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const uint64_t h = mix64(m.key + static_cast<uint64_t>(g) * kGamma);
      const int64_t base = g * 4, end = std::min<int64_t>(base + 4, n);
      for (int64_t i = base; i < end; ++i) {
        const uint32_t bits = static_cast<uint32_t>(h >> (16 * (i - base))) & 0xFFFFu;
        out[i] = bits >= m.threshold ? static_cast<float>(src[i]) * m.scale : 0.0f;
      }
    }
  });
}

// x (any float dtype) * mask * scale as a new contiguous fp32 tensor, or in place when x is fp32 and
// `in_place`. x [*] -> [*] fp32
torch::Tensor masked(const torch::Tensor& x, const DropMask& m, bool in_place) {
  const auto src = x.contiguous();
  torch::Tensor out = (in_place && src.scalar_type() == torch::kFloat32 && src.data_ptr() == x.data_ptr())
                          ? src
                          : torch::empty(src.sizes(), src.options().dtype(torch::kFloat32));
  const int64_t n = src.numel();
  float* o = out.data_ptr<float>();
  switch (src.scalar_type()) {
    case torch::kFloat32: apply_mask(src.data_ptr<float>(), o, n, m); break;
    case torch::kBFloat16: apply_mask(src.data_ptr<c10::BFloat16>(), o, n, m); break;
    case torch::kHalf: apply_mask(src.data_ptr<c10::Half>(), o, n, m); break;
    default: LT_CHECK(false, "LoRA dropout: unsupported dtype");
  }
  return out;
}

uint64_t draw_key() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get<at::CPUGeneratorImpl>()->random64();
}

// The dropped (or plain) fp32 copy of x2 [N, in] the adapter multiplies by A^T. On a CPU tensor the mask is
// DropMask's; elsewhere it is `keep` [N, in] bool (drawn in forward, kept for backward).
torch::Tensor dropped(const torch::Tensor& x2, double p, const DropMask& m, const torch::Tensor& keep) {
  if (p <= 0) return x2.to(torch::kFloat32);
  if (x2.is_cpu()) return masked(x2, m, /*in_place=*/false);
  return x2.to(torch::kFloat32) * keep.to(torch::kFloat32) * m.scale;
}

// y = x W^T + b + s * (drop(x) A^T) B^T, with hand-written backward. x [N, in], W [out, in], b [out] or
// nullopt (an undefined tensor cannot be an autograd input), A [r, in] fp32, B [out, r] fp32 -> [N, out] in x's
// dtype. Which gradients backward computes is recorded in forward: needs_input_grad counts only the inputs that
// are tensors, so its indices would shift with a missing bias.
struct LoraLinearFn : public torch::autograd::Function<LoraLinearFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, torch::Tensor w,
                               c10::optional<torch::Tensor> bias, torch::Tensor a, torch::Tensor b, double scaling,
                               double p) {
    DropMask m = DropMask::of_rate(p, p > 0 ? draw_key() : 0);
    torch::Tensor keep;
    if (p > 0 && !x.is_cpu()) {
      keep = torch::rand(x.sizes(), x.options().dtype(torch::kFloat32)).ge(p);
      m.scale = static_cast<float>(1.0 / (1.0 - p));
    }
    auto y = torch::linear(x, w, bias.has_value() ? *bias : torch::Tensor());  // [N, out]
    const auto xa = torch::mm(dropped(x, p, m, keep), a.t());            // [N, r] fp32
    y.add_(torch::mm(xa, b.t()), scaling);                               // fp32 sum, rounded once
    ctx->save_for_backward({x, w, a, b, xa, keep});
    ctx->saved_data["scaling"] = scaling;
    ctx->saved_data["p"] = p;
    ctx->saved_data["grad_x"] = x.requires_grad();
    ctx->saved_data["grad_a"] = a.requires_grad();
    ctx->saved_data["grad_b"] = b.requires_grad();
    ctx->saved_data["key"] = static_cast<int64_t>(m.key);
    ctx->saved_data["scale"] = static_cast<double>(m.scale);
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1], &a = saved[2], &b = saved[3], &xa = saved[4], &keep = saved[5];
    const double scaling = ctx->saved_data["scaling"].toDouble(), p = ctx->saved_data["p"].toDouble();
    DropMask m = DropMask::of_rate(p, static_cast<uint64_t>(ctx->saved_data["key"].toInt()));
    m.scale = static_cast<float>(ctx->saved_data["scale"].toDouble());
    const auto gy = grads[0].contiguous();                 // [N, out] x's dtype
    const auto gyf = gy.to(torch::kFloat32);               // [N, out] fp32 (PEFT's upcast sum's gradient)
    const auto gxa = torch::mm(gyf, b).mul_(scaling);      // [N, r]
    torch::Tensor grad_a, grad_b, grad_x;
    if (ctx->saved_data["grad_b"].toBool()) grad_b = torch::mm(gyf.t(), xa).mul_(scaling);  // [out, r]
    if (ctx->saved_data["grad_a"].toBool()) grad_a = torch::mm(gxa.t(), dropped(x, p, m, keep));  // [r, in]
    if (ctx->saved_data["grad_x"].toBool()) {
      auto gx_lora = torch::mm(gxa, a);                    // [N, in] fp32
      if (p > 0) gx_lora = x.is_cpu() ? masked(gx_lora, m, /*in_place=*/true) : gx_lora * keep * m.scale;
      grad_x = torch::mm(gy, w);                           // [N, in] x's dtype
      grad_x.add_(gx_lora);
    }
    return {grad_x, torch::Tensor(), torch::Tensor(), grad_a, grad_b, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor LoraLinearAdapter::forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  const int64_t in = x.size(-1);
  const auto& A = a_->weight;  // [r, in]
  const auto& B = b_->weight;  // [out, r]
  const bool train = a_->is_training();
  if (fused_ && torch::GradMode::is_enabled() && (x.requires_grad() || A.requires_grad() || B.requires_grad()) &&
      A.scalar_type() == torch::kFloat32 && B.scalar_type() == torch::kFloat32 && !weight.requires_grad() &&
      !(bias.defined() && bias.requires_grad())) {
    auto out_shape = x.sizes().vec();
    out_shape.back() = weight.size(0);
    const auto x2 = x.reshape({-1, in}).contiguous();  // [N, in]
    const auto b = bias.defined() ? c10::optional<torch::Tensor>(bias) : c10::nullopt;
    return LoraLinearFn::apply(x2, weight, b, A, B, scaling_, train ? dropout_ : 0.0).view(out_shape);
  }
  // Inference (or a base that trains too, or the no-grad forward of a checkpointed layer): plain ops,
  // autograd as it comes. Dropout draws the same key as LoraLinearFn would, so that a checkpointed layer's
  // recompute (with grad) uses the mask its forward (without) did.
  auto y = torch::linear(x, weight, bias);             // [*, out]
  torch::Tensor h;                                     // [*, in] fp32
  if (dropout_ > 0 && train && x.is_cpu() && fused_)
    h = masked(x, DropMask::of_rate(dropout_, draw_key()), /*in_place=*/false);
  else if (dropout_ > 0 && train)
    h = torch::dropout(x.to(torch::kFloat32), dropout_, /*train=*/true);
  else
    h = x.to(torch::kFloat32);
  // .to() is a no-op for the fp32 factors inject_lora creates; it keeps the math fp32 if a caller cast them.
  auto delta = torch::linear(torch::linear(h, A.to(torch::kFloat32)), B.to(torch::kFloat32)) * scaling_;  // [*, out]
  if (y.scalar_type() == torch::kFloat32) return y + delta;
  return (y.to(torch::kFloat32) + delta).to(y.scalar_type());
}

}  // namespace loratune
