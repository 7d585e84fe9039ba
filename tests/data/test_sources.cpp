// Input discovery (expand_inputs) and the record readers of `loratune prepare`.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/sources.h"
#include "test_util.h"

using namespace loratune::data;
using lt_test::TempDir;
using lt_test::write_file;

namespace {

std::vector<Record> read_all(const std::vector<std::string>& files, const SourceOptions& opts = {}) {
  RecordReader reader(files, opts);
  std::vector<Record> out;
  Record r;
  while (reader.next(r)) out.push_back(r);
  return out;
}

// The message of the loratune::Error (exit 2) that fn throws; fails the test if it throws nothing.
template <typename Fn>
std::string input_error(Fn&& fn) {
  try {
    fn();
  } catch (const loratune::Error& e) {
    CHECK(e.kind() == loratune::ExitCode::Usage);
    return e.message();
  }
  FAIL("expected an input error");
  return {};
}

std::string read_error(const std::string& file, const SourceOptions& opts = {}) {
  return input_error([&] { read_all({file}, opts); });
}

std::string write(const TempDir& dir, const std::string& name, const std::string& contents) {
  std::string path = dir.file(name);
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  write_file(path, contents);
  return path;
}

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
                                R"( {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})"
                                "\n")});
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].format == Format::Chat);
    REQUIRE(recs[0].messages.size() == 3);
    CHECK(recs[0].messages[0].role == "system");
    CHECK(recs[0].messages[0].content == "Be brief.");
    CHECK(recs[0].messages[2].role == "assistant");
    CHECK(recs[0].messages[2].content == "Hello");
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
          f + ":1: expected an alpaca record (--format alpaca): missing fields \"instruction\", \"output\"; this looks like "
              "a text record");
  }
  SECTION("a forced non-text format cannot read .txt/.md files") {
    SourceOptions opts;
    opts.forced_format = Format::Chat;
    auto msg = input_error([&] { RecordReader r({text}, opts); });
    CHECK_THAT(msg, Catch::StartsWith(text + ": .txt/.md files hold raw text, but --format chat"));
  }
}

TEST_CASE("text files are split into documents", "[data]") {
  TempDir dir("lt-src");
  SourceOptions opts;

  SECTION("none: one document per file, surrounding blank lines trimmed") {
    auto f = write(dir, "a.txt", "\n\n  Indented first line\nsecond\n\nthird\n\n");
    auto recs = read_all({f}, opts);
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].text == "  Indented first line\nsecond\n\nthird");
    CHECK(recs[0].line == 1);
    CHECK(recs[0].format == Format::Text);
  }
  SECTION("blank-line: one or more blank lines separate documents") {
    opts.text_split = "blank-line";
    auto f = write(dir, "a.txt", "\n\none\nstill one\n\n\n \t \ntwo\r\n\r\nthree");
    auto recs = read_all({f}, opts);
    REQUIRE(recs.size() == 3);
    CHECK(recs[0].text == "one\nstill one");
    CHECK(recs[1].text == "two");
    CHECK(recs[2].text == "three");
    CHECK(recs[2].line == 3);
  }
  SECTION("delimiter: a line equal to it separates; empty documents are skipped") {
    opts.text_split = "delimiter";
    opts.delimiter = "---";
    auto f = write(dir, "a.md", "one\n---\n---\n  \n---\ntwo\n----\nstill two\n---\r\nthree\n---\n");
    auto recs = read_all({f}, opts);
    REQUIRE(recs.size() == 3);
    CHECK(recs[0].text == "one");
    CHECK(recs[1].text == "two\n----\nstill two");
    CHECK(recs[2].text == "three");
    CHECK(recs[1].line == 2);
    CHECK(recs[2].line == 3);
  }
  SECTION("bad split options are refused") {
    auto f = write(dir, "a.txt", "x");
    opts.text_split = "blankline";
    CHECK_THAT(input_error([&] { RecordReader r({f}, opts); }),
               Catch::Contains("unknown text split mode \"blankline\"") && Catch::Contains("blank-line"));
    opts.text_split = "delimiter";
    CHECK_THAT(input_error([&] { RecordReader r({f}, opts); }), Catch::Contains("needs a one-line delimiter"));
  }
}

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

TEST_CASE("expand_inputs: directories, globs, missing paths, duplicates", "[data]") {
  TempDir dir("lt-src");
  const std::string root = dir.path();
  write(dir, "corpus/b.txt", "b");
  write(dir, "corpus/a.md", "a");
  write(dir, "corpus/sub/c.jsonl", "{\"text\": \"c\"}\n");
  write(dir, "corpus/sub/notes.csv", "x");
  write(dir, "corpus/.hidden/d.txt", "d");
  write(dir, "corpus/.e.txt", "e");
  std::filesystem::create_symlink(root + "/corpus/gone.txt", root + "/corpus/broken.txt");
  write(dir, "qa/1.jsonl", "{}\n");
  write(dir, "qa/2.jsonl", "{}\n");
  write(dir, "qa/readme.pdf", "x");
  std::filesystem::create_directories(root + "/nothing/deeper");
  write(dir, "nothing/deeper/x.json", "{}");

  SECTION("a directory tree: recursive, usable extensions only, hidden entries skipped, sorted") {
    auto files = expand_inputs({root + "/corpus"});
    CHECK(files == std::vector<std::string>{root + "/corpus/a.md", root + "/corpus/b.txt", root + "/corpus/sub/c.jsonl"});
  }
  SECTION("a glob, sorted; non-usable matches dropped; specs keep their order") {
    auto files = expand_inputs({root + "/qa/*", root + "/corpus/b.txt"});
    CHECK(files == std::vector<std::string>{root + "/qa/1.jsonl", root + "/qa/2.jsonl", root + "/corpus/b.txt"});
    CHECK(expand_inputs({root + "/qa/[2]*.jsonl"}) == std::vector<std::string>{root + "/qa/2.jsonl"});
  }
  SECTION("repeated inputs are read once, first occurrence kept") {
    auto files = expand_inputs({root + "/qa/2.jsonl", root + "/qa", root + "/qa/./1.jsonl", root + "/qa/*.jsonl"});
    CHECK(files == std::vector<std::string>{root + "/qa/2.jsonl", root + "/qa/1.jsonl"});
  }
  SECTION("missing path, empty glob, directory without usable files, unsupported file") {
    CHECK_THAT(input_error([&] { expand_inputs({root + "/qa", root + "/missing.jsonl"}); }),
               Catch::StartsWith(root + "/missing.jsonl: no such file or directory"));
    CHECK_THAT(input_error([&] { expand_inputs({root + "/qa/*.txt"}); }),
               Catch::StartsWith(root + "/qa/*.txt: no files match this pattern"));
    CHECK_THAT(input_error([&] { expand_inputs({root + "/qa/*.pdf"}); }),
               Catch::StartsWith(root + "/qa/*.pdf: the pattern matches no .txt, .md, .jsonl files"));
    CHECK_THAT(input_error([&] { expand_inputs({root + "/nothing"}); }),
               Catch::StartsWith(root + "/nothing: directory contains no .txt, .md, .jsonl files"));
    CHECK_THAT(input_error([&] { expand_inputs({root + "/qa/readme.pdf"}); }),
               Catch::StartsWith(root + "/qa/readme.pdf: unsupported file type \".pdf\""));
    CHECK_THAT(input_error([&] { expand_inputs({}); }), Catch::Contains("no input files"));
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
