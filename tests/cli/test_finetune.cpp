// End-to-end tests of `loratune finetune` through the real binary: overfitting, exact resume, signals,
// the NaN guard, dataset/tokenizer mismatch, generate with the trained adapter.
#include <algorithm>
#include <cmath>
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_util.h"

using lt_test::run_loratune;
using lt_test::shell_quote;
using Catch::Matchers::Contains;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {
struct Setup {
  lt_test::TempDir dir{"lt-ft"};
  std::string model, data;
};

// A tiny model and a prepared raw-text dataset of the fixture corpus (seq 64).
const Setup& setup() {
  static Setup s;
  static bool done = [] {
    s.model = s.dir.file("model");
    auto r = run_loratune("init --out " + shell_quote(s.model) + " --corpus " +
                          shell_quote(lt_test::fixture("text/corpus.txt")) + " --tokenizer-vocab 400 --seed 5");
    REQUIRE(r.code == 0);
    s.data = s.dir.file("data");
    auto p = run_loratune("prepare " + shell_quote(lt_test::fixture("text/corpus.txt")) + " --model " +
                          shell_quote(s.model) + " --split-text blank-line --seq-len 64 --val-fraction 0.1 --out " +
                          shell_quote(s.data));
    INFO(p.err);
    REQUIRE(p.code == 0);
    return true;
  }();
  (void)done;
  return s;
}

std::string finetune(const std::string& out, const std::string& extra) {
  const auto& s = setup();
  return "finetune --model " + shell_quote(s.model) + " --data " + shell_quote(s.data) + " --out " + shell_quote(out) +
         " --threads 1 --batch-size 4 --lr 2e-3 " + extra;
}

std::vector<json> metrics(const std::string& run) {
  std::vector<json> out;
  std::ifstream f(run + "/metrics.jsonl");
  std::string line;
  while (std::getline(f, line)) out.push_back(json::parse(line));
  return out;
}
}  // namespace

TEST_CASE("finetune overfits a tiny dataset and writes a PEFT run directory", "[cli][finetune]") {
  lt_test::TempDir tmp;
  // Four short documents and a model whose init (std 0.2) gives the frozen lm_head a useful logit range (with
  // HF's 0.02 a 64-wide random head caps logits near +-1, so no adapter could get confident).
  lt_test::write_file(tmp.file("tiny.txt"),
                      "The licensee may copy and distribute the work.\n\nThe licensor grants a worldwide royalty free "
                      "license.\n\nYou must give recipients a copy of this license.\n\nThe work is provided as is "
                      "without warranty.\n");
  auto model = tmp.file("m");
  REQUIRE(run_loratune("init --out " + shell_quote(model) + " --tokenizer " + shell_quote(setup().model + "/tokenizer.model") +
                       " --init-std 0.2").code == 0);
  auto data = tmp.file("d");
  REQUIRE(run_loratune("prepare " + shell_quote(tmp.file("tiny.txt")) + " --model " + shell_quote(model) +
                       " --split-text blank-line --seq-len 32 --val-fraction 0 --val " + shell_quote(tmp.file("tiny.txt")) +
                       " --no-dedup --out " + shell_quote(data)).code == 0);
  auto out = tmp.file("run");
  auto r = run_loratune("finetune --model " + shell_quote(model) + " --data " + shell_quote(data) + " --out " +
                        shell_quote(out) + " --steps 100 --eval-every 50 --targets all-linear --lora-r 16 --lr 1e-2 "
                        "--batch-size 4 --set lora.dropout=0 --set train.schedule=constant --threads 1");
  INFO(r.err);
  REQUIRE(r.code == 0);
  for (const char* f : {"config.resolved.json", "metrics.jsonl", "summary.json", "adapter/adapter_config.json",
                        "adapter/adapter_model.safetensors", "checkpoints/best/adapter_model.safetensors"})
    CHECK(fs::exists(out + "/" + f));
  auto m = metrics(out);
  REQUIRE(m.size() == 100);
  // Bound: the random model starts above 6 nats; memorising 4 sentences must bring the train loss below 0.5
  // (it reaches ~0.07), which a broken loss, mask, LoRA or optimizer would not.
  double first = m.front()["loss"], last = m.back()["loss"];
  INFO("loss " << first << " -> " << last);
  CHECK(first > 6.0);
  CHECK(last < 0.5);
  CHECK(m.back()["val_loss"].get<double>() < 0.5);
  auto summary = json::parse(lt_test::read_file(out + "/summary.json"));
  CHECK(summary["steps"] == 100);
  CHECK(summary["peak_rss_bytes"].get<int64_t>() > 0);
  auto cfg = json::parse(lt_test::read_file(out + "/adapter/adapter_config.json"));
  CHECK(cfg["peft_type"] == "LORA");
  CHECK(cfg["r"] == 16);

  SECTION("generate with --run and --adapter gives the same text; the adapter changes the output") {
    auto a = run_loratune("generate --json -n 16 -p 'The licensee' --run " + shell_quote(out));
    INFO(a.err);
    REQUIRE(a.code == 0);
    auto b = run_loratune("generate --json -n 16 -p 'The licensee' --model " + shell_quote(model) +
                          " --adapter " + shell_quote(out + "/checkpoints/best"));
    REQUIRE(b.code == 0);
    CHECK(json::parse(a.out)["tokens"] == json::parse(b.out)["tokens"]);
    auto base = run_loratune("generate --json -n 16 -p 'The licensee' --model " + shell_quote(model));
    CHECK(json::parse(base.out)["tokens"] != json::parse(a.out)["tokens"]);
  }
  SECTION("training continues from an existing PEFT adapter (lora.init_adapter)") {
    auto more = tmp.file("more");
    auto c = run_loratune("finetune --model " + shell_quote(model) + " --data " + shell_quote(data) + " --out " +
                          shell_quote(more) + " --steps 3 --batch-size 4 --lr 1e-3 --threads 1 --set lora.dropout=0" +
                          " --set lora.init_adapter=" + shell_quote(out + "/adapter"));
    INFO(c.err);
    REQUIRE(c.code == 0);
    auto mm = metrics(more);
    REQUIRE(mm.size() == 3);
    // Starts where the first run ended (~0.07), not from the base model (> 6).
    CHECK(mm.front()["loss"].get<double>() < 0.5);
    auto cfg2 = json::parse(lt_test::read_file(more + "/adapter/adapter_config.json"));
    CHECK(cfg2["r"] == 16);
  }
  SECTION("an existing run directory is not overwritten") {
    auto again = run_loratune(finetune(out, "--steps 2"));
    CHECK(again.code == 2);
    CHECK_THAT(again.err, Contains("--resume") && Contains("--force"));
  }
}

TEST_CASE("resume from a checkpoint reproduces the uninterrupted run bit for bit", "[cli][finetune][resume]") {
  lt_test::TempDir tmp;
  const std::string args = "--steps 24 --save-every 8 --eval-every 8 --set train.keep_last=10 --set lora.dropout=0.1";
  auto full = tmp.file("full");
  auto r = run_loratune(finetune(full, args));
  INFO(r.err);
  REQUIRE(r.code == 0);
  // The state a run killed (kill -9) right after its step-8 checkpoint leaves behind.
  auto part = tmp.file("part");
  fs::copy(full, part, fs::copy_options::recursive);
  for (const char* d : {"checkpoints/step-00000016", "checkpoints/step-00000024", "checkpoints/best", "adapter"})
    fs::remove_all(part + "/" + d);
  fs::remove(part + "/summary.json");
  auto res = run_loratune(finetune(part, "--resume"));
  INFO(res.err);
  REQUIRE(res.code == 0);
  CHECK(lt_test::read_file(part + "/adapter/adapter_model.safetensors") ==
        lt_test::read_file(full + "/adapter/adapter_model.safetensors"));
  auto mf = metrics(full), mp = metrics(part);
  REQUIRE(mf.size() == mp.size());
  for (size_t i = 0; i < mf.size(); ++i) CHECK(mf[i]["loss"] == mp[i]["loss"]);
}

TEST_CASE("SIGTERM saves a checkpoint and exits 130; --resume finishes identically", "[cli][finetune][signals][slow]") {
  lt_test::TempDir tmp;
  const std::string args = "--steps 400 --set lora.dropout=0.1";
  auto full = tmp.file("full");
  REQUIRE(run_loratune(finetune(full, args)).code == 0);
  auto cut = tmp.file("cut");
  std::string cmd = std::string(LORATUNE_BINARY) + " " + finetune(cut, args) + " >/dev/null 2>&1";
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), (char*)nullptr);
    _exit(127);
  }
  // Wait until training has started (metrics appear), then interrupt.
  for (int i = 0; i < 200 && !(fs::exists(cut + "/metrics.jsonl") && fs::file_size(cut + "/metrics.jsonl") > 0); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  auto steps_done = metrics(cut).size();
  INFO("interrupted after " << steps_done << " steps");
  CHECK(steps_done < 400);
  CHECK(fs::exists(cut + "/checkpoints"));
  auto res = run_loratune(finetune(cut, "--resume"));
  INFO(res.err);
  REQUIRE(res.code == 0);
  CHECK(lt_test::read_file(cut + "/adapter/adapter_model.safetensors") ==
        lt_test::read_file(full + "/adapter/adapter_model.safetensors"));
}

TEST_CASE("finetune guards: NaN, tokenizer mismatch, dry run, full fine-tune", "[cli][finetune]") {
  lt_test::TempDir tmp;
  SECTION("an absurd learning rate stops with exit 1 naming the step") {
    auto r = run_loratune(finetune(tmp.file("nan"), "--steps 20 --lr 1e30 --set train.max_grad_norm=0"));
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains("non-finite") && Contains("step") && Contains("train.lr"));
  }
  SECTION("data prepared with another tokenizer is refused naming both fingerprints") {
    auto other = tmp.file("other");
    REQUIRE(run_loratune("init --out " + shell_quote(other) + " --corpus " +
                         shell_quote(lt_test::fixture("text/corpus.txt")) + " --tokenizer-vocab 350").code == 0);
    auto r = run_loratune("finetune --model " + shell_quote(other) + " --data " + shell_quote(setup().data) +
                          " --out " + shell_quote(tmp.file("mm")) + " --steps 1");
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("prepared with tokenizer") && Contains("loratune prepare"));
  }
  SECTION("--dry-run prints the plan and trains nothing") {
    auto r = run_loratune(finetune(tmp.file("dry"), "--dry-run --json --steps 7"));
    INFO(r.err);
    REQUIRE(r.code == 0);
    auto j = json::parse(r.out);
    CHECK(j["plan"]["steps"] == 7);
    CHECK(j["plan"]["trainable_parameters"].get<int64_t>() > 0);
    CHECK(j["plan"]["estimated_peak_memory_bytes"].get<double>() > 0);
    CHECK_FALSE(fs::exists(tmp.file("dry")));
  }
  SECTION("--full trains every parameter and writes an HF model") {
    auto out = tmp.file("full");
    auto r = run_loratune(finetune(out, "--full --steps 5 --lr 1e-3"));
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(fs::exists(out + "/model/model.safetensors"));
    CHECK(fs::exists(out + "/model/tokenizer.model"));
    auto g = run_loratune("generate --json -n 4 -p 'The' --run " + shell_quote(out));
    INFO(g.err);
    CHECK(g.code == 0);
  }
  SECTION("--full's model directory keeps every companion file of the base (one list with export's)") {
    auto base = tmp.file("base-with-template");
    fs::copy(setup().model, base, fs::copy_options::recursive);
    const std::string jinja = "{% for m in messages %}{{ m['content'] }}{% endfor %}";
    lt_test::write_file(base + "/chat_template.jinja", jinja);
    lt_test::write_file(base + "/chat_template.json", json{{"chat_template", jinja}}.dump());
    // The tokenizer fingerprint covers the chat template: data prepared before the template was added is
    // refused, data prepared under this base is used.
    auto stale = run_loratune("finetune --model " + shell_quote(base) + " --data " + shell_quote(setup().data) +
                              " --out " + shell_quote(tmp.file("stale")) + " --steps 1");
    CHECK(stale.code == 2);
    CHECK_THAT(stale.err, Contains("prepared with tokenizer"));
    auto data = tmp.file("data-with-template");
    auto p = run_loratune("prepare " + shell_quote(lt_test::fixture("text/corpus.txt")) + " --model " +
                          shell_quote(base) + " --template plain --split-text blank-line --seq-len 64 --out " + shell_quote(data));
    INFO(p.err);
    REQUIRE(p.code == 0);
    auto out = tmp.file("full-companions");
    auto r = run_loratune("finetune --model " + shell_quote(base) + " --data " + shell_quote(data) +
                          " --out " + shell_quote(out) + " --threads 1 --batch-size 4 --full --steps 1");
    INFO(r.err);
    REQUIRE(r.code == 0);
    for (const char* f : {"config.json", "tokenizer.model", "tokenizer_config.json", "chat_template.jinja",
                          "chat_template.json"}) {
      INFO(f);
      REQUIRE(fs::exists(out + "/model/" + f));
      CHECK(lt_test::read_file(out + "/model/" + f) == lt_test::read_file(base + "/" + f));
    }
  }
}

TEST_CASE("finetune --profile reports where the time went; fused kernels off trains the same", "[cli][finetune]") {
  lt_test::TempDir tmp;
  const std::string args = "--steps 3 --dtype fp32 --set lora.dropout=0 --set train.shuffle=false";
  auto fused = tmp.file("fused"), plain = tmp.file("plain"), prof = tmp.file("profile.json");
  auto r = run_loratune(finetune(fused, args + " --profile " + shell_quote(prof)));
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto p = json::parse(lt_test::read_file(prof));
  CHECK(p["steps_profiled"] == 2);  // the first step (kernel selection) is left out
  CHECK(p["step_seconds"].size() == 2);
  CHECK(p["first_step_seconds"].is_number());
  CHECK(p["wall_s"].get<double>() > 0);
  double shares = 0, matmul = 0;
  for (const auto& c : p["categories"]) {
    shares += c["share"].get<double>();
    if (c["name"] == "matmul") matmul = c["seconds"].get<double>();
  }
  CHECK(matmul > 0);
  CHECK(shares <= 1.0 + 1e-6);
  CHECK(!p["ops"].empty());

  auto q = run_loratune(finetune(plain, args + " --set train.fused_kernels=false"));
  INFO(q.err);
  REQUIRE(q.code == 0);
  auto mf = metrics(fused), mp = metrics(plain);
  REQUIRE(mf.size() == mp.size());
  REQUIRE(mf.size() >= 3);
  // Same math in another order (fused LoRA node, chunked loss): fp32 summation differences only.
  for (size_t i = 0; i < mf.size(); ++i) {
    if (!mf[i].contains("loss")) continue;
    const double a = mf[i]["loss"].get<double>(), b = mp[i]["loss"].get<double>();
    CHECK(std::abs(a - b) <= 1e-4 * std::max(1.0, std::abs(b)));
  }
}
