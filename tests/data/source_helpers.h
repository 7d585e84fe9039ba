// Helpers shared by the tests of the prepare readers (test_inputs, test_records, test_text_split,
// test_sources): reading every record of some files, and the message of an expected input error.
#pragma once
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/sources.h"
#include "test_util.h"

// The tests say `using namespace reader_test;`.
namespace reader_test {

using lt_test::TempDir;
using lt_test::write_file;
using loratune::data::Record;
using loratune::data::RecordReader;
using loratune::data::SourceOptions;

inline std::vector<Record> read_all(const std::vector<std::string>& files, const SourceOptions& opts = {}) {
  RecordReader reader(files, opts);
  std::vector<Record> out;
  Record r;
  while (reader.next(r)) out.push_back(r);
  return out;
}

// The message of the loratune::Error (exit 2) that fn throws; fails the test if it throws nothing.
template <typename Fn>
inline std::string input_error(Fn&& fn) {
  try {
    fn();
  } catch (const loratune::Error& e) {
    CHECK(e.kind() == loratune::ExitCode::Usage);
    return e.message();
  }
  FAIL("expected an input error");
  return {};
}

inline std::string read_error(const std::string& file, const SourceOptions& opts = {}) {
  return input_error([&] { read_all({file}, opts); });
}

inline std::string write(const TempDir& dir, const std::string& name, const std::string& contents) {
  std::string path = dir.file(name);
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  write_file(path, contents);
  return path;
}

}  // namespace reader_test
