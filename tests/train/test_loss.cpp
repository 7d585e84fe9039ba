// token_loss_sum against torch's cross_entropy, bf16 logits, gradients, and the equivalence of
// gradient accumulation with one larger micro-batch.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "core/error.h"
#include "train/batcher.h"
#include "train/loss.h"

using namespace loratune;
using namespace loratune::train;
namespace F = torch::nn::functional;

namespace {

// [B, T] targets in [0, V) with about a third of the positions ignored.
torch::Tensor random_targets(int64_t B, int64_t T, int64_t V, torch::Generator& gen) {
  auto t = torch::randint(V, {B, T}, gen, torch::kInt64);
  auto drop = torch::rand({B, T}, gen) < 0.35;
  return t.masked_fill(drop, kIgnoreIndex);
}

torch::Tensor reference_sum(const torch::Tensor& logits, const torch::Tensor& targets) {  // [B,T,V],[B,T]
  const int64_t V = logits.size(2);
  return F::cross_entropy(logits.reshape({-1, V}).to(torch::kFloat32), targets.reshape({-1}),
                          F::CrossEntropyFuncOptions().ignore_index(kIgnoreIndex).reduction(torch::kSum));
}

}  // namespace

TEST_CASE("token_loss_sum equals cross_entropy(sum, ignore_index=-100)", "[train][loss]") {
  auto gen = at::detail::createCPUGenerator(1234);
  const int64_t B = 3, T = 7, V = 11;
  auto targets = random_targets(B, T, V, gen);
  REQUIRE(targets.ne(kIgnoreIndex).any().item<bool>());

  SECTION("fp32 logits: value and gradient within 1e-6 relative (fp32 sums of O(1) terms in another order)") {
    auto logits = (torch::randn({B, T, V}, gen) * 3).set_requires_grad(true);
    auto ref_logits = logits.detach().clone().set_requires_grad(true);
    auto loss = token_loss_sum(logits, targets);
    auto ref = reference_sum(ref_logits, targets);
    CHECK(loss.dim() == 0);
    CHECK(loss.scalar_type() == torch::kFloat32);
    CHECK(loss.item<double>() == Approx(ref.item<double>()).epsilon(1e-6));
    loss.backward();
    ref.backward();
    CHECK(torch::allclose(logits.grad(), ref_logits.grad(), 1e-6, 1e-7));
    // Ignored positions get no gradient at all.
    auto ignored = targets.eq(kIgnoreIndex).unsqueeze(-1).expand({B, T, V});
    CHECK(logits.grad().masked_select(ignored).abs().max().item<double>() == 0.0);
  }
  SECTION("bf16 logits are upcast: the result is the fp32 loss of the bf16 values, gradients are bf16") {
    auto logits = (torch::randn({B, T, V}, gen) * 3).to(torch::kBFloat16).set_requires_grad(true);
    auto loss = token_loss_sum(logits, targets);
    CHECK(loss.scalar_type() == torch::kFloat32);
    CHECK(loss.item<double>() == Approx(reference_sum(logits.detach(), targets).item<double>()).epsilon(1e-6));
    loss.backward();
    CHECK(logits.grad().scalar_type() == torch::kBFloat16);
  }
  SECTION("no targets: 0, still differentiable (zero gradient)") {
    auto logits = torch::randn({B, T, V}, gen).set_requires_grad(true);
    auto loss = token_loss_sum(logits, torch::full({B, T}, kIgnoreIndex, torch::kInt64));
    CHECK(loss.item<double>() == 0.0);
    loss.backward();
    CHECK(logits.grad().abs().max().item<double>() == 0.0);
  }
  SECTION("a target outside the vocabulary is an input error") {
    auto bad = targets.clone();
    bad[0][0] = V;
    try {
      token_loss_sum(torch::randn({B, T, V}, gen), bad);
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(e.kind() == ExitCode::Usage);
      CHECK(e.message() == "loss target token id 11 is outside the model's vocabulary of 11 tokens");
    }
  }
}

TEST_CASE("accumulating 4 micro-batches of 1 equals one micro-batch of 4", "[train][loss]") {
  // A linear "model" (logits = x W) so the gradients accumulate in W.grad across backward passes, as
  // in training. Rows have different target counts, so per-micro-batch means would be wrong; dividing
  // each micro-batch sum by the total target count is what makes the two agree. fp32 with O(1) values:
  // within 1e-6 (only the summation order differs).
  auto gen = at::detail::createCPUGenerator(99);
  const int64_t B = 4, T = 6, H = 5, V = 13;
  auto x = torch::randn({B, T, H}, gen);
  auto targets = random_targets(B, T, V, gen);
  targets[2].fill_(kIgnoreIndex);  // one row without targets
  targets[2][1] = 3;
  const auto total = targets.ne(kIgnoreIndex).sum().item<int64_t>();
  const auto W0 = torch::randn({H, V}, gen);

  auto W_full = W0.clone().set_requires_grad(true);
  auto full = token_loss_sum(torch::matmul(x, W_full), targets) / static_cast<double>(total);
  full.backward();

  auto W_acc = W0.clone().set_requires_grad(true);
  double accumulated = 0;
  for (int64_t b = 0; b < B; ++b) {
    auto micro = token_loss_sum(torch::matmul(x.slice(0, b, b + 1), W_acc), targets.slice(0, b, b + 1)) /
                 static_cast<double>(total);
    micro.backward();
    accumulated += micro.item<double>();
  }

  CHECK(accumulated == Approx(full.item<double>()).margin(1e-6));
  CHECK((W_acc.grad() - W_full.grad()).abs().max().item<double>() < 1e-6);
  // ... and it is the token-weighted mean, i.e. torch's cross_entropy with reduction mean.
  CHECK(full.item<double>() ==
        Approx(F::cross_entropy(torch::matmul(x, W0).reshape({-1, V}), targets.reshape({-1}),
                                F::CrossEntropyFuncOptions().ignore_index(kIgnoreIndex))
                   .item<double>())
            .margin(1e-6));
}
