// The run report renders in a real browser (Debian's headless Chromium): the plots are laid out with
// non-trivial size, and the eval table compares base and tuned.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "config/config.h"
#include "core/error.h"
#include "test_util.h"
#include "train/report.h"

using namespace loratune;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {
std::string make_run(const lt_test::TempDir& tmp) {
  std::string run = tmp.file("run");
  std::filesystem::create_directories(run);
  lt_test::write_file(run + "/config.resolved.json", config_to_json(Config{}));
  std::string metrics;
  for (int s = 1; s <= 40; ++s) {
    json m{{"step", s}, {"loss", 6.0 - 0.1 * s}, {"lr", 1e-3 * (1.0 - s / 41.0)}, {"tokens_per_s", 1000.0 + s}};
    if (s % 10 == 0) m["val_loss"] = 6.2 - 0.09 * s;
    metrics += m.dump() + "\n";
  }
  lt_test::write_file(run + "/metrics.jsonl", metrics);
  lt_test::write_file(run + "/summary.json", json{{"steps", 40}, {"tokens_per_s", 1020.5}}.dump());
  lt_test::write_file(run + "/eval.json", json{{"base", {{"metrics", {{"loss", 3.5}, {"ppl", 33.1}}}}},
                                               {"metrics", {{"loss", 2.5}, {"ppl", 12.2}}}}.dump());
  return run;
}
}  // namespace

TEST_CASE("run report: charts, summary, eval deltas", "[train][report]") {
  lt_test::TempDir tmp;
  auto html = train::render_run_report({make_run(tmp), ""});
  CHECK_THAT(html, Contains("id=\"loss-chart\"") && Contains("id=\"lr-chart\"") && Contains("data-name=\"val loss\""));
  CHECK_THAT(html, Contains("<td>ppl</td><td>33.1</td><td>12.2</td><td>-20.9</td>"));
  CHECK(html.find("http://") == html.find("http://www.w3.org/2000/svg"));  // no network references
  SECTION("not a run directory") {
    CHECK_THROWS_AS(train::render_run_report({tmp.path(), ""}), Error);
  }
}

TEST_CASE("run report renders in headless Chromium with the plots laid out", "[train][report][browser]") {
  const char* chromium = "/usr/bin/chromium";
  INFO("Debian's chromium is needed (scripts/setup.sh --test installs it)");
  REQUIRE(std::filesystem::exists(chromium));
  lt_test::TempDir tmp;
  lt_test::write_file(tmp.file("report.html"), train::render_run_report({make_run(tmp), ""}));
  std::string cmd = std::string(chromium) +
                    " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
                    " --disable-component-update --disable-sync --user-data-dir=" + lt_test::shell_quote(tmp.file("profile")) +
                    " --virtual-time-budget=3000 --dump-dom file://" + tmp.file("report.html") + " > " +
                    tmp.file("dom.html") + " 2>/dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::string dom = lt_test::read_file(tmp.file("dom.html"));
  std::smatch m;
  REQUIRE(std::regex_search(dom, m, std::regex("data-rendered-series=\"([^\"]*)\"")));
  const std::string series = m[1];
  INFO("laid out: " << series);
  // train loss + val loss, learning rate, tokens/s: each drawn across most of the 560-px plot width.
  int wide = 0;
  std::regex item("([^:;]+):([0-9]+)x([0-9]+)");
  for (auto it = std::sregex_iterator(series.begin(), series.end(), item); it != std::sregex_iterator(); ++it)
    if (std::stoi((*it)[2]) > 400) ++wide;
  CHECK(wide == 4);
  CHECK_THAT(series, Contains("train loss:") && Contains("val loss:") && Contains("learning rate:"));
}
