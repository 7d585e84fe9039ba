#include "model/op_profile.h"

#include <ATen/record_function.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <vector>

#include "core/error.h"

namespace loratune {
namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t minor_faults() {
  struct rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_minflt);
}

struct Frame {
  const char* name;      // operator / node / scope name (static storage: RecordFunction names are)
  const char* override;  // the innermost enclosing loratune scope's category, or null
  int64_t start_ns, child_ns;
};

struct Totals {
  int64_t ns = 0, calls = 0;
};

// One recorder per process (RecordFunction callbacks are plain function pointers).
struct Recorder {
  std::atomic<bool> recording{false};
  std::atomic<int> installed{0};
  std::mutex mu;
  std::map<std::pair<std::string, std::string>, Totals> totals;  // (name, category) -> self time
  int64_t wall_ns = 0, faults = 0, started_ns = 0, started_faults = 0;
};
Recorder& recorder() {
  static Recorder r;
  return r;
}
thread_local std::vector<Frame> t_stack;

void push(const char* name, const char* scope_category) {
  const char* inherited = t_stack.empty() ? nullptr : t_stack.back().override;
  t_stack.push_back({name, scope_category ? scope_category : inherited, now_ns(), 0});
}

void pop() {
  const Frame f = t_stack.back();
  t_stack.pop_back();
  const int64_t total = now_ns() - f.start_ns;
  if (!t_stack.empty()) t_stack.back().child_ns += total;
  const std::string category = f.override ? f.override : op_category(f.name);
  auto& r = recorder();
  std::lock_guard<std::mutex> lock(r.mu);
  auto& t = r.totals[{f.name, category}];
  t.ns += total - f.child_ns;
  ++t.calls;
}

// Marks a RecordFunction whose start was recorded (the end callback pops only those).
struct Pushed : at::ObserverContext {};

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  if (!recorder().recording.load(std::memory_order_relaxed)) return nullptr;
  push(fn.name(), nullptr);
  return std::make_unique<Pushed>();
}

void on_end(const at::RecordFunction&, at::ObserverContext* ctx) {
  if (ctx && !t_stack.empty()) pop();
}

at::CallbackHandle g_handle = 0;

bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

}  // namespace

std::string op_category(const std::string& name) {
  // Backward nodes ("MmBackward0") and the engine's wrappers: only their own bookkeeping is self time.
  if (has(name, "autograd::engine") || (name.find("::") == std::string::npos && has(name, "Backward")))
    return "autograd engine";
  if (has(name, "scaled_dot_product") || has(name, "flash_attention") || has(name, "efficient_attention") ||
      name == "aten::_softmax" || name == "aten::softmax" || has(name, "_softmax_backward_data"))
    return "attention";
  if (has(name, "log_softmax") || has(name, "nll_loss") || has(name, "cross_entropy")) return "loss";
  if (name == "aten::mm" || name == "aten::addmm" || name == "aten::bmm" || name == "aten::matmul" ||
      name == "aten::linear" || name == "aten::baddbmm" || name == "aten::addbmm" || has(name, "mkldnn") ||
      name == "aten::dot" || name == "aten::mv")
    return "matmul";
  if (has(name, "dropout") || has(name, "bernoulli")) return "dropout";
  if (name == "aten::to" || name == "aten::_to_copy" || name == "aten::copy_" || name == "aten::contiguous" ||
      name == "aten::clone" || name == "aten::reshape" || name == "aten::index_select" || name == "aten::cat")
    return "cast/copy";
  if (has(name, "empty") || name == "aten::zeros" || name == "aten::zeros_like" || name == "aten::zero_" ||
      name == "aten::fill_" || name == "aten::full" || name == "aten::resize_" || name == "aten::new_zeros" ||
      name == "aten::ones" || name == "aten::ones_like")
    return "allocation";
  static const char* views[] = {"aten::view", "aten::transpose", "aten::narrow", "aten::slice", "aten::select",
                                "aten::expand", "aten::unsqueeze", "aten::squeeze", "aten::as_strided",
                                "aten::t", "aten::permute", "aten::detach", "aten::alias", "aten::_unsafe_view",
                                "aten::_reshape_alias", "aten::expand_as", "aten::unbind", "aten::split",
                                "aten::chunk", "aten::numpy_T", "aten::lift_fresh", "aten::result_type"};
  for (const char* v : views)
    if (name == v) return "views/metadata";
  if (name.rfind("aten::", 0) == 0) return "element-wise";
  return "other";
}

ProfileScope::ProfileScope(const char* category) : active_(recorder().recording.load(std::memory_order_relaxed)) {
  if (active_) push(category, category);
}

ProfileScope::~ProfileScope() {
  if (active_ && !t_stack.empty()) pop();
}

OpProfile::OpProfile() {
  auto& r = recorder();
  LT_CHECK(r.installed.fetch_add(1) == 0, "OpProfile: only one profile may exist at a time");
  {
    std::lock_guard<std::mutex> lock(r.mu);
    r.totals.clear();
    r.wall_ns = r.faults = 0;
  }
  g_handle = at::addGlobalCallback(at::RecordFunctionCallback(&on_start, &on_end)
                                       .needsInputs(false)
                                       .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
}

OpProfile::~OpProfile() {
  stop();
  at::removeCallback(g_handle);
  recorder().installed.fetch_sub(1);
}

void OpProfile::start() {
  auto& r = recorder();
  if (r.recording.load()) return;
  r.started_ns = now_ns();
  r.started_faults = minor_faults();
  r.recording.store(true);
}

void OpProfile::stop() {
  auto& r = recorder();
  if (!r.recording.load()) return;
  r.recording.store(false);
  r.wall_ns += now_ns() - r.started_ns;
  r.faults += minor_faults() - r.started_faults;
}

nlohmann::json OpProfile::report(int top_ops) const {
  auto& r = recorder();
  std::lock_guard<std::mutex> lock(r.mu);
  std::map<std::string, int64_t> by_category;
  std::vector<std::pair<std::pair<std::string, std::string>, Totals>> ops(r.totals.begin(), r.totals.end());
  int64_t tracked = 0;
  for (const auto& [key, t] : ops) {
    by_category[key.second] += t.ns;
    tracked += t.ns;
  }
  const double wall = static_cast<double>(r.wall_ns) * 1e-9;
  auto share = [&](int64_t ns) { return r.wall_ns > 0 ? static_cast<double>(ns) / static_cast<double>(r.wall_ns) : 0.0; };
  std::vector<std::pair<std::string, int64_t>> cats(by_category.begin(), by_category.end());
  cats.emplace_back("untracked", std::max<int64_t>(0, r.wall_ns - tracked));
  std::sort(cats.begin(), cats.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  nlohmann::json categories = nlohmann::json::array();
  for (const auto& [name, ns] : cats)
    categories.push_back({{"name", name}, {"seconds", static_cast<double>(ns) * 1e-9}, {"share", share(ns)}});
  std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second.ns > b.second.ns; });
  nlohmann::json top = nlohmann::json::array();
  for (size_t i = 0; i < ops.size() && static_cast<int>(i) < top_ops; ++i)
    top.push_back({{"name", ops[i].first.first},
                   {"category", ops[i].first.second},
                   {"seconds", static_cast<double>(ops[i].second.ns) * 1e-9},
                   {"share", share(ops[i].second.ns)},
                   {"calls", ops[i].second.calls}});
  return {{"wall_s", wall},
          {"tracked_s", static_cast<double>(tracked) * 1e-9},
          {"untracked_s", static_cast<double>(std::max<int64_t>(0, r.wall_ns - tracked)) * 1e-9},
          {"minor_page_faults", r.faults},
          {"categories", categories},
          {"ops", top}};
}

}  // namespace loratune
