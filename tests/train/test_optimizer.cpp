// AdamW against a hand-written reference of torch.optim.AdamW, decoupled weight decay, exact resume
// through the checkpoint state, and global-norm gradient clipping.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>

#include "core/error.h"
#include "model/tensor_io.h"
#include "test_util.h"
#include "train/optimizer.h"

using namespace loratune;
using namespace loratune::train;
using Catch::Matchers::Contains;

namespace {

// torch.optim.AdamW's algorithm as its documentation states it, on plain doubles, one parameter vector:
//   p *= 1 - lr*wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//   p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
struct ReferenceAdamW {
  std::vector<double> p, m, v;
  int64_t t = 0;

  void step(const std::vector<double>& g, double lr, const AdamWOptions& o) {
    ++t;
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] *= 1 - lr * o.weight_decay;
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
      const double m_hat = m[i] / (1 - std::pow(o.beta1, static_cast<double>(t)));
      const double v_hat = v[i] / (1 - std::pow(o.beta2, static_cast<double>(t)));
      p[i] -= lr * m_hat / (std::sqrt(v_hat) + o.eps);
    }
  }
};

// Initial values in [-0.25, 0.25] (exact in fp32) and a deterministic gradient per (step, element) with
// magnitudes spread over three decades, some elements with tiny gradients where eps matters.
std::vector<double> initial_values(size_t n) {
  std::vector<double> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = (static_cast<double>(i % 9) - 4.0) / 16.0;
  return x;
}
std::vector<double> gradient(size_t n, int64_t step, size_t offset = 0) {
  std::vector<double> g(n);
  for (size_t i = 0; i < n; ++i) {
    const double k = static_cast<double>(i + offset);
    g[i] = std::sin(1.3 * k + 0.7 * static_cast<double>(step)) * std::pow(10.0, static_cast<double>((i + offset) % 4) - 2.0);
  }
  g[0] = 1e-9 * (step + 1);  // comparable to eps after the bias correction
  return g;
}

torch::Tensor leaf(const std::vector<double>& values, torch::ScalarType dtype, std::vector<int64_t> shape) {
  return torch::tensor(values, torch::kFloat64).to(dtype).reshape(shape).set_requires_grad(true);
}
void set_grad(torch::Tensor& p, const std::vector<double>& g) {
  p.mutable_grad() = torch::tensor(g, torch::kFloat64).to(p.scalar_type()).reshape(p.sizes());
}
double max_abs_diff(const torch::Tensor& a, const std::vector<double>& ref) {
  auto r = torch::tensor(ref, torch::kFloat64).reshape(a.sizes());
  return (a.detach().to(torch::kFloat64) - r).abs().max().item<double>();
}

std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.kind() == ExitCode::Usage);
    return e.message();
  }
  FAIL("expected an input error");
  return {};
}

}  // namespace

TEST_CASE("AdamW matches torch.optim.AdamW's update", "[train][optimizer]") {
  AdamWOptions o;
  o.beta1 = 0.9;
  o.beta2 = 0.95;
  o.eps = 1e-8;
  o.weight_decay = 0.1;
  const std::vector<double> lrs = {1e-2, 3e-2, 5e-3};  // a different rate per step, as a schedule gives
  const size_t n0 = 12, n1 = 5;

  ReferenceAdamW r0{initial_values(n0), std::vector<double>(n0), std::vector<double>(n0)};
  ReferenceAdamW r1{initial_values(n1), std::vector<double>(n1), std::vector<double>(n1)};
  auto run_reference = [&] {
    for (int64_t s = 0; s < 3; ++s) {
      r0.step(gradient(n0, s), lrs[s], o);
      r1.step(gradient(n1, s, 100), lrs[s], o);
    }
  };
  run_reference();

  auto run = [&](torch::ScalarType dtype) {
    std::vector<torch::Tensor> params = {leaf(initial_values(n0), dtype, {3, 4}), leaf(initial_values(n1), dtype, {5})};
    AdamW opt(params, o);
    for (int64_t s = 0; s < 3; ++s) {
      set_grad(params[0], gradient(n0, s));
      set_grad(params[1], gradient(n1, s, 100));
      opt.step(lrs[s]);
      opt.zero_grad();
      CHECK_FALSE(params[0].grad().defined());
    }
    CHECK(opt.steps() == 3);
    return params;
  };

  SECTION("fp64 parameters: within 1e-12 (the same formulas; only fp64 rounding differs)") {
    auto params = run(torch::kFloat64);
    CHECK(max_abs_diff(params[0], r0.p) < 1e-12);
    CHECK(max_abs_diff(params[1], r1.p) < 1e-12);
  }
  SECTION("fp32 parameters: within 1e-7 (|p| <= 0.25, so each of the two fp32 roundings of p per step is <= 1.5e-8)") {
    auto params = run(torch::kFloat32);
    CHECK(max_abs_diff(params[0], r0.p) < 1e-7);
    CHECK(max_abs_diff(params[1], r1.p) < 1e-7);
  }
  SECTION("LibTorch's own torch::optim::AdamW agrees within 1e-7 in fp32 (same operation order)") {
    auto ours = run(torch::kFloat32);
    std::vector<torch::Tensor> theirs = {leaf(initial_values(n0), torch::kFloat32, {3, 4}),
                                         leaf(initial_values(n1), torch::kFloat32, {5})};
    torch::optim::AdamW ref(theirs, torch::optim::AdamWOptions(lrs[0])
                                        .betas({o.beta1, o.beta2})
                                        .eps(o.eps)
                                        .weight_decay(o.weight_decay));
    for (int64_t s = 0; s < 3; ++s) {
      static_cast<torch::optim::AdamWOptions&>(ref.param_groups()[0].options()).lr(lrs[s]);
      set_grad(theirs[0], gradient(n0, s));
      set_grad(theirs[1], gradient(n1, s, 100));
      ref.step();
    }
    for (size_t i = 0; i < 2; ++i)
      CHECK((ours[i] - theirs[i]).abs().max().item<double>() < 1e-7);
  }
}

TEST_CASE("AdamW weight decay is decoupled from the gradient moments", "[train][optimizer]") {
  AdamWOptions o;
  o.weight_decay = 0.1;
  const double lr = 1e-2;

  SECTION("with a zero gradient a step only shrinks the weights by 1 - lr * wd (exact in fp64)") {
    auto p = torch::tensor({0.5, -2.0, 3.0}, torch::kFloat64).set_requires_grad(true);
    auto expected = p.detach() * (1 - lr * o.weight_decay);
    AdamW opt({p}, o);
    p.mutable_grad() = torch::zeros_like(p);
    opt.step(lr);
    CHECK(torch::equal(p.detach(), expected));
  }
  SECTION("the moments equal those of a run without decay (decay never enters the gradient)") {
    auto a = leaf(initial_values(6), torch::kFloat32, {6});
    auto b = leaf(initial_values(6), torch::kFloat32, {6});
    AdamWOptions no_decay = o;
    no_decay.weight_decay = 0;
    AdamW with(std::vector<torch::Tensor>{a}, o), without(std::vector<torch::Tensor>{b}, no_decay);
    for (int64_t s = 0; s < 3; ++s) {
      set_grad(a, gradient(6, s));
      set_grad(b, gradient(6, s));
      with.step(lr);
      without.step(lr);
    }
    auto sa = with.state(), sb = without.state();
    REQUIRE(sa.size() == 3);
    for (size_t i = 0; i < sa.size(); ++i) {
      CHECK(sa[i].first == sb[i].first);
      CHECK(torch::equal(sa[i].second, sb[i].second));
    }
    CHECK_FALSE(torch::equal(a, b));  // ... while the weights differ by the decay
  }
}

TEST_CASE("AdamW resumes bit for bit from its saved state", "[train][optimizer]") {
  AdamWOptions o;
  o.weight_decay = 0.01;
  const std::vector<double> lrs = {1e-3, 2e-3, 3e-3, 2e-3, 1e-3};
  auto make_params = [] {
    return std::vector<torch::Tensor>{leaf(initial_values(8), torch::kFloat32, {2, 4}),
                                      leaf(initial_values(3), torch::kFloat32, {3})};
  };
  auto run_steps = [&](AdamW& opt, std::vector<torch::Tensor>& params, int64_t from, int64_t to) {
    for (int64_t s = from; s < to; ++s) {
      set_grad(params[0], gradient(8, s));
      set_grad(params[1], gradient(3, s, 7));
      opt.step(lrs[static_cast<size_t>(s)]);
      opt.zero_grad();
    }
  };

  auto straight = make_params();
  AdamW opt_straight(straight, o);
  run_steps(opt_straight, straight, 0, 5);

  // Run 2 steps, checkpoint parameters and optimizer state through a safetensors file, resume in a
  // fresh optimizer and finish the 3 remaining steps.
  lt_test::TempDir tmp;
  {
    auto first = make_params();
    AdamW opt(first, o);
    run_steps(opt, first, 0, 2);
    auto state = opt.state();
    CHECK(state[0].first == "step");
    CHECK(state[0].second.scalar_type() == torch::kInt64);
    state.emplace_back("param.0", first[0].detach());
    state.emplace_back("param.1", first[1].detach());
    save_safetensors(tmp.file("ckpt.safetensors"), state);
  }
  auto loaded = load_safetensors(tmp.file("ckpt.safetensors"));
  std::vector<torch::Tensor> resumed = {loaded.at("param.0").clone().set_requires_grad(true),
                                        loaded.at("param.1").clone().set_requires_grad(true)};
  loaded.erase("param.0");
  loaded.erase("param.1");
  AdamW opt_resumed(resumed, o);
  opt_resumed.load_state(loaded, tmp.file("ckpt.safetensors"));
  CHECK(opt_resumed.steps() == 2);
  run_steps(opt_resumed, resumed, 2, 5);

  CHECK(opt_resumed.steps() == 5);
  CHECK(torch::equal(straight[0], resumed[0]));
  CHECK(torch::equal(straight[1], resumed[1]));
  auto s1 = opt_straight.state(), s2 = opt_resumed.state();
  for (size_t i = 0; i < s1.size(); ++i) CHECK(torch::equal(s1[i].second, s2[i].second));
}

TEST_CASE("AdamW rejects a state that does not match its parameters", "[train][optimizer]") {
  std::vector<torch::Tensor> params = {leaf(initial_values(6), torch::kFloat32, {2, 3}),
                                       leaf(initial_values(4), torch::kFloat32, {4})};
  AdamW opt(params, AdamWOptions{});
  std::map<std::string, torch::Tensor> good;
  for (auto& [name, t] : opt.state()) good[name] = t;
  const std::string where = "/runs/x/checkpoints/step-10/optimizer.safetensors";

  auto attempt = [&](std::map<std::string, torch::Tensor> state) {
    return error_message([&] { opt.load_state(state, where); });
  };
  SECTION("a missing tensor") {
    auto s = good;
    s.erase("exp_avg_sq.1");
    auto msg = attempt(s);
    CHECK_THAT(msg, Contains(where) && Contains("missing \"exp_avg_sq.1\" [4]"));
  }
  SECTION("a shape mismatch names both shapes") {
    auto s = good;
    s["exp_avg.0"] = torch::zeros({3, 2});
    CHECK_THAT(attempt(s), Contains("\"exp_avg.0\": checkpoint Float [3, 2], parameter [2, 3]"));
  }
  SECTION("an extra parameter's state (a different LoRA config)") {
    auto s = good;
    s["exp_avg.2"] = torch::zeros({4});
    s["exp_avg_sq.2"] = torch::zeros({4});
    auto msg = attempt(s);
    CHECK_THAT(msg, Contains("unexpected \"exp_avg.2\"") && Contains("unexpected \"exp_avg_sq.2\""));
  }
  SECTION("a missing or malformed step") {
    auto s = good;
    s.erase("step");
    CHECK_THAT(attempt(s), Contains("missing \"step\""));
    s["step"] = torch::zeros({2}, torch::kInt64);
    CHECK_THAT(attempt(s), Contains("\"step\" must be an integer scalar"));
  }
  SECTION("nothing changes when the state is rejected") {
    auto s = good;
    s["step"] = torch::tensor(int64_t{7});
    s["exp_avg.0"] = torch::ones({2, 3});
    s.erase("exp_avg.1");
    attempt(s);
    CHECK(opt.steps() == 0);
    CHECK(opt.state()[1].second.abs().sum().item<double>() == 0);
  }
}

TEST_CASE("clip_grad_norm clips by the global L2 norm", "[train][optimizer]") {
  auto a = torch::zeros({2}).set_requires_grad(true);
  auto b = torch::zeros({1}).set_requires_grad(true);
  auto c = torch::zeros({3}).set_requires_grad(true);  // no grad: skipped
  auto set = [&](std::vector<float> ga, std::vector<float> gb) {
    a.mutable_grad() = torch::tensor(ga);
    b.mutable_grad() = torch::tensor(gb);
  };
  const std::vector<torch::Tensor> params = {a, b, c};

  SECTION("the norm of {3, 4} and {12} is 13; clipping to 6.5 halves the grads, as torch's clip_grad_norm_") {
    set({3, 4}, {12});
    CHECK(clip_grad_norm(params, 6.5) == Approx(13.0).epsilon(1e-15));
    const double scale = 6.5 / (13.0 + 1e-6);
    // fp32 grads scaled by a factor: within 1e-6 (a few fp32 ulps of values up to 12).
    CHECK(a.grad()[0].item<double>() == Approx(3 * scale).margin(1e-6));
    CHECK(a.grad()[1].item<double>() == Approx(4 * scale).margin(1e-6));
    CHECK(b.grad()[0].item<double>() == Approx(12 * scale).margin(1e-6));
    CHECK_FALSE(c.grad().defined());

    auto ta = torch::zeros({2}).set_requires_grad(true), tb = torch::zeros({1}).set_requires_grad(true);
    ta.mutable_grad() = torch::tensor({3.0f, 4.0f});
    tb.mutable_grad() = torch::tensor({12.0f});
    torch::nn::utils::clip_grad_norm_(std::vector<torch::Tensor>{ta, tb}, 6.5);
    CHECK(torch::allclose(ta.grad(), a.grad(), 0, 1e-6));
    CHECK(torch::allclose(tb.grad(), b.grad(), 0, 1e-6));
  }
  SECTION("max_norm <= 0 or above the norm leaves the grads untouched") {
    set({3, 4}, {12});
    CHECK(clip_grad_norm(params, 0) == Approx(13.0));
    CHECK(clip_grad_norm(params, 100) == Approx(13.0));
    CHECK(torch::equal(a.grad(), torch::tensor({3.0f, 4.0f})));
  }
  SECTION("fp32 grads whose squares overflow fp32 still give a finite fp64 norm") {
    set({3e20f, 4e20f}, {0});
    CHECK(clip_grad_norm(params, 1.0) == Approx(5e20).epsilon(1e-6));
    CHECK(a.grad().abs().max().item<double>() <= 1.0);
  }
  SECTION("a non-finite norm is returned and the grads are left alone") {
    set({std::numeric_limits<float>::infinity(), 1}, {2});
    CHECK(std::isinf(clip_grad_norm(params, 1.0)));
    CHECK(b.grad()[0].item<float>() == 2.0f);
    set({std::nanf(""), 1}, {2});
    CHECK(std::isnan(clip_grad_norm(params, 1.0)));
    CHECK(b.grad()[0].item<float>() == 2.0f);
  }
  SECTION("no gradients at all: norm 0") { CHECK(clip_grad_norm({c}, 1.0) == 0.0); }
}
