// Minimal leveled logging to stderr. stdout is reserved for command output (and --json documents).
#pragma once
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace loratune::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3, Quiet = 4 };

void set_level(Level level);
Level level();
std::optional<Level> parse_level(const std::string& name);  // "debug|info|warn|error|quiet", else nullopt
std::vector<std::string> level_names();
void write(Level level, const std::string& message);

inline void debug(const std::string& m) { write(Level::Debug, m); }
inline void info(const std::string& m) { write(Level::Info, m); }
inline void warn(const std::string& m) { write(Level::Warn, m); }
inline void error(const std::string& m) { write(Level::Error, m); }

}  // namespace loratune::log
