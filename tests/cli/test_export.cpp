// End-to-end tests of `loratune export` through the real binary: every format from a finetune run, the exported
// models generating what the run generates, bad input (exit 2, nothing under the output name), adapters written
// by HF PEFT (adapter names in tensor names, rank_pattern / alpha_pattern, refusals). llama.cpp reading the GGUF
// exports is tested in tests/reference/test_llama_cpp.py (through llama-cpp-python).
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/gguf.h"
#include "io/safetensors.h"
#include "test_util.h"

using lt_test::run_loratune;
using lt_test::shell_quote;
using Catch::Matchers::Contains;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* const kPrompt = "The licensee shall";

// A tiny llama model with a trained byte-fallback tokenizer and a run that tuned an all-linear adapter for a few
// steps (so B != 0), plus a qwen3 model (explicit head_dim) tuned the same way.
struct Tuned {
  std::string model, run;
};
struct Setup {
  lt_test::TempDir dir{"lt-export-cli"};
  Tuned llama, qwen3;
};

Tuned tune(const std::string& root, const std::string& arch_flags) {
  Tuned t{root + "-model", root + "-run"};
  auto r = run_loratune("init --out " + shell_quote(t.model) + " --corpus " +
                        shell_quote(lt_test::fixture("text/corpus.txt")) + " --tokenizer-vocab 400 --init-std 0.2 --seed 5 " +
                        arch_flags);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const std::string data = root + "-data";
  auto p = run_loratune("prepare " + shell_quote(lt_test::fixture("text/corpus.txt")) + " --model " + shell_quote(t.model) +
                        " --split-text blank-line --seq-len 64 --val-fraction 0.1 --out " + shell_quote(data));
  INFO(p.err);
  REQUIRE(p.code == 0);
  auto f = run_loratune("finetune --model " + shell_quote(t.model) + " --data " + shell_quote(data) + " --out " +
                        shell_quote(t.run) + " --steps 8 --batch-size 4 --lr 5e-3 --targets all-linear --threads 2");
  INFO(f.err);
  REQUIRE(f.code == 0);
  return t;
}

const Setup& setup() {
  static Setup s;
  static bool done = [] {
    s.llama = tune(s.dir.file("llama"), "");
    s.qwen3 = tune(s.dir.file("qwen3"), "--arch qwen3 --head-dim 32");
    return true;
  }();
  (void)done;
  return s;
}

// Greedy token ids from `loratune generate` (fp32 on the CPU, like the exports' verification).
std::vector<int> generate(const std::string& model_args, int n) {
  auto r = run_loratune("generate " + model_args + " -p " + shell_quote(kPrompt) + " -n " + std::to_string(n) +
                        " --json --device cpu --dtype fp32");
  INFO(r.err);
  REQUIRE(r.code == 0);
  return json::parse(r.out)["tokens"].get<std::vector<int>>();
}

json export_json(const std::string& args) {
  auto r = run_loratune("export " + args + " --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  return json::parse(r.out);
}

// Nothing named like `out` (the output or a temporary of it) in its directory.
bool nothing_left(const std::string& out) {
  const std::string stem = fs::path(out).filename().string();
  for (const auto& e : fs::directory_iterator(fs::path(out).parent_path()))
    if (e.path().filename().string().rfind(stem, 0) == 0) return false;
  return true;
}

}  // namespace

TEST_CASE("export from a run: every format verified, and the exports generate what the run generates", "[cli][export]") {
  const auto& s = setup();
  lt_test::TempDir tmp("lt-export-cli-out");
  const std::string run = shell_quote(s.llama.run);
  const auto tuned = generate("--run " + run, 16);
  REQUIRE(tuned != generate("--model " + shell_quote(s.llama.model), 16));  // the adapter changes the output

  SECTION("merged (default dtype of the base: f32)") {
    auto j = export_json("--run " + run + " --format merged --out " + shell_quote(tmp.file("merged")));
    CHECK(j["format"] == "merged");
    CHECK(j["dtype"] == "f32");
    CHECK(j["verify"]["max_abs_diff"].get<double>() <= j["verify"]["tolerance"].get<double>());
    CHECK(generate("--model " + shell_quote(tmp.file("merged")), 16) == tuned);
  }
  SECTION("peft re-save, applied by generate --adapter") {
    auto j = export_json("--run " + run + " --format peft --out " + shell_quote(tmp.file("peft")));
    CHECK(j["verify"]["max_abs_diff"] == 0.0);
    CHECK(generate("--model " + shell_quote(s.llama.model) + " --adapter " + shell_quote(tmp.file("peft")), 16) == tuned);
  }
  SECTION("gguf in every dtype, gguf-lora; the text report states the verification") {
    for (const char* dtype : {"f32", "f16", "bf16", "q8_0"}) {
      auto j = export_json("--run " + run + " --format gguf --dtype " + dtype + " --out " +
                           shell_quote(tmp.file(std::string("m-") + dtype + ".gguf")));
      INFO(dtype << ": " << j.dump());
      CHECK(j["dtype"] == dtype);
      CHECK(j["verify"]["max_abs_diff"].get<double>() <= j["verify"]["tolerance"].get<double>());
    }
    auto r = run_loratune("export --run " + run + " --format gguf-lora --out " + shell_quote(tmp.file("lora.gguf")));
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Contains("verified: max |logit diff|") && Contains("adapter.lora.alpha = 16"));
    auto f = loratune::io::GgufFile::open(tmp.file("lora.gguf"));
    CHECK(f->get_string("general.type") == "adapter");
  }
  SECTION("--no-verify skips the check and says so") {
    auto r = run_loratune("export --run " + run + " --format gguf --out " + shell_quote(tmp.file("nv.gguf")) + " --no-verify");
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Contains("not verified"));
  }
  SECTION("a small --max-shard-size shards the merged checkpoint") {
    auto j = export_json("--run " + run + " --format merged --max-shard-size 200KB --out " + shell_quote(tmp.file("sh")));
    CHECK(j["files"].dump().find("model.safetensors.index.json") != std::string::npos);
    CHECK(generate("--model " + shell_quote(tmp.file("sh")), 16) == tuned);
  }
}

TEST_CASE("export refuses bad input with exit 2 and leaves nothing under the output name", "[cli][export][errors]") {
  const auto& s = setup();
  lt_test::TempDir tmp("lt-export-cli-bad");
  const std::string run = shell_quote(s.llama.run);
  SECTION("unknown dtype and format") {
    auto r = run_loratune("export --run " + run + " --format gguf --dtype q4_k --out " + shell_quote(tmp.file("a.gguf")));
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("unknown export dtype 'q4_k'"));
    r = run_loratune("export --run " + run + " --format ggfu --out " + shell_quote(tmp.file("a.gguf")));
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("did you mean 'gguf'"));
    CHECK(nothing_left(tmp.file("a.gguf")));
  }
  SECTION("an existing output needs --force") {
    lt_test::write_file(tmp.file("x.gguf"), "keep me");
    auto r = run_loratune("export --run " + run + " --format gguf --out " + shell_quote(tmp.file("x.gguf")));
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("already exists") && Contains("--force"));
    CHECK(lt_test::read_file(tmp.file("x.gguf")) == "keep me");
    r = run_loratune("export --run " + run + " --format gguf --out " + shell_quote(tmp.file("x.gguf")) + " --force");
    CHECK(r.code == 0);
    CHECK(loratune::io::GgufFile::open(tmp.file("x.gguf"))->tensors().size() > 10);
  }
  SECTION("an adapter for another base model") {
    auto r = run_loratune("export --model " + shell_quote(s.qwen3.model) + " --adapter " +
                          shell_quote(s.llama.run + "/adapter") + " --format merged --out " + shell_quote(tmp.file("mm")));
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("does not fit this model") && Contains("another base model"));
    CHECK(nothing_left(tmp.file("mm")));
  }
  SECTION("an adapter format without an adapter; a missing --format") {
    auto r = run_loratune("export --model " + shell_quote(s.llama.model) + " --format peft --out " + shell_quote(tmp.file("p")));
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("exports an adapter, but none was given"));
    r = run_loratune("export --model " + shell_quote(s.llama.model) + " --out " + shell_quote(tmp.file("p")));
    CHECK(r.code == 2);
    CHECK(nothing_left(tmp.file("p")));
  }
}

TEST_CASE("adapters written by HF PEFT load (rank_pattern, alpha_pattern, adapter names) and DoRA is refused", "[cli][export][peft]") {
  using loratune::io::DType;
  const auto& s = setup();
  lt_test::TempDir tmp("lt-export-hfpeft");
  // Rewrite the run's adapter the way HF PEFT saves a mixed-rank adapter: ".lora_A.default.weight" names (as
  // some writers leave them), v_proj cut to rank 2 (rank_pattern), o_proj with its own alpha (alpha_pattern).
  const std::string src = s.llama.run + "/adapter";
  const std::string dir = tmp.file("hf-adapter");
  fs::create_directories(dir);
  auto st = loratune::io::SafetensorsFile::open(src + "/adapter_model.safetensors");
  std::vector<std::vector<float>> keep;
  std::vector<loratune::io::TensorToWrite> out;
  for (const auto& t : st->tensors()) {
    std::vector<float> v(static_cast<size_t>(t.numel()));
    std::memcpy(v.data(), t.data, t.nbytes);
    std::vector<int64_t> shape = t.shape;
    const bool v_proj = t.name.find("v_proj") != std::string::npos;
    if (v_proj && t.name.find("lora_A") != std::string::npos) {  // [r, in] -> first 2 rows
      v.resize(static_cast<size_t>(2 * shape[1]));
      shape[0] = 2;
    } else if (v_proj) {  // B [out, r] -> first 2 columns
      std::vector<float> cut;
      for (int64_t i = 0; i < shape[0]; ++i)
        for (int64_t k = 0; k < 2; ++k) cut.push_back(v[static_cast<size_t>(i * shape[1] + k)]);
      v = cut;
      shape[1] = 2;
    }
    std::string name = t.name;
    name.insert(name.find(".lora_") + 7, ".default");
    keep.push_back(std::move(v));
    out.push_back({name, DType::F32, shape, keep.back().data(), keep.back().size() * 4});
  }
  loratune::io::write_safetensors(dir + "/adapter_model.safetensors", out, {{"format", "pt"}});
  json cfg = json::parse(lt_test::read_file(src + "/adapter_config.json"));
  cfg["rank_pattern"] = {{"v_proj", 2}};
  cfg["alpha_pattern"] = {{"o_proj", 64}};
  cfg["revision"] = nullptr;
  lt_test::write_file(dir + "/adapter_config.json", cfg.dump(2));

  const std::string model = " --model " + shell_quote(s.llama.model);
  const auto mixed = generate(model + " --adapter " + shell_quote(dir), 16);
  CHECK(mixed.size() == 16);
  // Every export of it verifies, and the PEFT re-save keeps the patterns.
  export_json(model + " --adapter " + shell_quote(dir) + " --format peft --out " + shell_quote(tmp.file("re")));
  json re = json::parse(lt_test::read_file(tmp.file("re") + "/adapter_config.json"));
  CHECK(re["rank_pattern"] == json{{"v_proj", 2}});
  CHECK(re["alpha_pattern"] == json{{"o_proj", 64}});
  CHECK(generate(model + " --adapter " + shell_quote(tmp.file("re")), 16) == mixed);
  auto l = export_json(model + " --adapter " + shell_quote(dir) + " --format gguf-lora --out " + shell_quote(tmp.file("m.gguf")));
  CHECK(l["notes"].dump().find("rank_pattern / alpha_pattern") != std::string::npos);
  export_json(model + " --adapter " + shell_quote(dir) + " --format merged --out " + shell_quote(tmp.file("merged-hf")));
  CHECK(generate("--model " + shell_quote(tmp.file("merged-hf")), 16) == mixed);

  SECTION("DoRA and modules_to_save are refused with a reason (exit 2)") {
    cfg["use_dora"] = true;
    lt_test::write_file(dir + "/adapter_config.json", cfg.dump(2));
    auto r = run_loratune("generate" + model + " --adapter " + shell_quote(dir) + " -p x -n 2");
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("DoRA"));
    cfg["use_dora"] = false;
    cfg["modules_to_save"] = json::array({"lm_head"});
    lt_test::write_file(dir + "/adapter_config.json", cfg.dump(2));
    r = run_loratune("export" + model + " --adapter " + shell_quote(dir) + " --format merged --out " + shell_quote(tmp.file("x")));
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("modules_to_save"));
    CHECK(nothing_left(tmp.file("x")));
  }
}
