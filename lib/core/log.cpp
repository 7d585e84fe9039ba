#include "core/log.h"

#include <atomic>
#include <iostream>
#include <mutex>

#include "core/enum_table.h"

namespace loratune::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::mutex g_mutex;
constexpr EnumTable<Level, 5> kLevels{{{Level::Debug, "debug"},
                                       {Level::Info, "info"},
                                       {Level::Warn, "warn"},
                                       {Level::Error, "error"},
                                       {Level::Quiet, "quiet"}}};
}  // namespace

void set_level(Level l) { g_level = static_cast<int>(l); }
Level level() { return static_cast<Level>(g_level.load()); }

std::optional<Level> parse_level(const std::string& name) { return enum_parse(kLevels, name); }
std::vector<std::string> level_names() { return enum_names(kLevels); }

void write(Level l, const std::string& message) {
  if (static_cast<int>(l) < g_level.load()) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  std::cerr << "[" << enum_name(kLevels, l) << "] " << message << "\n";
}

}  // namespace loratune::log
