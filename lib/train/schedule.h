// Learning-rate schedules: constant, linear and cosine decay after a linear warmup, with the step
// convention of Hugging Face transformers' get_{constant,linear,cosine}_schedule_with_warmup (and
// get_cosine_with_min_lr_schedule_with_warmup), so that runs can be compared with trainer configs.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace loratune::train {

enum class Schedule { Constant, Linear, Cosine };
const char* schedule_name(Schedule s);  // "constant", "linear", "cosine"
std::optional<Schedule> parse_schedule(const std::string& name);  // nullopt for another name
std::vector<std::string> schedule_names();

struct ScheduleOptions {
  Schedule kind = Schedule::Cosine;
  int64_t warmup_steps = 0;     // >= 0
  double min_lr_ratio = 0.0;    // in [0, 1]: the decays end at min_lr_ratio * base_lr
};

// The learning rate of optimizer step `step` (0-based) of a run of `total_steps` steps:
//   step < warmup:   base_lr * step / warmup               (step 0 runs at 0, as in transformers)
//   afterwards, with progress = (step - warmup) / max(1, total_steps - warmup), clamped to [0, 1],
//   and floor = min_lr_ratio:
//     constant       base_lr
//     linear         base_lr * (floor + (1 - floor) * (1 - progress))
//     cosine         base_lr * (floor + (1 - floor) * 0.5 * (1 + cos(pi * progress)))
// so the decays reach floor * base_lr at step == total_steps (the last step run is total_steps - 1).
// A negative warmup, min_lr_ratio outside [0, 1] or total_steps < 1 is an input error.
double lr_at(const ScheduleOptions& s, double base_lr, int64_t step, int64_t total_steps);

// Input-error check of the options alone (the checks lr_at makes), for config validation up front.
void validate_schedule(const ScheduleOptions& s);

}  // namespace loratune::train
