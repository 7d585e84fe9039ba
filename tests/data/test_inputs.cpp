// Input discovery (data/inputs.h): expand_inputs over files, directories and globs.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "source_helpers.h"

using namespace loratune::data;
using namespace reader_test;

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
