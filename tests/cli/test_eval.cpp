// End-to-end tests of `loratune eval` through the real binary: loss on a prepared split with a per-source
// breakdown, the report and outputs files, gates and their exit codes, --compare-base with a zero adapter,
// generation metrics, --run, and bad inputs.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/tensor_io.h"
#include "test_util.h"

using lt_test::run_loratune;
using lt_test::shell_quote;
using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {
struct Setup {
  lt_test::TempDir dir{"lt-eval"};
  std::string model, data, zero_adapter, wrong_adapter;
};

// A PEFT adapter on q_proj/v_proj of the tiny preset (hidden 64, 4 heads, 2 KV heads of 16): A random, B as
// given. `in` is the A input width (64 for this model; anything else makes an adapter for another model).
void write_adapter(const std::string& dir, int64_t in, bool zero_b) {
  fs::create_directories(dir);
  const int64_t r = 4;
  torch::manual_seed(3);
  std::vector<std::pair<std::string, torch::Tensor>> t;
  for (int layer = 0; layer < 2; ++layer)
    for (auto [name, out] : {std::pair{"q_proj", int64_t{64}}, std::pair{"v_proj", int64_t{32}}}) {
      const std::string p = "base_model.model.model.layers." + std::to_string(layer) + ".self_attn." + name;
      t.emplace_back(p + ".lora_A.weight", torch::randn({r, in}));
      t.emplace_back(p + ".lora_B.weight", zero_b ? torch::zeros({out, r}) : torch::randn({out, r}));
    }
  loratune::save_safetensors(dir + "/adapter_model.safetensors", t);
  lt_test::write_file(dir + "/adapter_config.json",
                      json{{"peft_type", "LORA"}, {"task_type", "CAUSAL_LM"}, {"r", r}, {"lora_alpha", 8},
                           {"lora_dropout", 0.0}, {"target_modules", {"q_proj", "v_proj"}}, {"bias", "none"},
                           {"base_model_name_or_path", "tiny"}}
                          .dump());
}

// A tiny model, and the fixture corpus split into two source files, prepared at seq 64 with 30% val.
const Setup& setup() {
  static Setup s;
  static bool done = [] {
    s.model = s.dir.file("model");
    auto r = run_loratune("init --out " + shell_quote(s.model) + " --corpus " +
                          shell_quote(lt_test::fixture("text/corpus.txt")) + " --tokenizer-vocab 400 --seed 5");
    REQUIRE(r.code == 0);
    std::ifstream in(lt_test::fixture("text/corpus.txt"));
    std::ofstream a(s.dir.file("a.txt")), b(s.dir.file("b.txt"));
    std::string line;
    for (int n = 0; std::getline(in, line); ++n) (n < 440 ? a : b) << line << "\n";
    a.close();
    b.close();
    s.data = s.dir.file("data");
    auto p = run_loratune("prepare " + shell_quote(s.dir.file("a.txt")) + " " + shell_quote(s.dir.file("b.txt")) +
                          " --model " + shell_quote(s.model) +
                          " --split-text blank-line --seq-len 64 --val-fraction 0.3 --out " + shell_quote(s.data));
    INFO(p.err);
    REQUIRE(p.code == 0);
    s.zero_adapter = s.dir.file("zero-adapter");
    write_adapter(s.zero_adapter, 64, true);
    s.wrong_adapter = s.dir.file("wrong-adapter");
    write_adapter(s.wrong_adapter, 65, false);
    return true;
  }();
  (void)done;
  return s;
}

std::string eval_cmd(const std::string& extra) {
  return "eval --model " + shell_quote(setup().model) + " --dtype fp32 --threads 1 " + extra;
}
std::string data_arg() { return " --data " + shell_quote(setup().data) + " "; }

json run_json(const std::string& args, int want_code = 0) {
  auto r = run_loratune(args + " --json");
  INFO(args << "\n" << r.err);
  REQUIRE(r.code == want_code);
  return json::parse(r.out);
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) out.push_back(json::parse(line));
  return out;
}
}  // namespace

TEST_CASE("eval on a prepared split: metrics, per-source breakdown, table, report file", "[cli][eval]") {
  const json j = run_json(eval_cmd(data_arg()));
  const json& m = j["metrics"];
  const double loss = m["loss"];
  // A random tiny model over a 400-token vocabulary: the loss is near ln(400) ~ 6.
  CHECK(loss > 3.0);
  CHECK(loss < 10.0);
  CHECK(m["ppl"].get<double>() == Approx(std::exp(loss)).epsilon(1e-12));
  CHECK(m["accuracy"].get<double>() >= 0.0);
  CHECK(m["accuracy"].get<double>() <= 1.0);
  const int64_t tokens = m["tokens"];
  CHECK(tokens > 100);
  CHECK(j["data"]["split"] == "val");
  CHECK(j["data"]["rows_evaluated"] == j["data"]["rows"]);
  CHECK(j["speed"]["loss_tokens_per_s"].get<double>() > 0);

  // Two source files: the breakdown covers every token, and its token-weighted mean is the overall loss.
  REQUIRE(j["sources"].size() == 2);
  CHECK_THAT(j["sources"][0]["source"].get<std::string>(), EndsWith("a.txt"));
  CHECK_THAT(j["sources"][1]["source"].get<std::string>(), EndsWith("b.txt"));
  int64_t sum_tokens = 0;
  double weighted = 0;
  for (const auto& s : j["sources"]) {
    sum_tokens += s["tokens"].get<int64_t>();
    weighted += s["loss"].get<double>() * s["tokens"].get<double>();
  }
  CHECK(sum_tokens == tokens);
  CHECK(weighted / static_cast<double>(tokens) == Approx(loss).epsilon(1e-9));

  SECTION("the batch size does not change the result") {
    // Rows are evaluated independently; only the padding and the matmul shapes change (fp32: 1e-5 relative).
    const json one = run_json(eval_cmd(data_arg() + "--batch-size 1"));
    CHECK(one["metrics"]["tokens"] == tokens);
    CHECK(one["metrics"]["loss"].get<double>() == Approx(loss).epsilon(1e-5));
  }
  SECTION("--split train and --max-batches") {
    const json t = run_json(eval_cmd(data_arg() + "--split train --batch-size 2 --max-batches 3"));
    CHECK(t["data"]["split"] == "train");
    CHECK(t["data"]["rows_evaluated"] == 6);
    CHECK(t["data"]["rows"].get<int64_t>() > 6);
  }
  SECTION("the table") {
    auto r = run_loratune(eval_cmd(data_arg()));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.out, Contains("loss") && Contains("ppl") && Contains("accuracy") && Contains("per source") &&
                          Contains("a.txt") && Contains("tokens/s"));
  }
  SECTION("--out writes the report atomically and does not overwrite it without --force") {
    lt_test::TempDir tmp;
    const std::string out = tmp.file("report.json");
    auto r = run_loratune(eval_cmd(data_arg() + "--out " + shell_quote(out)));
    REQUIRE(r.code == 0);
    const json written = json::parse(lt_test::read_file(out));
    CHECK(written["metrics"]["loss"].get<double>() == Approx(loss).epsilon(1e-12));
    CHECK_FALSE(fs::exists(out + ".tmp"));
    auto again = run_loratune(eval_cmd(data_arg() + "--out " + shell_quote(out)));
    CHECK(again.code == 2);
    CHECK_THAT(again.err, Contains("already exists") && Contains("--force"));
    CHECK(run_loratune(eval_cmd(data_arg() + "--force --out " + shell_quote(out))).code == 0);
  }
}

TEST_CASE("eval gates: pass exits 0, failure exits 3 with metric, value and bound, malformed exits 2",
          "[cli][eval]") {
  auto pass = run_loratune(eval_cmd(data_arg() + "--gate 'loss<=1000' --gate 'accuracy>=0' --gate 'tokens>0'"));
  INFO(pass.err);
  CHECK(pass.code == 0);
  CHECK_THAT(pass.out, Contains("pass") && Contains("loss<=1000"));

  auto fail = run_loratune(eval_cmd(data_arg() + "--gate 'loss<=1000' --gate 'ppl<=1.5' --json"));
  CHECK(fail.code == 3);
  CHECK_THAT(fail.err, Contains("gate failed: ppl<=1.5") && Contains("ppl = ") && Contains("bound <= 1.5"));
  CHECK_THAT(fail.err, !Contains("loss<=1000"));
  const json j = json::parse(fail.out);  // the report is still printed
  CHECK(j["passed"] == false);
  REQUIRE(j["gates"].size() == 2);
  CHECK(j["gates"][0]["passed"] == true);
  CHECK(j["gates"][1]["passed"] == false);
  CHECK(j["gates"][1]["value"].get<double>() == Approx(j["metrics"]["ppl"].get<double>()));

  for (const char* bad : {"ppl<<3", "ppl", "ppl<=twelve", "ppl=3"}) {
    INFO(bad);
    auto r = run_loratune(eval_cmd(data_arg() + "--gate " + shell_quote(bad)));
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("malformed gate"));
  }
  auto unknown = run_loratune(eval_cmd(data_arg() + "--gate 'rougel>=0.4'"));
  CHECK(unknown.code == 2);
  CHECK_THAT(unknown.err, Contains("unknown metric 'rougel'") && Contains("did you mean 'rougeL'"));
  auto unmeasured = run_loratune(eval_cmd(data_arg() + "--gate 'delta.loss<=-0.1'"));
  CHECK(unmeasured.code == 2);
  CHECK_THAT(unmeasured.err, Contains("not measured") && Contains("--compare-base"));
  auto no_prompts = run_loratune(eval_cmd(data_arg() + "--gate 'rougeL>=0.4'"));
  CHECK(no_prompts.code == 2);
  CHECK_THAT(no_prompts.err, Contains("--prompts"));
}

TEST_CASE("eval --compare-base with a zero-initialised adapter reports zero deltas", "[cli][eval]") {
  lt_test::TempDir tmp;
  lt_test::write_file(tmp.file("q.jsonl"), "{\"prompt\": \"The licensee\", \"reference\": \"may copy the work\"}\n"
                                           "{\"prompt\": \"Grant of\", \"reference\": \"copyright license\"}\n");
  // B = 0: the adapter adds exactly 0 (in fp32), so tuned and base agree bit for bit.
  const json j = run_json(eval_cmd(data_arg() + "--adapter " + shell_quote(setup().zero_adapter) + " --prompts " +
                                   shell_quote(tmp.file("q.jsonl")) +
                                   " --template plain -n 8 --compare-base --gate 'delta.loss==0' --gate "
                                   "'delta.rougeL==0' --gate 'base.loss>0'"));
  CHECK(j["passed"] == true);
  CHECK(j["model"]["adapter"] == setup().zero_adapter);
  CHECK(j["base"]["model"]["adapter"].is_null());
  CHECK(j["base"]["model"]["path"] == setup().model);
  for (const char* m : {"loss", "ppl", "accuracy", "exact_match", "contains", "token_f1", "rougeL"}) {
    INFO(m);
    CHECK(j["delta"][m].get<double>() == 0.0);
    CHECK(j["metrics"][m] == j["base"]["metrics"][m]);
  }
  CHECK_FALSE(j["delta"].contains("tokens"));

  SECTION("without an adapter there is no base to compare with") {
    auto r = run_loratune(eval_cmd(data_arg() + "--compare-base"));
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("--compare-base") && Contains("--adapter"));
  }
}

TEST_CASE("eval rejects an adapter for another base model, naming the tensor", "[cli][eval]") {
  auto r = run_loratune(eval_cmd(data_arg() + "--adapter " + shell_quote(setup().wrong_adapter)));
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("self_attn.q_proj.lora_A"));
}

TEST_CASE("eval on prompts: greedy and deterministic, outputs beside the report, own answer scores 1",
          "[cli][eval]") {
  lt_test::TempDir tmp;
  auto g = run_loratune("generate --json -n 12 -p 'The licensee' --dtype fp32 --threads 1 -m " + shell_quote(setup().model));
  REQUIRE(g.code == 0);
  const std::string own = json::parse(g.out)["text"];
  const std::string prompts = tmp.file("q.jsonl");
  lt_test::write_file(prompts, json{{"prompt", "The licensee"}, {"reference", own}, {"id", "own"}}.dump() + "\n" +
                                   json{{"prompt", "Grant of"}, {"reference", "copyright license"}}.dump() + "\n");
  fs::create_directories(tmp.file("r"));
  const std::string report = tmp.file("r/report.json");
  const std::string args = "--prompts " + shell_quote(prompts) + " --template plain -n 12 --out " + shell_quote(report);
  const json j = run_json(eval_cmd(args));
  CHECK(j["prompts"]["samples"] == 2);
  CHECK(j["prompts"]["template"] == "plain");
  CHECK(j["prompts"]["outputs"] == tmp.file("r/report.outputs.jsonl"));
  CHECK_FALSE(j["metrics"].contains("loss"));
  CHECK(j["metrics"]["exact_match"].get<double>() >= 0.5);
  const auto lines = read_jsonl(tmp.file("r/report.outputs.jsonl"));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["id"] == "own");
  CHECK(lines[0]["line"] == 1);
  CHECK(lines[0]["prompt"] == "The licensee");
  CHECK(lines[0]["output"] == own);  // the same prompt tokens and decoding as `generate`
  CHECK(lines[0]["exact_match"] == 1.0);
  CHECK(lines[0]["rougeL"] == 1.0);
  CHECK(lines[1]["reference"] == "copyright license");
  CHECK(lines[1]["generated_tokens"].get<int64_t>() <= 12);

  SECTION("one prompt at a time gives the outputs of the batched default") {
    run_json(eval_cmd(args + " --force --prompt-batch-size 1"));
    const auto single = read_jsonl(tmp.file("r/report.outputs.jsonl"));
    REQUIRE(single.size() == 2);
    CHECK(single[0]["output"] == lines[0]["output"]);
    CHECK(single[1]["output"] == lines[1]["output"]);
    CHECK(single[1]["finish_reason"] == lines[1]["finish_reason"]);
    auto bad = run_loratune(eval_cmd(args + " --force --prompt-batch-size 0"));
    CHECK(bad.code == 2);
    CHECK_THAT(bad.err, Contains("eval.prompt_batch_size"));
  }

  SECTION("a second run gives the same outputs") {
    run_json(eval_cmd(args + " --force"));
    const auto again = read_jsonl(tmp.file("r/report.outputs.jsonl"));
    REQUIRE(again.size() == 2);
    CHECK(again[0]["output"] == lines[0]["output"]);
    CHECK(again[1]["output"] == lines[1]["output"]);
  }
  SECTION("a sample without a reference exits 2 naming file:line") {
    lt_test::write_file(prompts, "{\"prompt\": \"a\", \"reference\": \"b\"}\n{\"prompt\": \"c\"}\n");
    auto r = run_loratune(eval_cmd("--prompts " + shell_quote(prompts)));
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains(prompts + ":2") && Contains("reference"));
  }
}

TEST_CASE("eval needs something to measure", "[cli][eval]") {
  auto r = run_loratune(eval_cmd(""));
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("--data") && Contains("--prompts"));
}

TEST_CASE("eval --run uses the run's base, best adapter and dataset", "[cli][eval]") {
  lt_test::TempDir tmp;
  const std::string run = tmp.file("run");
  auto ft = run_loratune("finetune --model " + shell_quote(setup().model) + " --data " + shell_quote(setup().data) +
                         " --out " + shell_quote(run) + " --steps 2 --batch-size 4 --lr 1e-2 --dtype fp32 --threads 1");
  INFO(ft.err);
  REQUIRE(ft.code == 0);
  const json j = run_json("eval --run " + shell_quote(run) + " --compare-base --dtype fp32 --threads 1");
  CHECK(j["model"]["path"] == setup().model);
  CHECK_THAT(j["model"]["adapter"].get<std::string>(), EndsWith("checkpoints/best"));
  CHECK(j["data"]["dir"] == setup().data);
  CHECK(j["base"]["model"]["path"] == setup().model);
  // The base's numbers are those of a plain eval of the base model.
  const json plain = run_json(eval_cmd(data_arg()));
  CHECK(j["base"]["metrics"]["loss"].get<double>() == Approx(plain["metrics"]["loss"].get<double>()).epsilon(1e-12));
  CHECK(j["delta"]["loss"].get<double>() ==
        Approx(j["metrics"]["loss"].get<double>() - j["base"]["metrics"]["loss"].get<double>()).epsilon(1e-12));
}
