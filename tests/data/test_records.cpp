// Per-format record parsing (data/records.h), through the RecordReader: fields and format detection.
#include <nlohmann/json.hpp>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "source_helpers.h"

using namespace loratune::data;
using namespace reader_test;

TEST_CASE("each JSONL format is parsed into its Record fields", "[data]") {
  TempDir dir("lt-src");

  SECTION("text") {
    auto recs = read_all({write(dir, "t.jsonl", "{\"text\": \"Article 1. Scope\", \"id\": 7}\n")});
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].format == Format::Text);
    CHECK(recs[0].text == "Article 1. Scope");
    CHECK(recs[0].line == 1);
    CHECK(recs[0].source == dir.file("t.jsonl"));
  }
  SECTION("prompt/completion (empty prompt allowed)") {
    auto recs = read_all({write(dir, "pc.jsonl",
                                "{\"prompt\": \"Q: term?\", \"completion\": \" A: 5 years\"}\n"
                                "{\"prompt\": \"\", \"completion\": \"only\"}\n")});
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].format == Format::PromptCompletion);
    CHECK(recs[0].prompt == "Q: term?");
    CHECK(recs[0].completion == " A: 5 years");
    CHECK(recs[1].prompt.empty());
    CHECK(recs[1].line == 2);
  }
  SECTION("alpaca, with and without input") {
    auto recs = read_all({write(dir, "a.jsonl",
                                "{\"instruction\": \"Summarise\", \"input\": \"Long text\", \"output\": \"Short\"}\n"
                                "{\"instruction\": \"Define tort\", \"output\": \"A civil wrong\"}\n")});
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].format == Format::Alpaca);
    CHECK(recs[0].instruction == "Summarise");
    CHECK(recs[0].input == "Long text");
    CHECK(recs[0].output == "Short");
    CHECK(recs[1].input.empty());
    CHECK(recs[1].output == "A civil wrong");
  }
  SECTION("chat") {
    auto recs = read_all({write(dir, "c.jsonl",
                                R"({"messages": [{"role": "system", "content": "Be brief."},)"
                                R"( {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello",)"
                                R"( "reasoning_content": "greet back", "tool_calls": [{"name": "f"}]}]})"
                                "\n")});
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].format == Format::Chat);
    REQUIRE(recs[0].messages.size() == 3);
    CHECK(recs[0].messages[0].role == "system");
    CHECK(recs[0].messages[0].content == "Be brief.");
    CHECK(recs[0].messages[2].role == "assistant");
    CHECK(recs[0].messages[2].content == "Hello");
    // The other keys are kept for the model's template, as JSON.
    CHECK(recs[0].messages[0].extra.empty());
    CHECK(nlohmann::json::parse(recs[0].messages[2].extra) ==
          nlohmann::json::parse(R"({"reasoning_content": "greet back", "tool_calls": [{"name": "f"}]})"));
  }
  SECTION("pre-tokenized: plain, labels, mask") {
    auto recs = read_all({write(dir, "tok.jsonl",
                                "{\"input_ids\": [1, 5, 9]}\n"
                                "{\"input_ids\": [1, 5, 9], \"labels\": [-100, 5, 9]}\n"
                                "{\"input_ids\": [1, 5, 9], \"mask\": [0, 0, 1]}\n")});
    REQUIRE(recs.size() == 3);
    CHECK(recs[0].format == Format::Tokens);
    CHECK(recs[0].input_ids == std::vector<int32_t>{1, 5, 9});
    CHECK(recs[0].trained == std::vector<uint8_t>{1, 1, 1});
    CHECK(recs[1].trained == std::vector<uint8_t>{0, 1, 1});
    CHECK(recs[2].trained == std::vector<uint8_t>{0, 0, 1});
  }
  SECTION("blank lines, CRLF line ends and a BOM are tolerated; line numbers stay true") {
    auto recs = read_all({write(dir, "crlf.jsonl", "\xEF\xBB\xBF{\"text\": \"a\"}\r\n\r\n  \n{\"text\": \"b\"}\r\n")});
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].text == "a");
    CHECK(recs[1].text == "b");
    CHECK(recs[1].line == 4);
  }
}

TEST_CASE("formats are detected per file from the first valid record, or forced", "[data]") {
  TempDir dir("lt-src");
  auto chat = write(dir, "chat.jsonl",
                    R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "text": "x"})"
                    "\n");
  auto pc = write(dir, "pc.jsonl", "not json\n{\"prompt\": \"p\", \"completion\": \"c\", \"text\": \"t\"}\n");
  auto text = write(dir, "doc.md", "# Title\n\nBody\n");

  SECTION("auto-detection per file; key precedence; stats per file") {
    SourceOptions opts;
    opts.skip_invalid = true;
    RecordReader reader({chat, pc, text}, opts);
    std::vector<Record> recs;
    Record r;
    while (reader.next(r)) recs.push_back(r);
    REQUIRE(recs.size() == 3);
    CHECK(recs[0].format == Format::Chat);  // "messages" wins over "text"
    CHECK(recs[1].format == Format::PromptCompletion);
    CHECK(recs[1].line == 2);  // line 1 is invalid and does not decide the format
    CHECK(recs[2].format == Format::Text);
    CHECK(recs[2].text == "# Title\n\nBody");
    const auto& st = reader.stats();
    REQUIRE(st.size() == 3);
    CHECK(st[0].source == chat);
    CHECK(st[0].format == Format::Chat);
    CHECK(st[0].records == 1);
    CHECK(st[1].format == Format::PromptCompletion);
    CHECK(st[1].records == 1);
    CHECK(st[1].invalid == 1);
    CHECK(st[1].bytes == std::filesystem::file_size(pc));
    CHECK(st[2].format == Format::Text);
  }
  SECTION("a later record of another shape is invalid and names the line that set the format") {
    auto f = write(dir, "mixed.jsonl", "{\"prompt\": \"p\", \"completion\": \"c\"}\n{\"text\": \"t\"}\n");
    CHECK(read_error(f) == f + ":2: expected a prompt/completion record like line 1: missing fields \"prompt\", "
                               "\"completion\"; this looks like a text record");
  }
  SECTION("forced format reads the fitting keys and ignores the rest") {
    SourceOptions opts;
    opts.forced_format = Format::Text;
    opts.skip_invalid = true;  // line 1 of pc.jsonl is not JSON
    auto recs = read_all({pc}, opts);
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].format == Format::Text);
    CHECK(recs[0].text == "t");
  }
  SECTION("forced format: every record must fit it") {
    SourceOptions opts;
    opts.forced_format = Format::Alpaca;
    auto f = write(dir, "t.jsonl", "{\"text\": \"t\"}\n");
    CHECK(read_error(f, opts) ==
          f + ":1: expected an alpaca record ({opt:format} alpaca): missing fields \"instruction\", \"output\"; this looks like "
              "a text record");
  }
  SECTION("a forced non-text format cannot read .txt/.md files") {
    SourceOptions opts;
    opts.forced_format = Format::Chat;
    auto msg = input_error([&] { RecordReader r({text}, opts); });
    CHECK_THAT(msg, Catch::StartsWith(text + ": .txt/.md files hold raw text, but {opt:format} chat"));
  }
}
