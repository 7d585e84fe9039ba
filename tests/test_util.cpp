#include "test_util.h"

#include <catch2/catch.hpp>

#include "core/error.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace lt_test {
namespace fs = std::filesystem;

std::string fixture(const std::string& rel) { return std::string(LORATUNE_FIXTURES_DIR) + "/" + rel; }

TempDir::TempDir(const std::string& tag) {
  static std::atomic<int> counter{0};
  std::random_device rd;
  path_ = (fs::temp_directory_path() /
           (tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + std::to_string(rd())))
              .string();
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

void write_file(const std::string& path, const std::string& contents) {
  std::ofstream f(path, std::ios::binary);
  f << contents;
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

RunResult run_loratune(const std::string& args) {
  TempDir tmp("lt-run");
  std::string cmd = std::string(LORATUNE_BINARY) + " " + args + " </dev/null >" + tmp.file("out") + " 2>" +
                    tmp.file("err");
  int status = std::system(cmd.c_str());
  RunResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(tmp.file("out"));
  r.err = read_file(tmp.file("err"));
  return r;
}

std::string input_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const loratune::Error& e) {
    CHECK(e.kind() == loratune::ExitCode::Usage);
    return e.message() + "\n" + e.hint();
  }
  FAIL("expected an input error");
  return {};
}

}  // namespace lt_test
