#include "train/loss.h"

#include <algorithm>

#include "core/error.h"
#include "train/batcher.h"

namespace loratune::train {
namespace {

constexpr int64_t kLogitsPerChunk = int64_t{1} << 23;

// The flat indices of the positions with a target, and those targets, checked against the vocabulary.
// targets [B, T] -> keep [N] int64, kept [N] int64
std::pair<torch::Tensor, torch::Tensor> kept_targets(const torch::Tensor& targets, int64_t V,
                                                     const torch::Device& device) {
  const auto flat = targets.reshape({-1}).to(device);                  // [B*T]
  const auto keep = flat.ne(kIgnoreIndex).nonzero().reshape({-1});     // [N]
  const auto kept = flat.index_select(0, keep);                        // [N]
  if (kept.numel() > 0 && kept.lt(0).logical_or(kept.ge(V)).any().item<bool>()) {
    const auto bad = kept.masked_select(kept.lt(0).logical_or(kept.ge(V)));
    fail_input("loss target token id " + std::to_string(bad[0].item<int64_t>()) +
                   " is outside the model's vocabulary of " + std::to_string(V) + " tokens",
               "the prepared dataset was built for another tokenizer; re-run prepare with this model's tokenizer");
  }
  return {keep, kept};
}

// Cross-entropy sum of rows h [N, H] against t [N] with head w [V, H], chunk by chunk. With grads, also
// fills grad_h [N, H] (h's dtype) and adds into grad_w [V, H] (fp32, when defined): d(sum)/d(inputs).
double chunked_ce(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& t, bool grads,
                  torch::Tensor* grad_h, torch::Tensor* grad_w) {
  const int64_t N = h.size(0), V = w.size(0);
  const int64_t chunk = std::max<int64_t>(16, kLogitsPerChunk / V);
  torch::Tensor total = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(h.device()));
  if (grads) *grad_h = torch::empty_like(h);
  for (int64_t begin = 0; begin < N; begin += chunk) {
    const int64_t n = std::min(chunk, N - begin);
    const auto hc = h.narrow(0, begin, n);                   // [n, H]
    const auto tc = t.narrow(0, begin, n).unsqueeze(1);      // [n, 1]
    auto lf = torch::mm(hc, w.t()).to(torch::kFloat32);      // [n, V] fp32 (a copy unless the head is fp32)
    const auto lse = torch::logsumexp(lf, 1, /*keepdim=*/true);  // [n, 1]
    total += (lse - lf.gather(1, tc)).sum().to(torch::kFloat64);
    if (!grads) continue;
    // d/d logits of sum(lse - logit[t]) = softmax - onehot(t).
    lf.sub_(lse).exp_();
    lf.scatter_add_(1, tc, torch::full({n, 1}, -1.0f, lf.options()));
    const auto g = lf.to(h.scalar_type());                   // [n, V] in the logits' dtype
    grad_h->narrow(0, begin, n).copy_(torch::mm(g, w));
    if (grad_w && grad_w->defined()) grad_w->add_(torch::mm(g.t(), hc).to(torch::kFloat32));
  }
  return total.item<double>();
}

// loss = sum CE(h W^T, t), with its gradients computed in forward (backward only scales them).
struct HeadLoss : public torch::autograd::Function<HeadLoss> {
  // h [N, H], w [V, H], t [N] -> [] fp32
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor h, torch::Tensor w,
                               torch::Tensor t, bool head_grad) {
    torch::Tensor grad_h, grad_w;
    if (head_grad) grad_w = torch::zeros(w.sizes(), w.options().dtype(torch::kFloat32));
    const double sum = chunked_ce(h, w, t, /*grads=*/true, &grad_h, &grad_w);
    ctx->saved_data["grad_w_defined"] = head_grad;
    ctx->save_for_backward({grad_h, head_grad ? grad_w : torch::Tensor()});
    return torch::full({}, sum, h.options().dtype(torch::kFloat32));
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto g = grads[0].to(torch::kFloat32);  // [] d(final loss)/d(sum), e.g. 1 / targets
    torch::Tensor grad_h = (saved[0].to(torch::kFloat32) * g).to(saved[0].scalar_type());
    torch::Tensor grad_w;
    if (ctx->saved_data["grad_w_defined"].toBool()) grad_w = (saved[1] * g);
    return {grad_h, grad_w, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor token_loss_sum(const torch::Tensor& logits, const torch::Tensor& targets) {
  LT_CHECK(logits.dim() == 3 && targets.dim() == 2 && logits.size(0) == targets.size(0) &&
               logits.size(1) == targets.size(1),
           "token_loss_sum: logits must be [B, T, V] and targets [B, T]");
  LT_CHECK(c10::isFloatingType(logits.scalar_type()), "token_loss_sum: logits must be floating point");
  LT_CHECK(targets.scalar_type() == torch::kInt64, "token_loss_sum: targets must be int64");
  const int64_t V = logits.size(2);
  const auto [keep, kept] = kept_targets(targets, V, logits.device());
  // Only the target rows are gathered and upcast: [N, V] fp32.
  const auto kept_logits = logits.reshape({-1, V}).index_select(0, keep).to(torch::kFloat32);
  return torch::nn::functional::cross_entropy(
      kept_logits, kept, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
}

torch::Tensor head_loss_sum(const torch::Tensor& hidden, const torch::Tensor& head, const torch::Tensor& targets) {
  LT_CHECK(hidden.dim() == 3 && targets.dim() == 2 && hidden.size(0) == targets.size(0) &&
               hidden.size(1) == targets.size(1) && head.dim() == 2 && head.size(1) == hidden.size(2),
           "head_loss_sum: hidden must be [B, T, H], head [V, H] and targets [B, T]");
  LT_CHECK(targets.scalar_type() == torch::kInt64, "head_loss_sum: targets must be int64");
  LT_CHECK(hidden.scalar_type() == head.scalar_type(), "head_loss_sum: hidden and head dtypes differ");
  const int64_t H = hidden.size(2), V = head.size(0);
  const auto [keep, kept] = kept_targets(targets, V, hidden.device());
  const auto h = hidden.reshape({-1, H}).index_select(0, keep);  // [N, H]
  const bool grad = torch::GradMode::is_enabled() && (hidden.requires_grad() || head.requires_grad());
  if (!grad) {
    const double sum = chunked_ce(h, head, kept, false, nullptr, nullptr);
    return torch::full({}, sum, hidden.options().dtype(torch::kFloat32));
  }
  return HeadLoss::apply(h, head, kept, head.requires_grad());
}

}  // namespace loratune::train
