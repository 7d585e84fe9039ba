// Where the time of a training (or eval) run goes: the self time of every LibTorch operator, autograd node
// and loratune scope, recorded through ATen's RecordFunction callbacks while an OpProfile is recording, and
// grouped into categories (matmul, attention, loss, LoRA dropout, casts/copies, element-wise, allocation,
// autograd engine, optimizer, data, other). Torch-free header.
//
// Self time = an entry's wall time minus that of the entries nested in it on the same thread, so the
// categories add up to the time spent inside recorded entries; "untracked" is the rest of the recorded
// wall time (loop glue outside any operator). Each intra-op worker's time is inside the operator that
// started it. Recording costs about a microsecond per operator (a few thousand per training step).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace loratune {

// A loratune scope: its own self time and that of every operator inside it (on its thread) go to
// `category` instead of the operator's own. Costs nothing while no OpProfile records.
class ProfileScope {
 public:
  ProfileScope(const char* category);
  ~ProfileScope();
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  bool active_;
};

class OpProfile {
 public:
  OpProfile();   // installs the callbacks, not yet recording
  ~OpProfile();  // removes them
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

  void start();  // records from now on (until stop); the recorded wall time and page faults accumulate
  void stop();
  // {"wall_s", "tracked_s", "untracked_s", "minor_page_faults", "categories": [{name, seconds, share}],
  //  "ops": [{name, category, seconds, calls}] (the `top_ops` largest by self time)}
  nlohmann::json report(int top_ops = 30) const;
};

// The category of an operator or autograd node name (e.g. "aten::mm" -> "matmul"), as report() uses.
std::string op_category(const std::string& name);

}  // namespace loratune
