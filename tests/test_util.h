// Shared helpers for the Catch2 tests: temp dirs, fixture paths, running the real binary.
#pragma once
#include <functional>
#include <string>

namespace lt_test {

std::string fixture(const std::string& rel);  // tests/fixtures/<rel>

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "lt");
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct RunResult {
  int code = -1;
  std::string out, err;
};
// Runs the loratune binary with `args` (a shell-quoted string); stdin is /dev/null.
RunResult run_loratune(const std::string& args);
std::string shell_quote(const std::string& s);
void write_file(const std::string& path, const std::string& contents);
std::string read_file(const std::string& path);

// Runs fn, which must throw a loratune input error (exit 2); returns "message\nhint" (a test failure otherwise).
std::string input_error(const std::function<void()>& fn);

}  // namespace lt_test
