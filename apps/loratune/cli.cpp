#include "cli.h"
#include "options.h"

#include <iostream>
#include <nlohmann/json.hpp>

#include "core/error.h"
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

void add_template_var_flag(CLI::App& app, GlobalOptions& g) {
  app.add_option("--template-var", g.template_vars,
                 "A variable of the model's chat template, NAME=VALUE (repeatable; VALUE is JSON when it parses, "
                 "else a string), e.g. enable_thinking=false [config: data.template_vars]")
      ->type_name("NAME=VALUE");
}

namespace {
void apply_template_vars(Config& cfg, const std::vector<std::string>& vars) {
  for (const std::string& kv : vars) {
    const size_t eq = kv.find('=');
    const std::string name = eq == std::string::npos ? std::string() : trim(kv.substr(0, eq));
    if (name.empty())
      fail_input("--template-var '" + kv + "': expected NAME=VALUE", "e.g. --template-var enable_thinking=false");
    const std::string value = kv.substr(eq + 1);
    const nlohmann::json j = nlohmann::json::parse(value, nullptr, false);
    cfg.data.template_vars[name] = j.is_discarded() ? nlohmann::json(value).dump() : j.dump();
  }
}
}  // namespace

Config resolve_config(const GlobalOptions& g, Config base) {
  Config cfg = std::move(base);
  if (!g.config_file.empty()) apply_config_file(cfg, g.config_file);
  for (const auto& s : g.sets) apply_override(cfg, s, "--set");
  for (const auto& s : g.flag_sets) apply_override(cfg, s, "command-line flag");
  apply_template_vars(cfg, g.template_vars);
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
