// loratune::Error: the one exception type library code throws. It carries the message, a hint that
// says what to do, and a kind that main() maps to the documented exit code.
#pragma once
#include <stdexcept>
#include <string>

namespace loratune {

// Exit codes (documented in README "Exit codes").
enum class ExitCode : int {
  Ok = 0,
  Runtime = 1,      // a runtime failure (I/O error, numerical failure, verification failed)
  Usage = 2,        // bad usage, config or input data: the user can fix the command or the files
  GateFailed = 3,   // an eval gate failed
  Interrupted = 130 // SIGINT/SIGTERM
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode kind, std::string message, std::string hint = {});
  ExitCode kind() const { return kind_; }
  const std::string& hint() const { return hint_; }
  const std::string& message() const { return message_; }

 private:
  ExitCode kind_;
  std::string message_;
  std::string hint_;
};

// Options in messages and hints. The library names an option as "{opt:NAME}" (NAME = the option's name in
// the typed options, e.g. {opt:force}, {opt:val_fraction}) and never a front end's spelling of it; the front
// end renders each reference (the CLI as its flag, "--force"). render_options with no renderer writes NAME.
std::string render_options(const std::string& text, std::string (*render)(const std::string& name) = nullptr);

// Input/usage/config error (exit 2): the user can fix it.
[[noreturn]] void fail_input(const std::string& message, const std::string& hint = {});
// Runtime failure (exit 1).
[[noreturn]] void fail_runtime(const std::string& message, const std::string& hint = {});
// Internal invariant violated: a bug in loratune, reported with file:line (exit 1).
[[noreturn]] void fail_internal(const char* file, int line, const std::string& what);

}  // namespace loratune

// Internal invariant check that survives Release builds (unlike assert). For user input, use
// fail_input with a message naming the file/key instead.
#define LT_CHECK(cond, what)                                                  \
  do {                                                                        \
    if (!(cond)) ::loratune::fail_internal(__FILE__, __LINE__, (what));       \
  } while (0)
