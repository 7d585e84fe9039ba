// Generation eval inputs: the prompts JSONL reader and the generation prompt rendering.
#include <catch2/catch.hpp>

#include <functional>

#include "core/error.h"
#include "data/templates.h"
#include "eval/generation_eval.h"
#include "model/generate.h"
#include "model/loader.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

using namespace loratune;
using namespace loratune::data;
using Catch::Matchers::Contains;

namespace {
std::string input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    if (e.kind() == ExitCode::Usage) return e.message() + " | " + e.hint();
  }
  return "";
}

Record prompt_record(const std::string& prompt) {
  Record r;
  r.format = Format::PromptCompletion;
  r.prompt = prompt;
  r.completion = "ignored";
  r.source = "p.jsonl";
  r.line = 3;
  return r;
}

Record chat_record(std::vector<Message> msgs) {
  Record r;
  r.format = Format::Chat;
  r.messages = std::move(msgs);
  r.source = "c.jsonl";
  r.line = 7;
  return r;
}

// Segments as a readable string: <s>, </s> for the special ids, text as is; and whether any is trained.
std::string show(const std::vector<Segment>& segs, bool* any_trained = nullptr) {
  std::string out;
  for (const auto& s : segs) {
    if (any_trained && s.trained) *any_trained = true;
    out += s.kind == Segment::Kind::Bos ? "<s>" : s.kind == Segment::Kind::Eos ? "</s>" : s.text;
  }
  return out;
}
}  // namespace

TEST_CASE("generation prompts render up to where the answer begins", "[eval][templates]") {
  CHECK(show(render_generation_prompt("chatml", prompt_record("Hi"), false)) ==
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  CHECK(show(render_generation_prompt("chatml", chat_record({{"system", "S"}, {"user", "Q"}}), true)) ==
        "<s><|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n");
  // Llama-2: the space after [/INST] belongs to the answer's first token.
  CHECK(show(render_generation_prompt("llama2", prompt_record("Q"), true)) == "<s>[INST] Q [/INST]");
  CHECK(show(render_generation_prompt("mistral", prompt_record("Q"), true)) == "<s>[INST] Q [/INST]");
  CHECK(show(render_generation_prompt("zephyr", prompt_record("Q"), false)) == "<|user|>\nQ</s>\n<|assistant|>\n");
  CHECK(show(render_generation_prompt("alpaca", prompt_record("Do X"), false)) ==
        "Below is an instruction that describes a task. Write a response that appropriately completes the "
        "request.\n\n### Instruction:\nDo X\n\n### Response:\n");
  CHECK(show(render_generation_prompt("plain", prompt_record("Q: x\nA: "), true)) == "<s>Q: x\nA:");
  CHECK(show(render_generation_prompt("plain", chat_record({{"user", "hi"}}), false)) == "user: hi\nassistant:");

  SECTION("earlier turns stay, as context only") {
    bool trained = false;
    const auto segs = render_generation_prompt(
        "chatml", chat_record({{"user", "a"}, {"assistant", "b"}, {"user", "c"}}), false);
    CHECK(show(segs, &trained) ==
          "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb</s>\n<|im_start|>user\nc<|im_end|>\n"
          "<|im_start|>assistant\n");
    CHECK_FALSE(trained);
    CHECK(show(render_generation_prompt("llama2", chat_record({{"user", "a"}, {"assistant", "b"}, {"user", "c"}}),
                                        true)) == "<s>[INST] a [/INST] b </s><s>[INST] c [/INST]");
  }
  SECTION("a conversation ending with an assistant turn is an input error naming file:line") {
    CHECK_THAT(input_error([] { render_generation_prompt("chatml", chat_record({{"user", "a"}, {"assistant", "b"}}), false); }),
               Contains("c.jsonl:7") && Contains("user turn"));
  }
}

TEST_CASE("prompts JSONL: samples, ids, limits and errors naming file:line", "[eval][prompts]") {
  lt_test::TempDir tmp("evalp");
  const std::string f = tmp.file("q.jsonl");

  SECTION("valid records") {
    lt_test::write_file(f,
                        "{\"prompt\": \"What is 2+2?\", \"reference\": \"4\", \"id\": \"q1\"}\n"
                        "\n"
                        "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", "
                        "\"content\": \"Capital of France?\"}], \"reference\": \"Paris\", \"extra\": 1}\r\n"
                        "{\"prompt\": \"third\", \"reference\": \"\"}\n");
    const auto s = eval::read_generation_samples(f);
    REQUIRE(s.size() == 3);
    CHECK(s[0].record.format == Format::PromptCompletion);
    CHECK(s[0].record.prompt == "What is 2+2?");
    CHECK(s[0].reference == "4");
    CHECK(s[0].id == "q1");
    CHECK(s[0].record.line == 1);
    CHECK(s[1].record.format == Format::Chat);
    CHECK(s[1].record.messages.size() == 2);
    CHECK(s[1].record.line == 3);
    CHECK(s[1].id.is_null());
    CHECK(s[1].input.contains("messages"));
    CHECK(s[2].reference.empty());
    CHECK(eval::read_generation_samples(f, 2).size() == 2);
  }
  struct Bad {
    std::string line, expect;
  };
  const std::vector<Bad> bad = {
      {"{\"prompt\": \"x\"}", "missing field \"reference\""},
      {"{\"prompt\": \"x\", \"reference\": 4}", "\"reference\" must be a string"},
      {"{\"reference\": \"x\"}", "exactly one of \"prompt\" and \"messages\""},
      {"{\"prompt\": \"x\", \"messages\": [], \"reference\": \"x\"}", "exactly one of"},
      {"{\"prompt\": 3, \"reference\": \"x\"}", "\"prompt\" must be a string"},
      {"{\"messages\": [{\"role\": \"usr\", \"content\": \"x\"}], \"reference\": \"x\"}", "did you mean 'user'"},
      {"{\"messages\": [{\"role\": \"user\"}], \"reference\": \"x\"}", "messages[0]"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"a\"}], "
       "\"reference\": \"x\"}",
       "end with an assistant turn"},
      {"{\"prompt\": \"x\", \"reference\": \"y\"", "invalid JSON"},
      {"[1, 2]", "expected a JSON object"},
  };
  for (const auto& b : bad) {
    DYNAMIC_SECTION(b.line) {
      lt_test::write_file(f, "{\"prompt\": \"ok\", \"reference\": \"ok\"}\n" + b.line + "\n");
      CHECK_THAT(input_error([&] { eval::read_generation_samples(f); }), Contains(f + ":2") && Contains(b.expect));
    }
  }
  SECTION("an empty or missing file") {
    lt_test::write_file(f, "\n\n");
    CHECK_THAT(input_error([&] { eval::read_generation_samples(f); }), Contains("no samples"));
    CHECK_THAT(input_error([&] { eval::read_generation_samples(tmp.file("none.jsonl")); }), Contains("not found"));
  }
}

namespace {
const Tokenizer& decode_tokenizer() {  // 400 pieces: decodes every id of the fixture models (vocab <= 128)
  static lt_test::TempDir dir("lt-gen-tok");
  static const Tokenizer tok = [] {
    TokenizerTrainOptions t;
    t.corpus_files = {lt_test::fixture("text/corpus.txt")};
    t.vocab_size = 400;
    const std::string p = dir.file("tokenizer.model");
    train_tokenizer(t, p);
    return Tokenizer::from_file(p);
  }();
  return tok;
}

std::string show_tokens(const std::vector<int>& t) {
  std::string s;
  for (int id : t) s += std::to_string(id) + " ";
  return s;
}
}  // namespace

TEST_CASE("batched generation equals one prompt at a time", "[eval][generate]") {
  // fp32 fixtures: GQA, tied embeddings, a sliding window of 4 (mistral_sliding: prompts longer than the
  // window), qwen3's q/k norms. Prompts of 1..13 tokens (left padding up to 12 slots); rows end at EOS at
  // different steps and leave the batch (a wrong cache compaction or mask changes the later tokens).
  torch::NoGradGuard ng;
  const Tokenizer& tok = decode_tokenizer();
  for (const char* name : {"llama_gqa_headdim", "llama_tied_linear", "mistral_sliding", "qwen3"}) {
    SECTION(name) {
      auto lm = load_model(lt_test::fixture(std::string("models/") + name), LoadOptions::cpu());
      const int64_t V = lm.hp.vocab_size;
      std::vector<std::vector<int>> prompts;
      for (int i = 0; i < 7; ++i) {
        std::vector<int> p;
        for (int t = 0; t < 1 + (i * 5) % 13; ++t) p.push_back(static_cast<int>((i * 37 + t * 11 + 3) % V));
        prompts.push_back(p);
      }
      for (double temperature : {0.0, 0.9}) {
        SamplingOptions so;
        so.max_new_tokens = 9;
        so.temperature = temperature;
        so.top_k = temperature > 0 ? 20 : 0;
        std::vector<uint64_t> seeds;
        for (size_t i = 0; i < prompts.size(); ++i) seeds.push_back(100 + i);
        // EOS: the third token row 0 generates without one, so that some rows end early.
        SamplingOptions probe = so;
        probe.seed = seeds[0];
        const auto first = generate(lm.model, tok, prompts[0], probe);
        REQUIRE(first.tokens.size() == 9);
        so.eos_ids = {first.tokens[2]};

        const auto batched = generate_batch(lm.model, tok, prompts, so, seeds);
        REQUIRE(batched.size() == prompts.size());
        int ended_early = 0;
        for (size_t i = 0; i < prompts.size(); ++i) {
          SamplingOptions one = so;
          one.seed = seeds[i];
          const auto single = generate(lm.model, tok, prompts[i], one);
          INFO(name << " temperature " << temperature << " prompt " << i << ": batched "
                    << show_tokens(batched[i].tokens) << "| single " << show_tokens(single.tokens));
          CHECK(batched[i].tokens == single.tokens);
          CHECK(batched[i].text == single.text);
          CHECK(batched[i].finish_reason == single.finish_reason);
          CHECK(batched[i].prompt_tokens == static_cast<int64_t>(prompts[i].size()));
          if (single.finish_reason == "eos") ++ended_early;
        }
        CHECK(ended_early >= 1);
        CHECK(ended_early < static_cast<int>(prompts.size()));  // rows left the batch while others went on
      }
    }
  }
}

TEST_CASE("batched generation honours stop strings per row and checks every prompt", "[eval][generate]") {
  torch::NoGradGuard ng;
  const Tokenizer& tok = decode_tokenizer();
  auto lm = load_model(lt_test::fixture("models/llama_gqa_headdim"), LoadOptions::cpu());
  const std::vector<std::vector<int>> prompts = {{5, 6, 7}, {9}, {11, 12, 13, 14, 15}};
  SamplingOptions so;
  so.max_new_tokens = 12;
  const auto plain = generate_batch(lm.model, tok, prompts, so, {1, 2, 3});
  // A stop string: the first two characters row 1 generates.
  REQUIRE(plain[1].text.size() >= 2);
  so.stop = {plain[1].text.substr(0, 2)};
  const auto stopped = generate_batch(lm.model, tok, prompts, so, {1, 2, 3});
  CHECK(stopped[1].finish_reason == "stop");
  CHECK(stopped[1].text.empty());
  for (size_t i = 0; i < prompts.size(); ++i) {
    SamplingOptions one = so;
    one.seed = i + 1;
    const auto single = generate(lm.model, tok, prompts[i], one);
    CHECK(stopped[i].text == single.text);
    CHECK(stopped[i].finish_reason == single.finish_reason);
  }
  CHECK(generate_batch(lm.model, tok, {}, so, {}).empty());
  CHECK_THAT(input_error([&] { generate_batch(lm.model, tok, {{1, 2}, {}}, so, {1, 2}); }), Contains("empty"));
  CHECK_THAT(input_error([&] { generate_batch(lm.model, tok, {{1, 2}, {1, 500}}, so, {1, 2}); }),
             Contains("500") && Contains("vocabulary"));
}
