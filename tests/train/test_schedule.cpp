// Learning-rate schedules at their key points: warmup start/end, middle of the decay, end, floor.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>

#include "core/error.h"
#include "train/schedule.h"

using namespace loratune;
using namespace loratune::train;

namespace {
ScheduleOptions sched(const std::string& kind, int64_t warmup, double min_ratio = 0.0) {
  ScheduleOptions s;
  s.kind = *parse_schedule(kind);
  s.warmup_steps = warmup;
  s.min_lr_ratio = min_ratio;
  return s;
}
// Closed-form values computed in double: 1e-12 relative covers the few roundings of the formulas.
Approx near(double x) { return Approx(x).epsilon(1e-12).margin(1e-18); }
}  // namespace

TEST_CASE("learning-rate schedules", "[train][schedule]") {
  const double lr = 2e-4;
  const int64_t total = 110, warmup = 10;  // 100 decay steps after the warmup

  SECTION("warmup rises linearly from 0 and reaches the base rate at warmup_steps, for every kind") {
    for (const char* kind : {"constant", "linear", "cosine"}) {
      INFO(kind);
      CHECK(lr_at(sched(kind, warmup), lr, 0, total) == 0.0);
      CHECK(lr_at(sched(kind, warmup), lr, 1, total) == near(lr * 0.1));
      CHECK(lr_at(sched(kind, warmup), lr, 5, total) == near(lr * 0.5));
      CHECK(lr_at(sched(kind, warmup), lr, 9, total) == near(lr * 0.9));
      CHECK(lr_at(sched(kind, warmup), lr, 10, total) == near(lr));
    }
  }
  SECTION("constant stays at the base rate") {
    CHECK(lr_at(sched("constant", 0), lr, 0, total) == lr);
    CHECK(lr_at(sched("constant", warmup, 0.5), lr, total - 1, total) == lr);
  }
  SECTION("linear decays to 0 at total_steps") {
    auto s = sched("linear", warmup);
    CHECK(lr_at(s, lr, 60, total) == near(lr * 0.5));
    CHECK(lr_at(s, lr, 109, total) == near(lr * 0.01));
    CHECK(lr_at(s, lr, 110, total) == near(0.0));
  }
  SECTION("cosine: half the rate at the middle, 0 at the end") {
    auto s = sched("cosine", warmup);
    CHECK(lr_at(s, lr, 60, total) == near(lr * 0.5));
    CHECK(lr_at(s, lr, 35, total) == near(lr * 0.5 * (1 + std::cos(3.14159265358979323846 * 0.25))));
    CHECK(lr_at(s, lr, 110, total) == near(0.0));
    CHECK(lr_at(s, lr, 500, total) == near(0.0));  // past the end: stays at the floor
  }
  SECTION("min_lr_ratio sets the floor of the decays") {
    CHECK(lr_at(sched("cosine", warmup, 0.1), lr, 110, total) == near(lr * 0.1));
    CHECK(lr_at(sched("cosine", warmup, 0.1), lr, 60, total) == near(lr * (0.1 + 0.9 * 0.5)));
    CHECK(lr_at(sched("linear", warmup, 0.1), lr, 110, total) == near(lr * 0.1));
    CHECK(lr_at(sched("linear", warmup, 0.1), lr, 60, total) == near(lr * 0.55));
    CHECK(lr_at(sched("cosine", warmup, 1.0), lr, 60, total) == near(lr));
  }
  SECTION("no warmup: step 0 runs at the base rate") {
    CHECK(lr_at(sched("cosine", 0), lr, 0, total) == near(lr));
    CHECK(lr_at(sched("linear", 0), lr, 0, 1) == near(lr));
  }
  SECTION("warmup longer than the run never reaches the base rate") {
    CHECK(lr_at(sched("cosine", 200), lr, 99, 100) == near(lr * 99 / 200));
  }
}

TEST_CASE("schedule options are validated", "[train][schedule]") {
  auto kind_of = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.kind();
    }
    return ExitCode::Ok;
  };
  CHECK_FALSE(parse_schedule("cosin").has_value());  // the app refuses unknown names (tests/cli)
  CHECK(schedule_names() == std::vector<std::string>{"constant", "linear", "cosine"});
  CHECK(kind_of([] { lr_at(sched("cosine", -1), 1e-4, 0, 10); }) == ExitCode::Usage);
  CHECK(kind_of([] { lr_at(sched("cosine", 0, 1.5), 1e-4, 0, 10); }) == ExitCode::Usage);
  CHECK(kind_of([] { lr_at(sched("cosine", 0), 1e-4, 0, 0); }) == ExitCode::Usage);
  CHECK(kind_of([] { validate_schedule(sched("linear", 3, 0.2)); }) == ExitCode::Ok);
}
