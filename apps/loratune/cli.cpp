#include "cli.h"
#include "options.h"

#include <iostream>

#include "core/log.h"
#include "core/strings.h"
#include "model/device.h"

namespace loratune::cli {

CLI::Option* add_config_flag(CLI::App& app, GlobalOptions& g, const std::string& flag, const std::string& key,
                             const std::string& description) {
  auto* sets = &g.flag_sets;
  return app
      .add_option_function<std::string>(
          flag, [sets, key](const std::string& v) { sets->push_back(key + "=" + v); },
          description + " [config: " + key + "]")
      ->type_name("VALUE")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a repeated flag: the last one wins
}

Config resolve_config(const GlobalOptions& g, Config base) {
  Config cfg = std::move(base);
  if (!g.config_file.empty()) apply_config_file(cfg, g.config_file);
  for (const auto& s : g.sets) apply_override(cfg, s, "--set");
  for (const auto& s : g.flag_sets) apply_override(cfg, s, "command-line flag");
  validate_config(cfg);
  check_options(cfg);
  log::set_level(log_level(cfg));
  set_compute_threads(cfg.runtime.threads);
  return cfg;
}

bool maybe_print_config(const GlobalOptions& g, const Config& cfg) {
  if (!g.print_config) return false;
  std::cout << config_to_json(cfg) << std::endl;
  return true;
}

}  // namespace loratune::cli
