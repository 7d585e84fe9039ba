// `loratune config`: the resolved config, or the reference of every key.
#include <iostream>
#include <memory>

#include "cli.h"

namespace loratune::cli {

void register_config(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* sub = app.add_subcommand("config", "Print the resolved config (JSON) or the reference of every key");
  sub->fallthrough();
  auto schema = std::make_shared<bool>(false);
  sub->add_flag("--schema", *schema, "Print every config key with type, default and meaning (markdown)");
  sub->footer(
      "Examples:\n"
      "  loratune config                                   # defaults as JSON\n"
      "  loratune config --config job.json --set generate.top_k=40\n"
      "  loratune config --schema > docs/config.md");
  sub->callback([&g, &action, schema] {
    action = [&g, schema] {
      if (*schema) {
        std::cout << config_reference_markdown();
        return 0;
      }
      std::cout << config_to_json(resolve_config(g)) << std::endl;
      return 0;
    };
  });
}

}  // namespace loratune::cli
