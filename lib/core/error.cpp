#include "core/error.h"

namespace loratune {

Error::Error(ExitCode kind, std::string message, std::string hint)
    : std::runtime_error(message), kind_(kind), message_(std::move(message)), hint_(std::move(hint)) {}

void fail_input(const std::string& message, const std::string& hint) {
  throw Error(ExitCode::Usage, message, hint);
}

void fail_runtime(const std::string& message, const std::string& hint) {
  throw Error(ExitCode::Runtime, message, hint);
}

void fail_internal(const char* file, int line, const std::string& what) {
  throw Error(ExitCode::Runtime,
              std::string("internal error at ") + file + ":" + std::to_string(line) + ": " + what,
              "this is a bug in loratune; please report it with the command that triggered it");
}

}  // namespace loratune
