// End-to-end tests of `loratune prepare` through the real binary.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/sha256.h"
#include "data/prepared.h"
#include "test_util.h"

using lt_test::run_loratune;
using lt_test::shell_quote;
using Catch::Matchers::Contains;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {
// A model directory whose tokenizer the prepare tests use (init is ~1 s; made once).
const std::string& model_dir() {
  static lt_test::TempDir dir("lt-prep-model");
  static std::string path = [] {
    std::string p = dir.file("m");
    auto r = run_loratune("init --out " + shell_quote(p) + " --corpus " +
                          shell_quote(lt_test::fixture("text/corpus.txt")) + " --tokenizer-vocab 400");
    REQUIRE(r.code == 0);
    return p;
  }();
  return path;
}

std::string prepare(const std::string& args) { return "prepare --model " + shell_quote(model_dir()) + " " + args; }

std::vector<std::vector<int32_t>> samples_of(const std::string& split_dir, int token_bytes, int64_t rows) {
  auto split = loratune::data::PreparedSplit::open(split_dir, token_bytes, rows);
  std::vector<std::vector<int32_t>> out;
  for (int64_t i = 0; i < split.rows(); ++i) {
    auto r = split.row(i);
    for (uint32_t s = 0; s < r.n_samples; ++s) {
      uint32_t b = r.starts[s], e = s + 1 < r.n_samples ? r.starts[s + 1] : r.length;
      std::vector<int32_t> ids;
      for (uint32_t k = b; k < e; ++k) ids.push_back(r.id(k));
      out.push_back(ids);
    }
  }
  return out;
}

void write_qa(const std::string& path, int n, int offset = 0) {
  std::ofstream f(path);
  for (int i = offset; i < offset + n; ++i)
    f << json{{"prompt", "What does clause " + std::to_string(i) + " say?"},
              {"completion", "Clause " + std::to_string(i) + " grants the licensee a right."}}
             .dump()
      << "\n";
}
}  // namespace

TEST_CASE("prepare raw text: packed rows, manifest, report", "[cli][prepare]") {
  lt_test::TempDir tmp;
  auto out = tmp.file("p");
  auto r = run_loratune(prepare(shell_quote(lt_test::fixture("text")) + " --split-text blank-line --seq-len 64 --out " +
                                shell_quote(out) + " --json"));
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto report = json::parse(r.out);
  CHECK(report["packed"] == true);
  CHECK(report["samples"].get<int>() > 10);
  CHECK(report["tokens"]["trained_fraction"].get<double>() > 0.9);
  auto m = json::parse(lt_test::read_file(out + "/manifest.json"));
  CHECK(m["format_version"] == loratune::data::kPreparedFormatVersion);
  CHECK(m["tokenizer_fingerprint"] == loratune::sha256_hex(lt_test::read_file(model_dir() + "/tokenizer.model")));
  CHECK(m["seq_len"] == 64);
  CHECK(fs::exists(out + "/report.json"));
  CHECK(fs::exists(out + "/train/tokens.bin"));
  // The dataset opens for this tokenizer and rows are full (packing leaves little padding).
  auto ds = loratune::data::open_prepared(out, m["tokenizer_fingerprint"]);
  REQUIRE(ds.train.has_value());
  CHECK(report["splits"]["train"]["padding_waste_pct"].get<double>() < 10.0);
}

TEST_CASE("prepare prompt/completion: prompts masked, EOS trained, split stable when data is added",
          "[cli][prepare]") {
  lt_test::TempDir tmp;
  write_qa(tmp.file("a.jsonl"), 200);
  auto r = run_loratune(prepare(shell_quote(tmp.file("a.jsonl")) + " --template chatml --seq-len 96 --val-fraction 0.2 --out " +
                                shell_quote(tmp.file("p1")) + " --json"));
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto rep = json::parse(r.out);
  CHECK(rep["packed"] == false);
  double frac = rep["tokens"]["trained_fraction"];
  CHECK(frac > 0.1);
  CHECK(frac < 0.7);
  CHECK(rep["splits"]["val"]["samples"].get<int>() > 10);
  auto m1 = json::parse(lt_test::read_file(tmp.file("p1/manifest.json")));
  auto val1 = samples_of(tmp.file("p1/val"), m1["token_bytes"], m1["val_rows"]);

  std::ofstream(tmp.file("b.jsonl")) << "";
  write_qa(tmp.file("b.jsonl"), 200, 1000);
  auto r2 = run_loratune(prepare(shell_quote(tmp.file("a.jsonl")) + " " + shell_quote(tmp.file("b.jsonl")) +
                                 " --template chatml --seq-len 96 --val-fraction 0.2 --out " + shell_quote(tmp.file("p2"))));
  REQUIRE(r2.code == 0);
  auto m2 = json::parse(lt_test::read_file(tmp.file("p2/manifest.json")));
  auto val2 = samples_of(tmp.file("p2/val"), m2["token_bytes"], m2["val_rows"]);
  std::set<std::vector<int32_t>> s2(val2.begin(), val2.end());
  for (const auto& s : val1) CHECK(s2.count(s) == 1);
}

TEST_CASE("prepare bad input exits 2 naming file and line and writes nothing, skip mode lists it", "[cli][prepare]") {
  lt_test::TempDir tmp;
  write_qa(tmp.file("d.jsonl"), 5);
  std::ofstream(tmp.file("d.jsonl"), std::ios::app) << "{\"prompt\": \"x\", \"completion\": 3}\n";
  auto r = run_loratune(prepare(shell_quote(tmp.file("d.jsonl")) + " --out " + shell_quote(tmp.file("p"))));
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("d.jsonl:6") && Contains("completion"));
  CHECK_FALSE(fs::exists(tmp.file("p")));
  auto s = run_loratune(prepare(shell_quote(tmp.file("d.jsonl")) + " --on-error skip --json --out " + shell_quote(tmp.file("p"))));
  INFO(s.err);
  REQUIRE(s.code == 0);
  auto rep = json::parse(s.out);
  CHECK(rep["invalid"] == 1);
  CHECK(rep["invalid_records"][0]["line"] == 6);
  SECTION("--strict turns the skipped record into an error") {
    auto st = run_loratune(prepare(shell_quote(tmp.file("d.jsonl")) + " --on-error skip --strict --out " +
                                   shell_quote(tmp.file("q"))));
    CHECK(st.code == 2);
    CHECK_FALSE(fs::exists(tmp.file("q")));
  }
  SECTION("existing output needs --force") {
    auto again = run_loratune(prepare(shell_quote(tmp.file("d.jsonl")) + " --on-error skip --out " + shell_quote(tmp.file("p"))));
    CHECK(again.code == 2);
    CHECK_THAT(again.err, Contains("--force"));
  }
  SECTION("duplicates are dropped and counted") {
    write_qa(tmp.file("dup.jsonl"), 3);
    write_qa(tmp.file("dup2.jsonl"), 3);
    auto d = run_loratune(prepare(shell_quote(tmp.file("dup.jsonl")) + " " + shell_quote(tmp.file("dup2.jsonl")) +
                                  " --json --out " + shell_quote(tmp.file("dd"))));
    REQUIRE(d.code == 0);
    CHECK(json::parse(d.out)["duplicates"] == 3);
  }
  SECTION("missing tokenizer source and missing input") {
    auto n = run_loratune("prepare " + shell_quote(tmp.file("d.jsonl")) + " --out " + shell_quote(tmp.file("z")));
    CHECK(n.code == 2);
    CHECK_THAT(n.err, Contains("--model"));
    auto m = run_loratune(prepare(shell_quote(tmp.file("nope.jsonl")) + " --out " + shell_quote(tmp.file("z"))));
    CHECK(m.code == 2);
    CHECK_THAT(m.err, Contains("nope.jsonl"));
  }
}

TEST_CASE("prepare interrupted or killed leaves no output directory", "[cli][prepare][slow]") {
  lt_test::TempDir tmp;
  {  // ~24 MB of text: long enough to interrupt
    std::ofstream f(tmp.file("big.txt"));
    std::string corpus = lt_test::read_file(lt_test::fixture("text/corpus.txt"));
    for (int i = 0; i < 500; ++i) f << corpus << "\n\n";
  }
  for (int sig : {SIGTERM, SIGKILL}) {
    std::string out = tmp.file("p" + std::to_string(sig));
    std::string cmd = std::string(LORATUNE_BINARY) + " " +
                      prepare(shell_quote(tmp.file("big.txt")) + " --split-text blank-line --no-dedup --out " + shell_quote(out)) +
                      " >/dev/null 2>&1";
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), (char*)nullptr);
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    kill(pid, sig);
    int status = 0;
    waitpid(pid, &status, 0);
    if (sig == SIGTERM) {
      REQUIRE(WIFEXITED(status));
      CHECK(WEXITSTATUS(status) == 130);
    }
    CHECK_FALSE(fs::exists(out));
  }
}
