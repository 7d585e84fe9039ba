#include "core/log.h"

#include <atomic>
#include <iostream>
#include <mutex>

#include "core/error.h"

namespace loratune::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::mutex g_mutex;
}  // namespace

void set_level(Level l) { g_level = static_cast<int>(l); }
Level level() { return static_cast<Level>(g_level.load()); }

Level parse_level(const std::string& name) {
  if (name == "debug") return Level::Debug;
  if (name == "info") return Level::Info;
  if (name == "warn" || name == "warning") return Level::Warn;
  if (name == "error") return Level::Error;
  if (name == "quiet") return Level::Quiet;
  fail_input("unknown log level '" + name + "'", "use one of: debug, info, warn, error, quiet");
}

void write(Level l, const std::string& message) {
  if (static_cast<int>(l) < g_level.load()) return;
  static const char* names[] = {"debug", "info", "warn", "error"};
  std::lock_guard<std::mutex> lock(g_mutex);
  std::cerr << "[" << names[static_cast<int>(l)] << "] " << message << "\n";
}

}  // namespace loratune::log
