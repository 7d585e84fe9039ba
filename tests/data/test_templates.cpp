// Chat templates: exact rendered text and loss flags per template, Jinja recognition, and tokenization
// with an exact per-token mask (a small tokenizer is trained on tests/fixtures/text/corpus.txt).
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/model_template.h"
#include "data/sample.h"
#include "data/templates.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

using namespace loratune;
using namespace loratune::data;

namespace {

Record chat_record() {
  Record r;
  r.source = "chats.jsonl";
  r.line = 7;
  r.format = Format::Chat;
  r.messages = {{"system", "You are terse."},
                {"user", "What is granted?"},
                {"assistant", "License rights."},
                {"user", "Give an example."},
                {"assistant", "copies of the work."}};
  return r;
}

Record pc_record(const std::string& prompt, const std::string& completion) {
  Record r;
  r.source = "pc.jsonl";
  r.line = 1;
  r.format = Format::PromptCompletion;
  r.prompt = prompt;
  r.completion = completion;
  return r;
}

Record alpaca_record(const std::string& instruction, const std::string& input, const std::string& output) {
  Record r;
  r.source = "alpaca.jsonl";
  r.line = 3;
  r.format = Format::Alpaca;
  r.instruction = instruction;
  r.input = input;
  r.output = output;
  return r;
}

Record text_record(const std::string& text) {
  Record r;
  r.source = "doc.txt";
  r.line = 1;
  r.format = Format::Text;
  r.text = text;
  return r;
}

// The segments as text, BOS/EOS written as <s>/</s>.
std::string as_text(const std::vector<Segment>& segs) {
  std::string out;
  for (const Segment& s : segs)
    out += s.kind == Segment::Kind::Bos ? "<s>" : s.kind == Segment::Kind::Eos ? "</s>" : s.text;
  return out;
}

// The trained segments as text, one string per maximal run of trained segments.
std::vector<std::string> trained_runs(const std::vector<Segment>& segs) {
  std::vector<std::string> runs;
  bool in_run = false;
  for (const Segment& s : segs) {
    if (!s.trained) {
      in_run = false;
      continue;
    }
    if (!in_run) runs.emplace_back();
    in_run = true;
    runs.back() += s.kind == Segment::Kind::Bos ? "<s>" : s.kind == Segment::Kind::Eos ? "</s>" : s.text;
  }
  return runs;
}

int count_kind(const std::vector<Segment>& segs, Segment::Kind kind, bool trained) {
  int n = 0;
  for (const Segment& s : segs) n += s.kind == kind && s.trained == trained;
  return n;
}

Error input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.kind() == ExitCode::Usage);
    return e;
  }
  FAIL("expected an input error");
  return Error(ExitCode::Runtime, "");
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

const Tokenizer& trained_tokenizer(bool byte_fallback = true) {
  static lt_test::TempDir dir("lt-templates");
  auto train = [](const std::string& path, bool fallback) {
    TokenizerTrainOptions opts;
    opts.corpus_files = {lt_test::fixture("text/corpus.txt")};
    opts.vocab_size = 400;
    opts.byte_fallback = fallback;
    train_tokenizer(opts, path);
    return Tokenizer::from_file(path);
  };
  static Tokenizer with_fallback = train(dir.file("bf.model"), true);
  if (byte_fallback) return with_fallback;
  static Tokenizer without_fallback = train(dir.file("nobf.model"), false);
  return without_fallback;
}

// The surfaces of the tokens as text: control ids as <s>/</s>, others through decode_piece.
std::string surface(const std::vector<int32_t>& ids, const Tokenizer& tok) {
  std::string out;
  for (int32_t id : ids) {
    if (id == tok.special().bos) out += "<s>";
    else if (id == tok.special().eos) out += "</s>";
    else out += tok.decode_piece(id);
  }
  return out;
}

// The surfaces of the trained tokens, one string per maximal run of trained tokens.
std::vector<std::string> trained_token_runs(const TokenizedSample& s, const Tokenizer& tok) {
  std::vector<std::string> runs;
  bool in_run = false;
  for (size_t i = 0; i < s.ids.size(); ++i) {
    if (!s.trained[i]) {
      in_run = false;
      continue;
    }
    if (!in_run) runs.emplace_back();
    in_run = true;
    runs.back() += surface({s.ids[i]}, tok);
  }
  return runs;
}

// The rendered text as tokenize() sees it: SentencePiece's dummy-prefix space starts every text run.
std::string with_dummy_prefixes(const std::vector<Segment>& segs) {
  std::string out;
  bool after_text = false;
  for (const Segment& s : segs) {
    if (s.kind == Segment::Kind::Text) {
      if (!after_text) out += " ";
      out += s.text;
      after_text = true;
    } else {
      out += s.kind == Segment::Kind::Bos ? "<s>" : "</s>";
      after_text = false;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("template names", "[data]") {
  CHECK(template_names() == std::vector<std::string>{"chatml", "llama2", "mistral", "zephyr", "alpaca", "plain"});
  for (const std::string& n : template_names()) CHECK(is_template_name(n));
  CHECK_FALSE(is_template_name("chatml2"));
  CHECK_FALSE(is_template_name(""));
  const Error e = input_error([] { render("chatlm", chat_record(), false, true); });
  CHECK(contains(e.message(), "'chatlm'"));
  CHECK(contains(e.message(), "did you mean 'chatml'"));
  CHECK(contains(e.hint(), "{opt:template}"));
}

TEST_CASE("each template renders a known chat exactly, training only the assistant turns", "[data]") {
  const Record r = chat_record();
  struct Expected {
    std::string name, text;
    std::vector<std::string> trained;
    int untrained_eos;
  };
  const std::vector<Expected> cases = {
      {"chatml",
       "<s><|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nWhat is granted?<|im_end|>\n"
       "<|im_start|>assistant\nLicense rights.</s>\n<|im_start|>user\nGive an example.<|im_end|>\n"
       "<|im_start|>assistant\ncopies of the work.</s>\n",
       {"License rights.</s>", "copies of the work.</s>"},
       0},
      {"llama2",
       "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nWhat is granted? [/INST] License rights. </s>"
       "<s>[INST] Give an example. [/INST] copies of the work. </s>",
       {"License rights. </s>", "copies of the work. </s>"},
       0},
      {"mistral",
       "<s>[INST] You are terse.\n\nWhat is granted? [/INST]License rights.</s>"
       "[INST] Give an example. [/INST]copies of the work.</s>",
       {"License rights.</s>", "copies of the work.</s>"},
       0},
      {"zephyr",
       "<s><|system|>\nYou are terse.</s>\n<|user|>\nWhat is granted?</s>\n<|assistant|>\nLicense rights.</s>\n"
       "<|user|>\nGive an example.</s>\n<|assistant|>\ncopies of the work.</s>\n",
       {"License rights.</s>", "copies of the work.</s>"},
       3},
      {"alpaca",
       "<s>You are terse.\n\n### Instruction:\nWhat is granted?\n\n### Response:\nLicense rights.</s>"
       "\n\n### Instruction:\nGive an example.\n\n### Response:\ncopies of the work.</s>",
       {"License rights.</s>", "copies of the work.</s>"},
       0},
      {"plain",
       "<s>system: You are terse.\nuser: What is granted?\nassistant: License rights.</s>\n"
       "user: Give an example.\nassistant: copies of the work.</s>\n",
       {"License rights.</s>", "copies of the work.</s>"},
       0},
  };
  for (const Expected& c : cases) {
    SECTION(c.name) {
      const std::vector<Segment> segs = render(c.name, r, /*train_on_inputs=*/false, /*add_bos=*/true);
      CHECK(as_text(segs) == c.text);
      CHECK(trained_runs(segs) == c.trained);
      // Every assistant turn is closed by a trained EOS; other EOS (zephyr's user/system turns) are not.
      CHECK(count_kind(segs, Segment::Kind::Eos, true) == 2);
      CHECK(count_kind(segs, Segment::Kind::Eos, false) == c.untrained_eos);
      for (size_t i = 0; i + 1 < segs.size(); ++i)
        if (segs[i].trained && segs[i].kind == Segment::Kind::Text)
          CHECK(segs[i + 1].kind == Segment::Kind::Eos);
      CHECK(segs.front().kind == Segment::Kind::Bos);
      CHECK_FALSE(segs.front().trained);

      const std::vector<Segment> all = render(c.name, r, /*train_on_inputs=*/true, /*add_bos=*/true);
      CHECK(as_text(all) == c.text);
      for (const Segment& s : all) CHECK(s.trained == (s.kind != Segment::Kind::Bos));

      const std::vector<Segment> no_bos = render(c.name, r, false, /*add_bos=*/false);
      CHECK(no_bos.front().kind != Segment::Kind::Bos);
      CHECK("<s>" + as_text(no_bos) == c.text);  // only the leading BOS is optional
    }
  }
}

TEST_CASE("prompt/completion records are one user and one assistant turn", "[data]") {
  const Record r = pc_record("Define estoppel:", " A bar to asserting a right.");
  SECTION("chatml") {
    const auto segs = render("chatml", r, false, false);
    CHECK(as_text(segs) ==
          "<|im_start|>user\nDefine estoppel:<|im_end|>\n<|im_start|>assistant\n A bar to asserting a right.</s>\n");
    CHECK(trained_runs(segs) == std::vector<std::string>{" A bar to asserting a right.</s>"});
  }
  SECTION("llama2 strips contents like the HF template") {
    CHECK(as_text(render("llama2", r, false, true)) ==
          "<s>[INST] Define estoppel: [/INST] A bar to asserting a right. </s>");
  }
  SECTION("plain concatenates prompt and completion") {
    const auto segs = render("plain", r, false, true);
    CHECK(as_text(segs) == "<s>Define estoppel: A bar to asserting a right.</s>");
    CHECK(trained_runs(segs) == std::vector<std::string>{" A bar to asserting a right.</s>"});
  }
  SECTION("alpaca uses the no-input prompt") {
    CHECK(as_text(render("alpaca", r, false, false)) ==
          "Below is an instruction that describes a task. Write a response that appropriately completes the "
          "request.\n\n### Instruction:\nDefine estoppel:\n\n### Response:\n A bar to asserting a right.</s>");
  }
}

TEST_CASE("alpaca records with and without input", "[data]") {
  const Record with = alpaca_record("Summarise the clause.", "The licensee shall pay.", "Payment is due.");
  const Record without = alpaca_record("Name a contract term.", "", "Consideration.");
  SECTION("the alpaca template uses the classic prompts") {
    const auto w = render("alpaca", with, false, true);
    CHECK(as_text(w) ==
          "<s>Below is an instruction that describes a task, paired with an input that provides further "
          "context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
          "Summarise the clause.\n\n### Input:\nThe licensee shall pay.\n\n### Response:\nPayment is due.</s>");
    CHECK(trained_runs(w) == std::vector<std::string>{"Payment is due.</s>"});
    const auto wo = render("alpaca", without, false, true);
    CHECK(as_text(wo) ==
          "<s>Below is an instruction that describes a task. Write a response that appropriately completes "
          "the request.\n\n### Instruction:\nName a contract term.\n\n### Response:\nConsideration.</s>");
    CHECK(trained_runs(wo) == std::vector<std::string>{"Consideration.</s>"});
  }
  SECTION("chat templates put instruction and input in the user turn") {
    CHECK(as_text(render("chatml", with, false, false)) ==
          "<|im_start|>user\nSummarise the clause.\n\nThe licensee shall pay.<|im_end|>\n"
          "<|im_start|>assistant\nPayment is due.</s>\n");
    CHECK(as_text(render("mistral", without, false, true)) ==
          "<s>[INST] Name a contract term. [/INST]Consideration.</s>");
    CHECK(as_text(render("plain", with, false, false)) ==
          "Summarise the clause.\n\nThe licensee shall pay.\n\nPayment is due.</s>");
  }
  SECTION("train_on_inputs trains the prompt too") {
    const auto all = render("alpaca", with, true, true);
    for (const Segment& s : all) CHECK(s.trained == (s.kind != Segment::Kind::Bos));
  }
}

TEST_CASE("text records ignore the template and train on everything", "[data]") {
  const Record r = text_record("Section 1. Definitions.");
  for (const std::string& name : template_names()) {
    SECTION(name) {
      const auto segs = render(name, r, false, true);
      REQUIRE(segs.size() == 3);
      CHECK(segs[0].kind == Segment::Kind::Bos);
      CHECK_FALSE(segs[0].trained);
      CHECK(segs[1].kind == Segment::Kind::Text);
      CHECK(segs[1].text == "Section 1. Definitions.");
      CHECK(segs[1].trained);
      CHECK(segs[2].kind == Segment::Kind::Eos);
      CHECK(segs[2].trained);
      CHECK(render(name, r, false, false).size() == 2);
    }
  }
}

TEST_CASE("records that do not fit a template are input errors naming file:line", "[data]") {
  SECTION("llama2 and mistral need alternating turns") {
    Record r = chat_record();
    r.messages = {{"user", "a"}, {"user", "b"}};
    for (const char* name : {"llama2", "mistral"}) {
      const Error e = input_error([&] { render(name, r, false, true); });
      CHECK(contains(e.message(), "chats.jsonl:7"));
      CHECK(contains(e.message(), "message 2 is 'user'"));
      CHECK(contains(e.hint(), "{opt:template}"));
    }
    CHECK_NOTHROW(render("chatml", r, false, true));
    CHECK_NOTHROW(render("zephyr", r, false, true));
  }
  SECTION("a system message alone has no user turn") {
    Record r = chat_record();
    r.messages = {{"system", "s"}};
    CHECK(contains(input_error([&] { render("llama2", r, false, true); }).message(), "at least one user turn"));
  }
  SECTION("alpaca takes a system message only first") {
    Record r = chat_record();
    r.messages.push_back({"system", "late"});
    CHECK(contains(input_error([&] { render("alpaca", r, false, true); }).message(), "message 6 is 'system'"));
  }
  SECTION("unknown role") {
    Record r = chat_record();
    r.messages[1].role = "usr";
    const Error e = input_error([&] { render("chatml", r, false, true); });
    CHECK(contains(e.message(), "chats.jsonl:7"));
    CHECK(contains(e.message(), "did you mean 'user'"));
  }
}

TEST_CASE("tokenize gives an exact per-token mask", "[data]") {
  const Tokenizer& tok = trained_tokenizer();
  const int bos = tok.special().bos, eos = tok.special().eos;
  const Record r = chat_record();
  // The trained tokens of each assistant turn, as piece surfaces. Where the template puts a space before
  // the answer (llama2, plain), SentencePiece merges it into the answer's first token ("▁L"): that token
  // is trained, since the model must generate it.
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"chatml", {"License rights.</s>", "copies of the work.</s>"}},
      {"llama2", {" License rights. </s>", " copies of the work. </s>"}},
      {"mistral", {"License rights.</s>", "copies of the work.</s>"}},
      {"zephyr", {"License rights.</s>", "copies of the work.</s>"}},
      {"alpaca", {"License rights.</s>", "copies of the work.</s>"}},
      {"plain", {" License rights.</s>", " copies of the work.</s>"}},
  };
  for (const auto& [name, expected] : cases) {
    SECTION(name) {
      const std::vector<Segment> segs = render(name, r, false, true);
      const TokenizedSample s = tokenize(segs, tok, r, name);
      REQUIRE(s.ids.size() == s.trained.size());
      CHECK(s.source == "chats.jsonl");
      CHECK(s.line == 7);
      CHECK_FALSE(s.truncated);
      CHECK(s.ids.front() == bos);
      // Every token of the text is there, in order, with one dummy-prefix space per text run.
      CHECK(surface(s.ids, tok) == with_dummy_prefixes(segs));
      CHECK(trained_token_runs(s, tok) == expected);
      int trained_eos = 0;
      for (size_t i = 0; i < s.ids.size(); ++i) trained_eos += s.ids[i] == eos && s.trained[i];
      CHECK(trained_eos == 2);

      const TokenizedSample all = tokenize(render(name, r, true, true), tok, r, name);
      CHECK(all.ids == s.ids);
      for (size_t i = 0; i < all.ids.size(); ++i) CHECK(all.trained[i] == (all.ids[i] != bos));
    }
  }
}

TEST_CASE("tokenize: exact positions on a known example", "[data]") {
  const Tokenizer& tok = trained_tokenizer();
  const Record r = pc_record("License", " grant");
  const std::vector<Segment> segs = render("plain", r, false, true);
  const TokenizedSample s = tokenize(segs, tok, r, "plain");
  // <s> then "License grant" encoded as one text ("▁License▁grant"), then </s>: the prompt's tokens
  // are masked, the completion's and EOS trained.
  const std::vector<int> prompt = tok.encode("License", false);
  const std::vector<int> whole = tok.encode("License grant", false);
  REQUIRE(std::equal(prompt.begin(), prompt.end(), whole.begin()));  // no token straddles the boundary
  std::vector<int32_t> ids = {tok.special().bos};
  ids.insert(ids.end(), whole.begin(), whole.end());
  ids.push_back(tok.special().eos);
  std::vector<uint8_t> mask(ids.size(), 1);
  mask[0] = 0;
  for (size_t i = 0; i < prompt.size(); ++i) mask[1 + i] = 0;
  CHECK(s.ids == ids);
  CHECK(s.trained == mask);
}

TEST_CASE("tokenize: a token straddling the prompt/completion boundary is trained", "[data]") {
  const Tokenizer& tok = trained_tokenizer();
  const Record r = pc_record("x", " License");
  const TokenizedSample s = tokenize(render("plain", r, false, false), tok, r, "plain");
  // "x License" encodes as "▁" "x" "▁L" "icense": the prompt's space merges into "▁L", which the model
  // has to generate, so it is trained; the dummy prefix and "x" are not.
  std::vector<std::string> pieces;
  for (int32_t id : s.ids) pieces.push_back(tok.piece(id));
  REQUIRE(pieces == std::vector<std::string>{"\xe2\x96\x81", "x", "\xe2\x96\x81L", "icense", "</s>"});
  CHECK(s.trained == std::vector<uint8_t>{0, 0, 1, 1, 1});
}

TEST_CASE("tokenize: text records train every token but BOS", "[data]") {
  const Tokenizer& tok = trained_tokenizer();
  const Record r = text_record("The Licensor grants a license.");
  const TokenizedSample s = tokenize(render("chatml", r, false, true), tok, r);
  std::vector<int32_t> ids = {tok.special().bos};
  for (int id : tok.encode(r.text, false)) ids.push_back(id);
  ids.push_back(tok.special().eos);
  CHECK(s.ids == ids);
  std::vector<uint8_t> mask(ids.size(), 1);
  mask[0] = 0;
  CHECK(s.trained == mask);
}

TEST_CASE("tokenize falls back to per-segment encoding when pieces do not map back to the text", "[data]") {
  // Without byte fallback, characters outside the vocabulary become <unk>, whose surface (" ⁇ ") does not
  // reproduce the text: the segments are encoded one by one and the mask stays exact.
  const Tokenizer& tok = trained_tokenizer(/*byte_fallback=*/false);
  Record r = pc_record("Q: \xe6\x96\x87?", "Answer \xe6\x96\x87.");
  const std::vector<Segment> segs = render("chatml", r, false, false);
  const TokenizedSample s = tokenize(segs, tok, r, "chatml");
  std::vector<int32_t> trained_ids;
  for (size_t i = 0; i < s.ids.size(); ++i)
    if (s.trained[i]) trained_ids.push_back(s.ids[i]);
  std::vector<int32_t> expected;
  for (int id : tok.encode("Answer \xe6\x96\x87.", false)) expected.push_back(id);
  expected.push_back(tok.special().eos);
  CHECK(trained_ids == expected);
}

namespace {
// A model directory with the trained SentencePiece tokenizer and `jinja` as its chat template.
Tokenizer with_template(lt_test::TempDir& dir, const std::string& jinja) {
  lt_test::write_file(dir.file("tokenizer.model"), trained_tokenizer().serialized_model());
  nlohmann::json cfg{{"eos_token", "</s>"}, {"bos_token", "<s>"}, {"chat_template", jinja}};
  lt_test::write_file(dir.file("tokenizer_config.json"), cfg.dump());
  return Tokenizer::from_model_dir(dir.path());
}

const char* const kTurns =
    "{% for m in messages %}{{ '<|' + m['role'] + '|>\n' + m['content'] }}"
    "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}";

bool has(const std::vector<std::string>& runs, size_t i, const std::string& part) {
  return i < runs.size() && runs[i].find(part) != std::string::npos;
}
}  // namespace

TEST_CASE("the model's own template: answers and their end-of-turn token are trained", "[data]") {
  lt_test::TempDir dir("lt-model-template");
  const Record r = chat_record();
  SECTION("incremental rendering, prefixes preserved: one sample") {
    const Tokenizer tok = with_template(dir, kTurns);
    const ModelTemplate t(tok);
    TemplateMasking m{};
    const auto samples = t.samples(r, false, &m);
    REQUIRE(samples.size() == 1);
    CHECK(m == TemplateMasking::Prefix);
    const auto runs = trained_token_runs(samples[0], tok);
    REQUIRE(runs.size() == 2);
    CHECK(has(runs, 0, "License rights."));
    CHECK(runs[0].size() >= 4);
    CHECK(runs[0].substr(runs[0].size() - 4) == "</s>");
    CHECK(has(runs, 1, "copies of the work."));
    CHECK(runs[1].substr(runs[1].size() - 4) == "</s>");
    CHECK_FALSE(has(runs, 0, "assistant"));
    // The whole rendering, tokenized: nothing but the user/system text is left out of the mask.
    const std::string untrained = [&] {
      std::string out;
      for (size_t i = 0; i < samples[0].ids.size(); ++i)
        if (!samples[0].trained[i]) out += surface({samples[0].ids[i]}, tok);
      return out;
    }();
    CHECK(untrained.find("You are terse.") != std::string::npos);
    CHECK(untrained.find("License") == std::string::npos);
    SECTION("train_on_inputs trains everything") {
      const auto all = t.samples(r, true);
      REQUIRE(all.size() == 1);
      CHECK(std::count(all[0].trained.begin(), all[0].trained.end(), uint8_t{1}) ==
            static_cast<std::ptrdiff_t>(all[0].ids.size()));
    }
  }
  SECTION("a template that rewrites earlier answers: one sample per answer") {
    const std::string jinja =
        "{% for m in messages %}{% if m['role'] == 'assistant' and not loop.last %}"
        "{{ '<|assistant|>\n[earlier]' + eos_token + '\n' }}"
        "{% else %}{{ '<|' + m['role'] + '|>\n' + m['content'] }}"
        "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\n' }}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}";
    const Tokenizer tok = with_template(dir, jinja);
    TemplateMasking m{};
    const auto samples = ModelTemplate(tok).samples(r, false, &m);
    CHECK(m == TemplateMasking::PerTurn);
    REQUIRE(samples.size() == 2);
    const auto first = trained_token_runs(samples[0], tok), second = trained_token_runs(samples[1], tok);
    REQUIRE(first.size() == 1);
    CHECK(has(first, 0, "License rights."));
    REQUIRE(second.size() == 1);
    CHECK(has(second, 0, "copies of the work."));
    CHECK(tok.decode(std::vector<int>(samples[1].ids.begin(), samples[1].ids.end())).find("[earlier]") !=
          std::string::npos);
  }
  SECTION("{% generation %} blocks mark the trained text") {
    const std::string jinja =
        "{% for m in messages %}{% if m['role'] == 'assistant' %}{{ '<|assistant|>\n' }}"
        "{% generation %}{{ m['content'] + eos_token }}{% endgeneration %}{{ '\n' }}"
        "{% else %}{{ '<|' + m['role'] + '|>\n' + m['content'] + '\n' }}{% endif %}{% endfor %}";
    const Tokenizer tok = with_template(dir, jinja);
    TemplateMasking m{};
    const auto samples = ModelTemplate(tok).samples(r, false, &m);
    CHECK(m == TemplateMasking::GenerationTags);
    REQUIRE(samples.size() == 1);
    const auto runs = trained_token_runs(samples[0], tok);
    REQUIRE(runs.size() == 2);
    CHECK(has(runs, 0, "License rights."));
    CHECK(has(runs, 1, "copies of the work.</s>"));
  }
  SECTION("the generation prompt is the rendering with add_generation_prompt") {
    const Tokenizer tok = with_template(dir, kTurns);
    const Record pc = pc_record("What is granted?", "ignored");
    CHECK(ModelTemplate(tok).generation_prompt(pc) == tok.encode("<|user|>\nWhat is granted?\n<|assistant|>\n", false));
  }
  SECTION("errors name the record") {
    const Tokenizer tok = with_template(
        dir, "{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system messages') }}{% endif %}" +
                 std::string(kTurns));
    const Error e = input_error([&] { ModelTemplate(tok).samples(r, false); });
    CHECK(contains(e.message(), "chats.jsonl:7"));
    CHECK(contains(e.message(), "no system messages"));
    Record first = r;
    first.messages = {{"assistant", "Hi."}, {"user", "Hello."}};
    const Tokenizer plain = with_template(dir, kTurns);
    CHECK(contains(input_error([&] { ModelTemplate(plain).samples(first, false); }).message(),
                   "starts with an assistant message"));
    // As Mistral's: the system message only in the last user turn, so the prompt is not a prefix once answered.
    const Tokenizer moving = with_template(
        dir, "{% for m in messages[1:] %}{% if m['role'] == 'user' %}[INST]{% if loop.last %}"
             "{{ messages[0]['content'] }} {% endif %}{{ m['content'] }}[/INST]{% else %}{{ m['content'] + eos_token }}"
             "{% endif %}{% endfor %}");
    const Error moved = input_error([&] { ModelTemplate(moving).samples(r, false); });
    CHECK(contains(moved.message(), "chats.jsonl:7"));
    CHECK(contains(moved.message(), "before message 3 (assistant)"));
    CHECK(contains(moved.message(), "cannot be told apart"));
    CHECK(contains(moved.hint(), "drop the system message"));
  }
  SECTION("user variables and the messages' other keys reach the template") {
    // As Qwen3's: reasoning_content rendered in a think block, enable_thinking=false closes it in the prompt.
    const std::string jinja =
        "{% for m in messages %}{{ '<|' + m['role'] + '|>\n' }}"
        "{% if m.reasoning_content is defined %}{{ '<think>' + m.reasoning_content + '</think>' }}{% endif %}"
        "{{ m['content'] }}{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}"
        "{% if enable_thinking is defined and enable_thinking is false %}{{ '<think></think>' }}{% endif %}"
        "{% endif %}";
    const Tokenizer tok = with_template(dir, jinja);
    Record thought = chat_record();
    thought.messages[2].extra = R"({"reasoning_content":"rights are granted"})";
    const auto runs = trained_token_runs(ModelTemplate(tok).samples(thought, false).at(0), tok);
    REQUIRE(runs.size() == 2);
    CHECK(has(runs, 0, "<think>rights are granted</think>License rights."));
    const Record pc = pc_record("Q?", "ignored");
    CHECK(ModelTemplate(tok).generation_prompt(pc) == tok.encode("<|user|>\nQ?\n<|assistant|>\n", false));
    CHECK(ModelTemplate(tok, {{"enable_thinking", "false"}}).generation_prompt(pc) ==
          tok.encode("<|user|>\nQ?\n<|assistant|>\n<think></think>", false));
    CHECK(ModelTemplate(tok, {{"enable_thinking", "true"}}).generation_prompt(pc) ==
          tok.encode("<|user|>\nQ?\n<|assistant|>\n", false));
    CHECK(PromptTemplate(kModelTemplate, tok, {{"enable_thinking", "false"}}).ids(pc) ==
          ModelTemplate(tok, {{"enable_thinking", "false"}}).generation_prompt(pc));
    CHECK(contains(input_error([&] { ModelTemplate t(tok, {{"eos_token", "\"x\""}}); }).message(),
                   "template variable 'eos_token' is set by loratune"));
    CHECK(contains(input_error([&] { ModelTemplate t(tok, {{"v", "not json"}}); }).message(), "is not a JSON value"));
  }
  SECTION("a model without a template") {
    CHECK(contains(input_error([&] { ModelTemplate t(trained_tokenizer()); }).message(), "no chat template"));
  }
}

TEST_CASE("prompt templates: a built-in's generation prompt as ids", "[data]") {
  const Tokenizer& tok = trained_tokenizer();
  const Record pc = pc_record("What is granted?", "ignored");
  CHECK(PromptTemplate("chatml", tok).ids(pc) ==
        tokenize(render_generation_prompt("chatml", pc, tok.special().add_bos), tok, pc, "chatml").ids);
  CHECK(PromptTemplate("chatml", tok).name() == "chatml");
  CHECK(contains(input_error([&] { PromptTemplate("nope", tok).ids(pc); }).message(), "nope"));
}
