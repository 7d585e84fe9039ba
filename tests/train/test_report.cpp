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
  lt_test::write_file(run + "/summary.json", json{{"steps", 40},
                                                  {"total_steps", 40},
                                                  {"tokens", 40960},
                                                  {"tokens_per_s", 1020.5},
                                                  {"seconds", 99.21603884},
                                                  {"peak_rss_bytes", 523153408},
                                                  {"best_val_loss", 4.295963756587119},
                                                  {"best_step", 40},
                                                  {"parameters", 134515008},
                                                  {"trainable_parameters", 921600}}
                                                 .dump());
  lt_test::write_file(run + "/eval.json", json{{"base", {{"metrics", {{"loss", 3.5}, {"ppl", 33.1}}}}},
                                               {"metrics", {{"loss", 2.5}, {"ppl", 12.2}}}}.dump());
  return run;
}
}  // namespace

TEST_CASE("run report: charts, summary, eval deltas", "[train][report]") {
  lt_test::TempDir tmp;
  auto html = train::render_run_report({make_run(tmp), {}});
  CHECK_THAT(html, Contains("id=\"loss-chart\"") && Contains("id=\"lr-chart\"") && Contains("data-name=\"val loss\""));
  CHECK_THAT(html, Contains("<td>ppl</td><td>33.10</td><td>12.20</td><td class=\"good\">-20.90 (-63.1%)</td>"));
  // Numbers for people: the one-line headline and the summary (not 99.21603884 s, 523153408 bytes, 4.2959637...).
  CHECK_THAT(html, Contains("<p class=\"headline\" id=\"headline\">40 steps · 1 min 39 s · 41.0k tokens at 1020 tokens/s "
                            "· peak memory 498.9 MiB · best val loss 4.296</p>"));
  CHECK_THAT(html, Contains("<tr><th>Best val loss</th><td>4.296 at step 40</td></tr>"));
  CHECK_THAT(html, Contains("<tr><th>Trainable parameters</th><td>922k (0.69% of the model)</td></tr>"));
  CHECK(html.find("99.216") == std::string::npos);
  CHECK(html.find("523153408") == std::string::npos);
  CHECK_THAT(html, Contains("data-name=\"train loss (smoothed)\""));
  CHECK(html.find("http://") == html.find("http://www.w3.org/2000/svg"));  // no network references
  SECTION("not a run directory") {
    CHECK_THROWS_AS(train::render_run_report({tmp.path(), {}}), Error);
  }
}

TEST_CASE("run report renders in headless Chromium with the plots laid out", "[train][report][browser]") {
  const char* chromium = "/usr/bin/chromium";
  INFO("Debian's chromium is needed (scripts/setup.sh --test installs it)");
  REQUIRE(std::filesystem::exists(chromium));
  lt_test::TempDir tmp;
  lt_test::write_file(tmp.file("report.html"), train::render_run_report({make_run(tmp), {}}));
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
  // train loss (raw, smoothed) + val loss, learning rate, tokens/s: each drawn across most of the 590-px plot.
  int wide = 0;
  std::regex item("([^:;]+):([0-9]+)x([0-9]+)");
  for (auto it = std::sregex_iterator(series.begin(), series.end(), item); it != std::sregex_iterator(); ++it)
    if (std::stoi((*it)[2]) > 400) ++wide;
  CHECK(wide == 5);
  CHECK_THAT(series, Contains("train loss:") && Contains("val loss:") && Contains("learning rate:") &&
                         Contains("train loss (smoothed):"));
}

TEST_CASE("report formatting: durations, sizes, counts, ticks, smoothing", "[train][report]") {
  CHECK(train::format_duration(4.25) == "4.2 s");
  CHECK(train::format_duration(42.4) == "42 s");
  CHECK(train::format_duration(99.216) == "1 min 39 s");
  CHECK(train::format_duration(3725) == "1 h 02 min");
  CHECK(train::format_bytes(523153408) == "498.9 MiB");
  CHECK(train::format_bytes(3585900544.0) == "3.34 GiB");
  CHECK(train::format_bytes(512) == "512 B");
  CHECK(train::format_count(26914) == "26.9k");
  CHECK(train::format_count(134515008) == "135M");
  CHECK(train::format_count(921) == "921");
  CHECK(train::format_number(4.295963756587119) == "4.296");
  CHECK(train::nice_ticks(2.03, 6.71) == std::vector<double>{2, 3, 4, 5, 6, 7});
  CHECK(train::nice_ticks(0, 0.002, 4) == std::vector<double>{0, 0.0005, 0.001, 0.0015, 0.002});
  CHECK(train::nice_ticks(1, 60, 6) == std::vector<double>{0, 10, 20, 30, 40, 50, 60});
  const auto s = train::smooth({1, 5, 1, 5, 1, 5});  // h = 1: a 3-point window, 2 points at the ends
  CHECK(s == std::vector<double>{3, 7.0 / 3, 11.0 / 3, 7.0 / 3, 11.0 / 3, 3});
}

TEST_CASE("report: several eval reports, generations side by side", "[train][report]") {
  lt_test::TempDir tmp;
  const std::string run = make_run(tmp);
  lt_test::write_file(tmp.file("q.outputs.jsonl"),
                      json{{"messages", {{{"role", "user"}, {"content", "Which licence <covers> bash?"}}}},
                           {"reference", "GPL-3+"}, {"output", "The GPL-3+ licence."},
                           {"base", {{"output", "I am not sure."}}}}.dump() + "\n");
  lt_test::write_file(tmp.file("q.json"), json{{"metrics", {{"token_f1", 0.8}}},
                                               {"base", {{"metrics", {{"token_f1", 0.2}}}}},
                                               {"prompts", {{"file", "data/q.jsonl"}, {"samples", 1},
                                                            {"outputs", "elsewhere/q.outputs.jsonl"},
                                                            {"decoding", {{"max_new_tokens", 40}}}}}}.dump());
  const auto html = train::render_run_report({run, {tmp.file("q.json"), run + "/eval.json"}});
  CHECK_THAT(html, Contains("<h3>Held-out prompts: q.jsonl (1 samples, greedy up to 40 tokens)</h3>"));
  CHECK_THAT(html, Contains("<td>token_f1</td><td>0.200</td><td>0.800</td><td class=\"good\">+0.600</td>"));
  CHECK_THAT(html, Contains("<td class=\"prompt\">Which licence &lt;covers&gt; bash?</td><td>GPL-3+</td>"
                            "<td>I am not sure.</td><td class=\"tuned\">The GPL-3+ licence.</td>"));
  CHECK_THAT(html, Contains("<td>ppl</td><td>33.10</td>"));  // the second report
  CHECK_THROWS_AS(train::render_run_report({run, {tmp.file("missing.json")}}), Error);
}
