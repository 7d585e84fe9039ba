// loratune: LoRA fine-tuning of small Llama-family models from one native binary.
// main() owns the command line and turns errors into the documented exit codes.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "core/error.h"
#include "core/log.h"
#include "core/signals.h"
#include "core/strings.h"

namespace lt = loratune;

namespace {
const char* kExitCodes =
    "Exit codes: 0 ok, 1 runtime failure, 2 usage/config/input error, 3 eval gate failed, 130 interrupted.";

void add_global_options(CLI::App& app, lt::cli::GlobalOptions& g) {
  auto* grp = "Global options (accepted before or after the subcommand)";
  app.add_option("--config", g.config_file, "JSON config file (see `loratune config --schema`)")
      ->group(grp)->check(CLI::ExistingFile);
  app.add_option("--set", g.sets, "Override a config key: --set section.key=value (repeatable)")
      ->group(grp)->take_all();
  app.add_flag("--print-config", g.print_config, "Print the resolved config as JSON and exit")->group(grp);
  app.add_flag("--json", g.json, "Machine-readable JSON on stdout (logs stay on stderr)")->group(grp);
  lt::cli::add_config_flag(app, g, "--device", "model.device", "auto | cpu | cuda | cuda:N")->group(grp);
  lt::cli::add_config_flag(app, g, "--dtype", "model.dtype", "Compute dtype: auto | fp32 | bf16 | fp16")->group(grp);
  lt::cli::add_config_flag(app, g, "--threads", "runtime.threads", "CPU threads (0 = all cores)")->group(grp);
  lt::cli::add_config_flag(app, g, "--seed", "runtime.seed", "Seed for everything random")->group(grp);
  lt::cli::add_config_flag(app, g, "--log-level", "runtime.log_level", "debug | info | warn | error | quiet")
      ->group(grp);
}

std::vector<std::string> all_option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* o : app.get_options())
    for (const auto& n : o->get_lnames()) names.push_back("--" + n);
  for (const CLI::App* sub : app.get_subcommands({}))
    for (const CLI::Option* o : sub->get_options())
      for (const auto& n : o->get_lnames()) names.push_back("--" + n);
  return names;
}

// "unknown argument" errors get a suggestion: the closest subcommand or option name.
std::string suggestion_for(const CLI::App& app, const std::vector<std::string>& extras) {
  std::vector<std::string> subs;
  for (const CLI::App* s : app.get_subcommands({})) subs.push_back(s->get_name());
  for (const auto& e : extras) {
    std::string word = e.substr(0, e.find('='));
    auto m = lt::starts_with(word, "-") ? lt::closest_match(word, all_option_names(app)) : lt::closest_match(word, subs);
    if (!m.empty()) return "did you mean '" + m + "'? See `loratune --help`.";
  }
  return "see `loratune --help` for the subcommands and options";
}

// The library names options as {opt:NAME}; on this command line NAME is the flag --NAME (with '-' for '_').
std::string flag_of(const std::string& name) {
  std::string f = "--" + name;
  for (char& c : f)
    if (c == '_') c = '-';
  return f;
}

int report_error(bool json, int code, const std::string& raw_message, const std::string& raw_hint) {
  const std::string message = lt::render_options(raw_message, flag_of);
  const std::string hint = lt::render_options(raw_hint, flag_of);
  std::cerr << "error: " << message << "\n";
  if (!hint.empty()) std::cerr << "hint: " << hint << "\n";
  if (json)
    std::cout << nlohmann::json{{"error", message}, {"hint", hint}, {"exit_code", code}}.dump() << std::endl;
  return code;
}
}  // namespace

int main(int argc, char** argv) {
  lt::install_signal_handlers();
  CLI::App app{"loratune: LoRA fine-tuning of small Llama-family models (llama, mistral, qwen2, qwen3) "
               "from one native binary.",
               "loratune"};
  app.set_version_flag("--version", std::string("loratune ") + LORATUNE_VERSION);
  app.footer(std::string("Run `loratune <subcommand> --help` for examples.\n") + kExitCodes);
  app.require_subcommand(1);
  app.fallthrough();

  lt::cli::GlobalOptions g;
  add_global_options(app, g);
  lt::cli::Action action;
  lt::cli::register_init(app, g, action);
  lt::cli::register_prepare(app, g, action);
  lt::cli::register_finetune(app, g, action);
  lt::cli::register_generate(app, g, action);
  lt::cli::register_eval(app, g, action);
  lt::cli::register_export(app, g, action);
  lt::cli::register_report(app, g, action);
  lt::cli::register_config(app, g, action);
  lt::cli::register_tokenize(app, g, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::cout << e.what() << "\n";
    return 0;
  } catch (const CLI::ExtrasError& e) {
    std::vector<std::string> extras = app.remaining();
    for (const CLI::App* s : app.get_subcommands())
      for (const auto& r : s->remaining()) extras.push_back(r);
    return report_error(g.json, 2, e.what(), suggestion_for(app, extras));
  } catch (const CLI::RequiredError& e) {
    // A mistyped subcommand arrives as "a subcommand is required" with the word left over.
    if (!app.remaining().empty())
      return report_error(g.json, 2, "unknown subcommand '" + app.remaining().front() + "'",
                          suggestion_for(app, app.remaining()));
    return report_error(g.json, 2, e.what(), "see `loratune --help`");
  } catch (const CLI::ParseError& e) {
    // Help requested on a subcommand arrives here as a CallForHelp from that subcommand.
    if (e.get_exit_code() == 0) {
      std::cout << e.what() << "\n";
      return 0;
    }
    return report_error(g.json, 2, e.what(), suggestion_for(app, app.remaining()));
  } catch (const lt::Error& e) {
    return report_error(g.json, static_cast<int>(e.kind()), e.message(), e.hint());
  }

  try {
    return action ? action() : 0;
  } catch (const lt::Error& e) {
    return report_error(g.json, static_cast<int>(e.kind()), e.message(), e.hint());
  } catch (const c10::Error& e) {
    return report_error(g.json, 1, std::string("LibTorch: ") + e.what_without_backtrace(),
                        "this may be a bug in loratune; please report it with the command line");
  } catch (const std::exception& e) {
    return report_error(g.json, 1, e.what(), "");
  }
}
