#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/enum_table.h"
#include "core/error.h"

namespace loratune::train {
namespace {
constexpr double kPi = 3.14159265358979323846;
constexpr EnumTable<Schedule, 3> kSchedules{
    {{Schedule::Constant, "constant"}, {Schedule::Linear, "linear"}, {Schedule::Cosine, "cosine"}}};
}  // namespace

const char* schedule_name(Schedule s) { return enum_name(kSchedules, s); }
std::optional<Schedule> parse_schedule(const std::string& name) { return enum_parse(kSchedules, name); }
std::vector<std::string> schedule_names() { return enum_names(kSchedules); }

void validate_schedule(const ScheduleOptions& s) {
  if (s.warmup_steps < 0)
    fail_input("warmup steps = " + std::to_string(s.warmup_steps) + " is negative", "use 0 for no warmup");
  if (!(s.min_lr_ratio >= 0.0 && s.min_lr_ratio <= 1.0))
    fail_input("min_lr_ratio = " + std::to_string(s.min_lr_ratio) + " is outside [0, 1]",
               "it is the fraction of the learning rate the decay ends at, e.g. 0.1");
}

double lr_at(const ScheduleOptions& s, double base_lr, int64_t step, int64_t total_steps) {
  validate_schedule(s);
  if (total_steps < 1)
    fail_input("the run has " + std::to_string(total_steps) + " optimizer steps",
               "set max steps or epochs so that at least one step runs");
  if (step < 0) fail_internal(__FILE__, __LINE__, "lr_at: negative step " + std::to_string(step));

  if (step < s.warmup_steps) return base_lr * static_cast<double>(step) / static_cast<double>(s.warmup_steps);
  if (s.kind == Schedule::Constant) return base_lr;

  const double decay_steps = static_cast<double>(std::max<int64_t>(1, total_steps - s.warmup_steps));
  const double progress = std::clamp(static_cast<double>(step - s.warmup_steps) / decay_steps, 0.0, 1.0);
  const double shape = s.kind == Schedule::Linear ? 1.0 - progress : 0.5 * (1.0 + std::cos(kPi * progress));
  return base_lr * (s.min_lr_ratio + (1.0 - s.min_lr_ratio) * shape);
}

}  // namespace loratune::train
