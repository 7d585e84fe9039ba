// Shared plumbing of the loratune command line: global options, config resolution, subcommand registry.
// Each cmd_<name>.cpp turns flags into a plain options struct and makes one library call.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "config/config.h"

namespace loratune::cli {

struct GlobalOptions {
  std::string config_file;
  std::vector<std::string> sets;       // --set key=value, in order
  std::vector<std::string> flag_sets;  // dedicated flags (--device, --max-new-tokens, ...) as key=value
  std::vector<std::string> template_vars;  // --template-var NAME=VALUE, merged into data.template_vars
  bool print_config = false;
  bool json = false;
};

// Registers an option whose value becomes the override "key=value" (applied after --config and --set).
CLI::Option* add_config_flag(CLI::App& app, GlobalOptions& g, const std::string& flag, const std::string& key,
                             const std::string& description);

// --template-var NAME=VALUE (repeatable): one variable of the model's chat template, added to
// data.template_vars after every other override; VALUE is JSON when it parses as JSON, else a string.
void add_template_var_flag(CLI::App& app, GlobalOptions& g);

// base (defaults, or a run's config) -> --config -> --set -> flags; validates; applies runtime settings
// (threads, log level).
Config resolve_config(const GlobalOptions& g, Config base = {});

// Prints the resolved config and returns true when --print-config was given.
bool maybe_print_config(const GlobalOptions& g, const Config& cfg);

using Action = std::function<int()>;
// Each subcommand registers itself and sets `action` to what runs after a successful parse.
void register_init(CLI::App& app, GlobalOptions& g, Action& action);
void register_generate(CLI::App& app, GlobalOptions& g, Action& action);
void register_eval(CLI::App& app, GlobalOptions& g, Action& action);
void register_prepare(CLI::App& app, GlobalOptions& g, Action& action);
void register_finetune(CLI::App& app, GlobalOptions& g, Action& action);
void register_report(CLI::App& app, GlobalOptions& g, Action& action);
void register_export(CLI::App& app, GlobalOptions& g, Action& action);
void register_config(CLI::App& app, GlobalOptions& g, Action& action);
void register_tokenize(CLI::App& app, GlobalOptions& g, Action& action);

}  // namespace loratune::cli
