// End-to-end tests of the real loratune binary: exit codes, messages, init -> generate.
#include <array>
#include <catch2/catch.hpp>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"

using lt_test::run_loratune;
using lt_test::shell_quote;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {
const std::string kCorpus = shell_quote(lt_test::fixture("text/corpus.txt"));

// One tiny model for the whole file (init takes ~1 s).
const std::string& tiny_model() {
  static lt_test::TempDir dir("lt-cli-model");
  static std::string path = [] {
    std::string p = dir.file("tiny");
    auto r = run_loratune("init --out " + shell_quote(p) + " --corpus " + kCorpus + " --tokenizer-vocab 400 --seed 3");
    INFO(r.err);
    REQUIRE(r.code == 0);
    return p;
  }();
  return path;
}
}  // namespace

TEST_CASE("version and help output", "[cli]") {
  auto v = run_loratune("--version");
  CHECK(v.code == 0);
  CHECK_THAT(v.out, Contains("loratune "));
  auto h = run_loratune("--help");
  CHECK(h.code == 0);
  CHECK_THAT(h.out, Contains("generate") && Contains("init") && Contains("Exit codes") && Contains("--device"));
  auto gh = run_loratune("generate --help");
  CHECK(gh.code == 0);
  CHECK_THAT(gh.out, Contains("--max-new-tokens") && Contains("Examples"));
}

TEST_CASE("unknown subcommands and flags exit 2 with a suggestion", "[cli]") {
  auto r = run_loratune("generat --model x");
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("did you mean 'generate'"));
  auto f = run_loratune("generate --model x --max-new-token 3");
  CHECK(f.code == 2);
  CHECK_THAT(f.err, Contains("--max-new-tokens"));
  auto none = run_loratune("");
  CHECK(none.code == 2);
}

TEST_CASE("init writes an HF-layout directory atomically", "[cli][init]") {
  const auto& dir = tiny_model();
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json",
                        "generation_config.json", "special_tokens_map.json"})
    CHECK(fs::exists(dir + "/" + f));
  auto cfg = nlohmann::json::parse(lt_test::read_file(dir + "/config.json"));
  CHECK(cfg["architectures"][0] == "LlamaForCausalLM");
  CHECK(cfg["model_type"] == "llama");
  CHECK(cfg["vocab_size"] == 400);
  CHECK(cfg["torch_dtype"] == "float32");
  SECTION("an existing output is not overwritten without --force") {
    auto r = run_loratune("init --out " + shell_quote(dir) + " --corpus " + kCorpus);
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("already exists") && Contains("--force"));
  }
  SECTION("a failed init leaves nothing behind") {
    lt_test::TempDir tmp;
    auto r = run_loratune("init --out " + shell_quote(tmp.file("m")) + " --corpus " + kCorpus + " --tokenizer-vocab 100000");
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("too small"));
    CHECK(fs::is_empty(tmp.path()));
  }
  SECTION("other architectures") {
    lt_test::TempDir tmp;
    for (const char* arch : {"qwen2", "qwen3", "mistral"}) {
      auto out = tmp.file(arch);
      auto r = run_loratune(std::string("init --arch ") + arch + " --out " + shell_quote(out) + " --tokenizer " +
                            shell_quote(dir + "/tokenizer.model") + " --layers 1");
      INFO(r.err);
      CHECK(r.code == 0);
      auto g = run_loratune("generate --json -n 3 --model " + shell_quote(out) + " -p hello");
      INFO(g.err);
      CHECK(g.code == 0);
    }
  }
}

TEST_CASE("generate: greedy is deterministic, global flags anywhere, JSON output", "[cli][generate]") {
  const auto m = shell_quote(tiny_model());
  auto a = run_loratune("generate --model " + m + " --prompt 'The licensee' -n 12 --json --device cpu --dtype fp32");
  INFO(a.err);
  REQUIRE(a.code == 0);
  auto ja = nlohmann::json::parse(a.out);
  CHECK(ja["dtype"] == "fp32");
  CHECK(ja["device"] == "cpu");
  CHECK(ja["generated_tokens"].get<int>() <= 12);
  CHECK(ja["prompt_tokens"].get<int>() >= 2);
  auto b = run_loratune("--device cpu --dtype fp32 --json generate --model " + m + " --prompt 'The licensee' -n 12");
  REQUIRE(b.code == 0);
  CHECK(nlohmann::json::parse(b.out)["tokens"] == ja["tokens"]);
  SECTION("streaming text equals the JSON text") {
    auto s = run_loratune("generate --model " + m + " --prompt 'The licensee' -n 12 --dtype fp32");
    REQUIRE(s.code == 0);
    CHECK(s.out == ja["text"].get<std::string>() + "\n");
  }
  SECTION("sampling is reproducible per seed") {
    auto s1 = run_loratune("generate --json -m " + m + " -p 'The' -n 16 -t 1.0 --top-k 50 --seed 1");
    auto s2 = run_loratune("generate --json -m " + m + " -p 'The' -n 16 -t 1.0 --top-k 50 --seed 1");
    auto s3 = run_loratune("generate --json -m " + m + " -p 'The' -n 16 -t 1.0 --top-k 50 --seed 2");
    REQUIRE(s1.code == 0);
    CHECK(nlohmann::json::parse(s1.out)["tokens"] == nlohmann::json::parse(s2.out)["tokens"]);
    CHECK(nlohmann::json::parse(s1.out)["tokens"] != nlohmann::json::parse(s3.out)["tokens"]);
  }
  SECTION("max-new-tokens 0 generates nothing") {
    auto z = run_loratune("generate --json -m " + m + " -p 'The' -n 0");
    REQUIRE(z.code == 0);
    CHECK(nlohmann::json::parse(z.out)["generated_tokens"] == 0);
  }
  SECTION("a model without a chat template gets the text as it is") {
    CHECK(ja["template"] == "none (the model has no chat template)");
    auto r = run_loratune("generate --json -m " + m + " --raw -p 'The licensee' -n 12 --device cpu --dtype fp32");
    REQUIRE(r.code == 0);
    CHECK(nlohmann::json::parse(r.out)["template"] == "raw");
    CHECK(nlohmann::json::parse(r.out)["tokens"] == ja["tokens"]);
    auto sys = run_loratune("generate -m " + m + " --system 'Be brief.' -p 'The' -n 1");
    CHECK(sys.code == 2);
    CHECK_THAT(sys.err, Contains("--system needs a chat template"));
  }
}

TEST_CASE("generate renders the prompt with the model's chat template unless --raw", "[cli][generate]") {
  lt_test::TempDir tmp("lt-generate-template");
  const std::string base = tmp.file("chat-model");
  fs::copy(tiny_model(), base, fs::copy_options::recursive);
  // The prompt as a user turn, then the assistant's header; a variable adds a line, a system message its own.
  const std::string jinja =
      "{% if style is defined %}[style: {{ style }}]\n{% endif %}"
      "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
      "{% if add_generation_prompt %}<|assistant|>\n{% endif %}";
  lt_test::write_file(base + "/chat_template.jinja", jinja);
  const std::string b = shell_quote(base);
  auto count = [&](const std::string& text) {
    auto t = run_loratune("tokenize --json --no-special -m " + b + " --text " + shell_quote(text));
    REQUIRE(t.code == 0);
    return nlohmann::json::parse(t.out)["texts"][0]["ids"].size();
  };
  auto gen = [&](const std::string& args) {
    auto g = run_loratune("generate --json -n 2 --device cpu --dtype fp32 -m " + b + " " + args);
    INFO(g.err);
    REQUIRE(g.code == 0);
    return nlohmann::json::parse(g.out);
  };
  const auto chat = gen("-p 'What is granted?'");
  CHECK(chat["template"] == "model");
  CHECK(chat["prompt_tokens"] == count("<|user|>\nWhat is granted?\n<|assistant|>\n"));
  const auto raw = gen("--raw -p 'What is granted?'");
  CHECK(raw["template"] == "raw");
  CHECK(raw["prompt_tokens"].get<size_t>() < chat["prompt_tokens"].get<size_t>());
  CHECK(gen("--template-var style=terse -p 'What is granted?'")["prompt_tokens"] ==
        count("[style: terse]\n<|user|>\nWhat is granted?\n<|assistant|>\n"));
  CHECK(gen("--system 'Be brief.' -p 'What is granted?'")["prompt_tokens"] ==
        count("<|system|>\nBe brief.\n<|user|>\nWhat is granted?\n<|assistant|>\n"));
  const auto builtin = gen("--template zephyr -p 'What is granted?'");
  CHECK(builtin["template"] == "zephyr");
  auto bad = run_loratune("generate -m " + b + " -p x --template-var '=1'");
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Contains("expected NAME=VALUE"));
  SECTION("prepare records the variables in the manifest, eval --prompts renders with them") {
    auto chats = tmp.file("chats.jsonl");
    lt_test::write_file(chats, R"({"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]})"
                               "\n");
    auto p = run_loratune("prepare " + shell_quote(chats) + " -m " + b + " --val-fraction 0 --seq-len 64 --template-var "
                          "style='\"x\"' --template-var n=3 --out " + shell_quote(tmp.file("data")));
    INFO(p.err);
    REQUIRE(p.code == 0);
    const auto manifest = nlohmann::json::parse(lt_test::read_file(tmp.file("data") + "/manifest.json"));
    CHECK(manifest["template"] == "model");
    CHECK(manifest["template_vars"] == nlohmann::json({{"n", 3}, {"style", "x"}}));
    CHECK(manifest["options"]["template_vars"] == manifest["template_vars"]);
    auto prompts = tmp.file("prompts.jsonl");
    lt_test::write_file(prompts, R"({"prompt": "Q?", "reference": "A."})" "\n");
    auto eval = [&](const std::string& extra, const std::string& out) {
      auto e = run_loratune("eval -m " + b + " --data " + shell_quote(tmp.file("data")) + " --split train --prompts " +
                            shell_quote(prompts) + " -n 2 --device cpu --dtype fp32 --json --out " +
                            shell_quote(tmp.file(out)) + " " + extra);
      INFO(e.err);
      REQUIRE(e.code == 0);
      const auto report = nlohmann::json::parse(e.out);
      const auto line = nlohmann::json::parse(lt_test::read_file(tmp.file(out.substr(0, out.size() - 5) + ".outputs.jsonl")));
      return std::make_pair(report["prompts"], line);
    };
    const auto [from_manifest, first] = eval("", "e1.json");
    CHECK(from_manifest["template"] == "model");
    CHECK(from_manifest["template_vars"] == manifest["template_vars"]);
    CHECK(first["prompt_tokens"] == count("[style: x]\n<|user|>\nQ?\n<|assistant|>\n"));
    const auto [given, second] = eval("--template-var style=other", "e2.json");
    CHECK(given["template_vars"] == nlohmann::json({{"style", "other"}}));
    CHECK(second["prompt_tokens"] == count("[style: other]\n<|user|>\nQ?\n<|assistant|>\n"));
  }
}

TEST_CASE("config: --print-config round trips, typos and wrong types exit 2", "[cli][config]") {
  lt_test::TempDir tmp;
  auto p = run_loratune("config --set generate.top_k=40 --set generate.temperature=0.5 --print-config");
  REQUIRE(p.code == 0);
  auto cfg = nlohmann::json::parse(p.out);
  CHECK(cfg["generate"]["top_k"] == 40);
  CHECK(cfg["generate"]["temperature"] == 0.5);
  lt_test::write_file(tmp.file("c.json"), p.out);
  auto again = run_loratune("config --config " + shell_quote(tmp.file("c.json")));
  REQUIRE(again.code == 0);
  CHECK(nlohmann::json::parse(again.out) == cfg);
  SECTION("CLI flag beats --set beats file") {
    lt_test::write_file(tmp.file("f.json"), R"({"generate": {"top_k": 5, "top_p": 0.5}})");
    auto r = run_loratune("config --config " + shell_quote(tmp.file("f.json")) + " --set generate.top_k=7");
    CHECK(nlohmann::json::parse(r.out)["generate"]["top_k"] == 7);
    CHECK(nlohmann::json::parse(r.out)["generate"]["top_p"] == 0.5);
  }
  SECTION("typo in a config file names the file and suggests the key") {
    lt_test::write_file(tmp.file("bad.json"), R"({"generate": {"temprature": 0.1}})");
    auto r = run_loratune("config --config " + shell_quote(tmp.file("bad.json")));
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("bad.json") && Contains("generate.temprature") && Contains("generate.temperature"));
  }
  SECTION("wrong type and bad values") {
    lt_test::write_file(tmp.file("t.json"), R"({"generate": {"top_k": "many"}})");
    auto r = run_loratune("config --config " + shell_quote(tmp.file("t.json")));
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("generate.top_k") && Contains("integer"));
    auto s = run_loratune("config --set generat.top_k=3");
    CHECK(s.code == 2);
    CHECK_THAT(s.err, Contains("did you mean 'generate'"));
    auto d = run_loratune("config --dtype bf17");
    CHECK(d.code == 2);
    CHECK_THAT(d.err, Contains("model.dtype"));
  }
  SECTION("enum values are checked once, by the library's name tables, naming the key and the choices") {
    const std::vector<std::array<const char*, 3>> cases{
        {"--set data.pack=offf", "config key 'data.pack': 'offf' is not one of auto, on, off", "did you mean 'off'"},
        {"--set data.text_split=blankline", "config key 'data.text_split': 'blankline' is not one of none, blank-line, delimiter",
         "did you mean 'blank-line'"},
        {"--set train.schedule=cosin", "config key 'train.schedule': 'cosin' is not one of constant, linear, cosine",
         "did you mean 'cosine'"},
        {"--set lora.init=xavier", "config key 'lora.init': 'xavier' is not one of kaiming, gaussian", ""},
        {"--set eval.split=vall", "config key 'eval.split': 'vall' is not one of val, train", "did you mean 'val'"},
        {"--set data.format=jsonl", "is not one of auto, text, prompt_completion, alpaca, chat, tokens", ""},
        {"--set runtime.log_level=loud", "config key 'runtime.log_level': 'loud' is not one of debug", ""},
        {"--dtype fp8", "config key 'model.dtype': 'fp8' is not one of auto, fp32, bf16, fp16", ""},
        {"--device gpu", "config key 'model.device': 'gpu' is not a device", ""},
        {"--set lora.r=0", "config key 'lora.r' must be >= 1, got 0", ""},
        {"--set lora.dropout=1", "config key 'lora.dropout' must be in [0, 1), got 1", ""},
        {"--set lora.rank_pattern=v_proj=0", "config key 'lora.rank_pattern' entry 'v_proj' must be >= 1", ""},
    };
    for (const auto& [args, message, suggestion] : cases) {
      INFO(args);
      auto r = run_loratune(std::string("config ") + args);
      CHECK(r.code == 2);
      CHECK_THAT(r.err, Contains(message) && Contains(suggestion));
    }
    auto vars = run_loratune("config --set data.template_vars=enable_thinking=false,name=Bob,n=2");
    REQUIRE(vars.code == 0);
    CHECK(nlohmann::json::parse(vars.out)["data"]["template_vars"] ==
          nlohmann::json({{"enable_thinking", false}, {"name", "Bob"}, {"n", 2}}));
    auto vars_json = run_loratune("config --set 'data.template_vars={\"tools\": [1]}'");
    REQUIRE(vars_json.code == 0);
    CHECK(nlohmann::json::parse(vars_json.out)["data"]["template_vars"] == nlohmann::json({{"tools", {1}}}));
    CHECK(run_loratune("config --set data.template_vars=[1]").code == 2);
    auto ok = run_loratune("config --set lora.rank_pattern=v_proj=4,o_proj=2 --set 'lora.alpha_pattern={\"v_proj\": 8.5}'");
    REQUIRE(ok.code == 0);
    const auto cfg2 = nlohmann::json::parse(ok.out);
    CHECK(cfg2["lora"]["rank_pattern"] == nlohmann::json({{"o_proj", 2}, {"v_proj", 4}}));
    CHECK(cfg2["lora"]["alpha_pattern"] == nlohmann::json({{"v_proj", 8.5}}));
  }
  SECTION("--json errors are machine readable") {
    auto r = run_loratune("config --set nope=1 --json");
    CHECK(r.code == 2);
    CHECK(nlohmann::json::parse(r.out)["exit_code"] == 2);
  }
  SECTION("the schema lists every key") {
    auto r = run_loratune("config --schema");
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Contains("`generate.top_p`") && Contains("`model.device`") && Contains("`runtime.seed`"));
  }
}

TEST_CASE("bad model inputs give exit 2 and name the file", "[cli][errors]") {
  lt_test::TempDir tmp;
  SECTION("missing directory") {
    auto r = run_loratune("generate --model " + shell_quote(tmp.file("nope")) + " -p hi");
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("nope"));
  }
  SECTION("corrupt safetensors") {
    fs::copy(tiny_model(), tmp.file("m"));
    fs::resize_file(tmp.file("m/model.safetensors"), 1000);
    auto r = run_loratune("generate --model " + shell_quote(tmp.file("m")) + " -p hi");
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("model.safetensors"));
  }
  SECTION("config.json with a typo in a required key") {
    fs::copy(tiny_model(), tmp.file("m"));
    auto text = lt_test::read_file(tmp.file("m/config.json"));
    auto at = text.find("\"hidden_size\"");
    REQUIRE(at != std::string::npos);
    text.replace(at, 13, "\"hiden_size\"");
    lt_test::write_file(tmp.file("m/config.json"), text);
    auto r = run_loratune("generate --model " + shell_quote(tmp.file("m")) + " -p hi");
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("config.json") && Contains("hidden_size"));
  }
  SECTION("tokenizer from another model") {
    fs::copy(tiny_model(), tmp.file("m"));
    auto big = tmp.file("big");
    auto r0 = run_loratune("init --out " + shell_quote(big) + " --corpus " + kCorpus + " --tokenizer-vocab 600");
    REQUIRE(r0.code == 0);
    fs::copy_file(big + "/tokenizer.model", tmp.file("m/tokenizer.model"), fs::copy_options::overwrite_existing);
    auto r = run_loratune("generate --model " + shell_quote(tmp.file("m")) + " -p hi");
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("tokenizer"));
  }
}

TEST_CASE("README's config reference is the generated one", "[cli][docs]") {
  auto r = run_loratune("config --schema");
  REQUIRE(r.code == 0);
  auto readme = lt_test::read_file(std::string(LORATUNE_SOURCE_DIR) + "/README.md");
  INFO("regenerate the README table with `loratune config --schema`");
  CHECK_THAT(readme, Contains(r.out));
}
