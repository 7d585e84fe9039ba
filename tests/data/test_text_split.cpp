// Splitting .txt/.md files into documents (data/text_split.h), through the RecordReader.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "source_helpers.h"

using namespace loratune::data;
using namespace reader_test;

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
    opts.text_split = TextSplit::BlankLine;
    auto f = write(dir, "a.txt", "\n\none\nstill one\n\n\n \t \ntwo\r\n\r\nthree");
    auto recs = read_all({f}, opts);
    REQUIRE(recs.size() == 3);
    CHECK(recs[0].text == "one\nstill one");
    CHECK(recs[1].text == "two");
    CHECK(recs[2].text == "three");
    CHECK(recs[2].line == 3);
  }
  SECTION("delimiter: a line equal to it separates; empty documents are skipped") {
    opts.text_split = TextSplit::Delimiter;
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
    CHECK_FALSE(parse_text_split("blankline").has_value());
    CHECK(parse_text_split("blank-line") == TextSplit::BlankLine);
    CHECK(text_split_names() == std::vector<std::string>{"none", "blank-line", "delimiter"});
    opts.text_split = TextSplit::Delimiter;
    CHECK_THAT(input_error([&] { RecordReader r({f}, opts); }), Catch::Contains("needs a one-line delimiter"));
  }
}
