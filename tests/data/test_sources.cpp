// The RecordReader of `loratune prepare` (data/sources.h): bad input (fail or skip), unreadable files,
// streaming. Per-format parsing is in test_records.cpp, text splitting in test_text_split.cpp, input
// discovery in test_inputs.cpp.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "source_helpers.h"

using namespace loratune::data;
using namespace reader_test;

namespace {

int64_t rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      int64_t kb = 0;
      in >> kb;
      return kb;
    }
    std::getline(in, key);
  }
  return -1;
}

}  // namespace

namespace {

struct BadCase {
  std::string name;      // file name (the extension picks the reader)
  std::string contents;
  int64_t line;          // expected line (0: whole file)
  std::string problem;   // expected substring of the problem
  SourceOptions opts = {};
};

std::vector<BadCase> bad_cases() {
  const std::string ok_pc = "{\"prompt\": \"p\", \"completion\": \"c\"}\n";
  const std::string ok_chat = R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})" "\n";
  SourceOptions vocab;
  vocab.vocab_size = 100;
  return {
      {"utf8.jsonl", ok_pc + "{\"prompt\": \"p\xC3\x28\", \"completion\": \"c\"}\n" + ok_pc, 2,
       "invalid UTF-8 (byte 0xC3 at column 14)"},
      {"json.jsonl", ok_pc + "\n{\"prompt\": \"p\", \"completion\": }\n" + ok_pc, 3, "invalid JSON at column"},
      {"trunc.jsonl", ok_pc + "{\"prompt\": \"p\"\n", 2, "invalid JSON"},
      {"array.jsonl", ok_pc + "[1, 2]\n" + ok_pc, 2, "expected a JSON object, got array"},
      {"missing.jsonl", ok_pc + "{\"prompt\": \"p\"}\n" + ok_pc, 2, "missing field \"completion\""},
      {"type.jsonl", "{\"prompt\": \"p\", \"completion\": 5}\n" + ok_pc, 1, "completion must be a string, got number"},
      {"prompttype.jsonl", ok_pc + "{\"prompt\": null, \"completion\": \"c\"}\n", 2, "prompt must be a string, got null"},
      {"emptytext.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"  \"}\n{\"text\": \"ok\"}\n", 2, "text is empty"},
      {"emptycompl.jsonl", ok_pc + "{\"prompt\": \"p\", \"completion\": \"\"}\n", 2, "completion is empty"},
      {"emptyout.jsonl", "{\"instruction\": \"i\", \"output\": \"\"}\n", 1, "output is empty"},
      {"inputtype.jsonl", "{\"instruction\": \"i\", \"input\": 3, \"output\": \"o\"}\n", 1,
       "input must be a string, got number"},
      {"shape.jsonl", "{\"promt\": \"p\", \"completion\": \"c\"}\n", 1,
       "not a known record shape: expected {\"text\": ...}"},
      {"shape2.jsonl", "{\"promt\": \"p\", \"answer\": \"c\"}\n", 1, "(did you mean \"prompt\" for \"promt\"?)"},
      {"chatarr.jsonl", ok_chat + "{\"messages\": \"hi\"}\n", 2, "messages must be an array of {\"role\""},
      {"chatempty.jsonl", "{\"messages\": []}\n" + ok_chat, 1, "messages is empty"},
      {"chatobj.jsonl", ok_chat + "{\"messages\": [\"hi\"]}\n", 2, "messages[0] must be a {\"role\""},
      {"chatrole.jsonl", ok_chat + R"({"messages": [{"role": "user", "content": "q"}, {"role": "asistant", "content": "a"}]})" "\n",
       2, "messages[1].role: unknown role \"asistant\" (did you mean 'assistant'?)"},
      {"chatnorole.jsonl", R"({"messages": [{"content": "q"}]})" "\n", 1, "missing field \"messages[0].role\""},
      {"chatcontent.jsonl", R"({"messages": [{"role": "user", "content": ["q"]}]})" "\n", 1,
       "messages[0].content must be a string, got array"},
      {"chatnoasst.jsonl", R"({"messages": [{"role": "user", "content": "q"}]})" "\n", 1, "has no assistant message"},
      {"chatasstempty.jsonl", R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]})" "\n",
       1, "messages[1].content is empty"},
      {"tokempty.jsonl", "{\"input_ids\": []}\n", 1, "input_ids is empty"},
      {"tokneg.jsonl", "{\"input_ids\": [1, -2]}\n", 1, "input_ids[1] = -2 is negative"},
      {"tokfloat.jsonl", "{\"input_ids\": [1, 2.5]}\n", 1, "input_ids[1] must be a non-negative integer, got 2.5"},
      {"tokstr.jsonl", "{\"input_ids\": \"1 2\"}\n", 1, "input_ids must be an array of token ids, got string"},
      {"tokvocab.jsonl", "{\"input_ids\": [1, 2]}\n{\"input_ids\": [1, 100]}\n", 2,
       "input_ids[1] = 100 is not below the vocabulary size 100", vocab},
      {"toklablen.jsonl", "{\"input_ids\": [1, 2], \"labels\": [1]}\n", 1,
       "labels has 1 entries but input_ids has 2"},
      {"toklabval.jsonl", "{\"input_ids\": [1, 2, 3], \"labels\": [2, 3, -100]}\n", 1,
       "labels[0] = 2 must be -100 or equal to input_ids[0] = 1"},
      {"tokmask.jsonl", "{\"input_ids\": [1, 2], \"mask\": [1, 2]}\n", 1, "mask[1] must be 0 or 1, got 2"},
      {"tokboth.jsonl", "{\"input_ids\": [1, 2], \"mask\": [1, 1], \"labels\": [1, 2]}\n", 1,
       "either \"labels\" or \"mask\""},
      {"tokall.jsonl", "{\"input_ids\": [1, 2], \"labels\": [-100, -100]}\n", 1, "nothing to train on"},
      {"nul.jsonl", ok_pc + std::string("{\"prompt\": \"a\0b\"}\n", 18), 2, "binary file (NUL byte)"},
      {"empty.jsonl", "", 0, "file is empty"},
      {"blank.jsonl", "\n  \n\r\n", 0, "file is empty"},
      {"empty.txt", " \n\n", 0, "file is empty"},
      {"binary.txt", std::string("line\nPK\x03\x04\0\0", 11), 2, "binary file (NUL byte): expected UTF-8 text"},
      {"latin1.md", "ok\nna\xEFve\n", 2, "invalid UTF-8 (byte 0xEF at column 3)"},
  };
}

}  // namespace

TEST_CASE("every bad-input class names file:line (fail) or is listed (skip)", "[data]") {
  TempDir dir("lt-src");
  for (const auto& c : bad_cases()) {
    DYNAMIC_SECTION(c.name) {
      auto f = write(dir, c.name, c.contents);
      const std::string where = c.line > 0 ? f + ":" + std::to_string(c.line) + ": " : f + ": ";

      // Fail mode: the first invalid record stops the run; the message names file:line and the problem.
      std::string msg = read_error(f, c.opts);
      CHECK_THAT(msg, Catch::StartsWith(where));
      CHECK_THAT(msg, Catch::Contains(c.problem));

      // Skip mode: listed and counted; the valid records around it are still read.
      SourceOptions skip = c.opts;
      skip.skip_invalid = true;
      RecordReader reader({f}, skip);
      int64_t valid = 0;
      Record r;
      while (reader.next(r)) ++valid;
      REQUIRE(reader.invalid().size() == 1);
      CHECK(reader.invalid()[0].source == f);
      CHECK(reader.invalid()[0].line == c.line);
      CHECK_THAT(reader.invalid()[0].problem, Catch::Contains(c.problem));
      REQUIRE(reader.stats().size() == 1);
      CHECK(reader.stats()[0].invalid == 1);
      CHECK(reader.stats()[0].records == valid);
    }
  }
}

TEST_CASE("skip mode keeps reading past invalid records and files", "[data]") {
  TempDir dir("lt-src");
  auto a = write(dir, "a.jsonl", "{\"text\": \"one\"}\n{oops\n{\"text\": 3}\n{\"text\": \"two\"}\n");
  auto empty = write(dir, "b.jsonl", "");
  auto c = write(dir, "c.txt", "three");
  SourceOptions opts;
  opts.skip_invalid = true;
  RecordReader reader({a, empty, c}, opts);
  std::vector<std::string> texts;
  Record r;
  while (reader.next(r)) texts.push_back(r.text);
  CHECK(texts == std::vector<std::string>{"one", "two", "three"});
  REQUIRE(reader.invalid().size() == 3);
  CHECK(reader.invalid()[0].line == 2);
  CHECK(reader.invalid()[1].line == 3);
  CHECK(reader.invalid()[2].source == empty);
  CHECK(reader.invalid()[2].line == 0);
  CHECK(reader.stats()[0].records == 2);
  CHECK(reader.stats()[0].invalid == 2);
  CHECK(reader.stats()[1].invalid == 1);
  CHECK(reader.stats()[2].records == 1);
  CHECK_FALSE(reader.next(r));  // stays at the end
}

TEST_CASE("files that cannot be read are refused by name", "[data]") {
  TempDir dir("lt-src");
  CHECK_THAT(input_error([&] { RecordReader r({dir.file("gone.jsonl")}, {}); }),
             Catch::StartsWith(dir.file("gone.jsonl") + ": cannot read"));
  auto csv = write(dir, "x.csv", "a,b\n");
  CHECK_THAT(input_error([&] { RecordReader r({csv}, {}); }), Catch::Contains("unsupported file type \".csv\""));
  if (::geteuid() != 0) {  // root reads everything
    auto locked = write(dir, "locked.jsonl", "{\"text\": \"x\"}\n");
    std::filesystem::permissions(locked, std::filesystem::perms::none);
    CHECK_THAT(read_error(locked), Catch::StartsWith(locked + ": cannot open"));
  }
}


TEST_CASE("JSONL is streamed: memory does not grow with the file", "[data]") {
  TempDir dir("lt-src");
  const std::string path = dir.file("big.jsonl");
  {
    // ~50 MB of prompt/completion records, written line by line (never held in memory).
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    const std::string filler(180, 'x');
    for (int i = 0; i < 230000; ++i)
      std::fprintf(f, "{\"prompt\": \"question %d\", \"completion\": \"%s\"}\n", i, filler.c_str());
    std::fclose(f);
  }
  REQUIRE(std::filesystem::file_size(path) > 45u * 1000 * 1000);
  const int64_t before = rss_kb();
  REQUIRE(before > 0);
  RecordReader reader({path}, {});
  Record r;
  int64_t n = 0;
  uint64_t chars = 0;
  while (reader.next(r)) {
    ++n;
    chars += r.completion.size();
  }
  const int64_t growth_kb = rss_kb() - before;
  CHECK(n == 230000);
  CHECK(chars == 230000u * 180);
  CHECK(reader.stats()[0].bytes == std::filesystem::file_size(path));
  INFO("RSS growth " << growth_kb << " kB");
#if defined(__SANITIZE_ADDRESS__)
  // ASan quarantines freed blocks instead of reusing them, so RSS tracks total allocation, not live memory.
  WARN("RSS bound not checked under AddressSanitizer (growth " << growth_kb << " kB)");
#else
  CHECK(growth_kb < 30 * 1024);
#endif
}
