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

std::string render_options(const std::string& text, std::string (*render)(const std::string& name)) {
  static const std::string open = "{opt:";
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t at = text.find(open, pos);
    const size_t end = at == std::string::npos ? at : text.find('}', at);
    if (end == std::string::npos) {
      out.append(text, pos, std::string::npos);
      return out;
    }
    out.append(text, pos, at - pos);
    const std::string name = text.substr(at + open.size(), end - at - open.size());
    out += render ? render(name) : name;
    pos = end + 1;
  }
}

}  // namespace loratune
