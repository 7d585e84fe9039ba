#include "train/optimizer.h"

#include <cmath>
#include <set>
#include <sstream>

#include "core/error.h"

namespace loratune::train {
namespace {

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream os;
  os << '[';
  for (int64_t d = 0; d < t.dim(); ++d) os << (d ? ", " : "") << t.size(d);
  os << ']';
  return os.str();
}

void check_options(const AdamWOptions& o) {
  auto bad = [](const std::string& what, double v, const std::string& range) {
    fail_input("AdamW " + what + " = " + std::to_string(v) + " is out of range", what + " must be " + range);
  };
  if (!(o.beta1 >= 0 && o.beta1 < 1)) bad("beta1", o.beta1, "in [0, 1), e.g. 0.9");
  if (!(o.beta2 >= 0 && o.beta2 < 1)) bad("beta2", o.beta2, "in [0, 1), e.g. 0.999");
  if (!(o.eps > 0 && std::isfinite(o.eps))) bad("eps", o.eps, "positive, e.g. 1e-8");
  if (!(o.weight_decay >= 0 && std::isfinite(o.weight_decay))) bad("weight_decay", o.weight_decay, ">= 0, e.g. 0.01");
  if (!(o.lr >= 0 && std::isfinite(o.lr))) bad("lr", o.lr, ">= 0, e.g. 1e-4");
}

}  // namespace

AdamW::AdamW(std::vector<torch::Tensor> params, AdamWOptions opts) : params_(std::move(params)), opts_(opts) {
  check_options(opts_);
  std::set<const void*> seen;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    const std::string which = "AdamW: parameter " + std::to_string(i);
    LT_CHECK(p.defined(), which + " is undefined");
    LT_CHECK(p.scalar_type() == torch::kFloat32 || p.scalar_type() == torch::kFloat64,
             which + " must be fp32 or fp64 (trainable weights are kept in fp32)");
    LT_CHECK(p.requires_grad() && p.is_leaf(), which + " must be a leaf tensor that requires grad");
    LT_CHECK(seen.insert(p.unsafeGetTensorImpl()).second, which + " is listed twice");
    exp_avg_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    exp_avg_sq_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
  }
}

void AdamW::step(double lr) {
  if (!(lr >= 0 && std::isfinite(lr)))
    fail_input("AdamW: learning rate " + std::to_string(lr) + " is not a non-negative finite number",
               "check the lr and schedule settings");
  ++step_;
  const double bias_correction1 = 1.0 - std::pow(opts_.beta1, static_cast<double>(step_));
  const double bias_correction2 = 1.0 - std::pow(opts_.beta2, static_cast<double>(step_));
  const double step_size = lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  const double decay = 1.0 - lr * opts_.weight_decay;

  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    const auto& g = p.grad();
    if (!g.defined()) continue;
    LT_CHECK(!g.is_sparse(), "AdamW does not support sparse gradients");
    LT_CHECK(g.sizes() == p.sizes() && g.scalar_type() == p.scalar_type() && g.device() == p.device(),
             "AdamW: the gradient of parameter " + std::to_string(i) + " does not match the parameter");
    auto& m = exp_avg_[i];
    auto& v = exp_avg_sq_[i];
    if (opts_.weight_decay != 0) p.mul_(decay);
    m.mul_(opts_.beta1).add_(g, 1.0 - opts_.beta1);
    v.mul_(opts_.beta2).addcmul_(g, g, 1.0 - opts_.beta2);
    auto denom = (v.sqrt() / bias_correction2_sqrt).add_(opts_.eps);
    p.addcdiv_(m, denom, -step_size);
  }
}

void AdamW::zero_grad() {
  for (auto& p : params_) {
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
  }
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  out.reserve(1 + 2 * params_.size());
  out.emplace_back("step", torch::tensor(step_, torch::kInt64));
  auto cpu_copy = [](const torch::Tensor& t) {
    return t.detach().to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true).contiguous();
  };
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back("exp_avg." + std::to_string(i), cpu_copy(exp_avg_[i]));
    out.emplace_back("exp_avg_sq." + std::to_string(i), cpu_copy(exp_avg_sq_[i]));
  }
  return out;
}

void AdamW::load_state(const std::map<std::string, torch::Tensor>& state, const std::string& where) {
  std::vector<std::string> problems;
  std::set<std::string> expected{"step"};

  int64_t step = 0;
  auto it = state.find("step");
  if (it == state.end()) {
    problems.push_back("missing \"step\"");
  } else {
    const auto& s = it->second;
    if (!s.defined() || s.numel() != 1 || s.dim() > 1 || !c10::isIntegralType(s.scalar_type(), false)) {
      problems.push_back("\"step\" must be an integer scalar, found " +
                         (s.defined() ? std::string(c10::toString(s.scalar_type())) + " " + shape_str(s)
                                      : std::string("an undefined tensor")));
    } else {
      step = s.to(torch::kCPU).to(torch::kInt64).item<int64_t>();
      if (step < 0) problems.push_back("\"step\" is negative (" + std::to_string(step) + ")");
    }
  }

  std::vector<std::pair<torch::Tensor*, const torch::Tensor*>> copies;
  for (size_t i = 0; i < params_.size(); ++i) {
    for (auto [prefix, dst] : {std::pair<const char*, torch::Tensor*>{"exp_avg.", &exp_avg_[i]},
                               std::pair<const char*, torch::Tensor*>{"exp_avg_sq.", &exp_avg_sq_[i]}}) {
      const std::string name = prefix + std::to_string(i);
      expected.insert(name);
      auto found = state.find(name);
      if (found == state.end()) {
        problems.push_back("missing \"" + name + "\" " + shape_str(params_[i]));
        continue;
      }
      const auto& t = found->second;
      if (!t.defined() || !c10::isFloatingType(t.scalar_type()) || t.sizes() != params_[i].sizes()) {
        problems.push_back("\"" + name + "\": checkpoint " +
                           (t.defined() ? std::string(c10::toString(t.scalar_type())) + " " + shape_str(t)
                                        : std::string("undefined")) +
                           ", parameter " + shape_str(params_[i]));
        continue;
      }
      copies.emplace_back(dst, &t);
    }
  }
  for (const auto& [name, t] : state) {
    if (!expected.count(name)) problems.push_back("unexpected \"" + name + "\" " + (t.defined() ? shape_str(t) : ""));
  }

  if (!problems.empty()) {
    std::string msg = where + ": the optimizer state does not match the " + std::to_string(params_.size()) +
                      " trainable parameters:";
    const size_t shown = std::min<size_t>(problems.size(), 20);
    for (size_t i = 0; i < shown; ++i) msg += "\n  " + problems[i];
    if (problems.size() > shown) msg += "\n  ... and " + std::to_string(problems.size() - shown) + " more";
    fail_input(msg,
               "the checkpoint was written by a run with other trainable parameters (LoRA targets, rank, "
               "layers); resume with that run's config, or start a fresh run without {opt:resume}");
  }

  torch::NoGradGuard no_grad;
  for (auto& [dst, src] : copies) dst->copy_(*src);
  step_ = step;
}

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return 0.0;

  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> squares;  // per grad: sum of squares, fp64 scalar on the grad's device
  squares.reserve(grads.size());
  for (const auto& g : grads) {
    auto g64 = g.to(torch::kFloat64);
    squares.push_back(g64.mul(g64).sum().to(grads[0].device()));
  }
  // Sum the per-tensor partials on the CPU in list order: one transfer, and an order fixed by the list.
  const auto partials = torch::stack(squares).to(torch::kCPU);
  const double* data = partials.data_ptr<double>();
  double total = 0.0;
  for (int64_t i = 0; i < partials.numel(); ++i) total += data[i];
  const double norm = std::sqrt(total);

  if (max_norm > 0 && std::isfinite(norm)) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
      for (auto& g : grads) g.mul_(coef);
    }
  }
  return norm;
}

}  // namespace loratune::train
