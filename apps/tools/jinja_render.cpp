// loratune-jinja: a test-side tool for tests/reference/test_chat_templates.py. Parses a chat template file
// once and renders it for every line of a JSONL file of contexts, writing one line per context:
//   a JSON string (the rendered text), or {"text": ..., "generation": [[begin, end], ...]} with --spans
//   (byte ranges), or {"error": message, "raised": true|false, "template_message": ...} when rendering fails.
// Each context is {"messages": [...], "add_generation_prompt": ..., ...}; it goes through
// ChatTemplate::chat_context (transformers' defaults and reasoning aliases) unless --raw is given; a
// "continue_final_message" key (true or a field name) renders with ChatTemplate::render_continuing.
// A template that does not parse is reported on stderr with exit code 2.
//
//   loratune-jinja --template chat_template.jinja --contexts contexts.jsonl [--out rendered.jsonl] [--spans]
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "tokenizer/chat_template.h"

namespace {

std::string dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Renders a chat template for each context of a JSONL file (test-side tool)"};
  std::string tpl_path, contexts_path, out_path;
  bool raw = false, spans = false;
  app.add_option("--template", tpl_path, "Chat template file (Jinja source)")->required();
  app.add_option("--contexts", contexts_path, "JSONL file: one object of template variables per line")
      ->required();
  app.add_option("--out", out_path, "Output JSONL (default: stdout)");
  app.add_flag("--raw", raw,
               "Render with the context as given (no transformers defaults / reasoning aliases)");
  app.add_flag("--spans", spans, "Write {text, generation} objects with the {% generation %} byte ranges");
  CLI11_PARSE(app, argc, argv);
  try {
    const loratune::ChatTemplate tpl =
        loratune::ChatTemplate::parse(loratune::read_text_file(tpl_path), tpl_path);
    std::ifstream in(contexts_path);
    if (!in) loratune::fail_input(contexts_path + ": cannot open");
    std::ofstream out_file;
    if (!out_path.empty()) out_file.open(out_path);
    std::ostream& out = out_path.empty() ? std::cout : out_file;
    std::string line;
    size_t lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      if (line.empty()) continue;
      nlohmann::ordered_json ctx = nlohmann::ordered_json::parse(line, nullptr, false);
      if (ctx.is_discarded())
        loratune::fail_input(contexts_path + ":" + std::to_string(lineno) + ": invalid JSON");
      nlohmann::ordered_json result;
      try {
        std::vector<std::pair<size_t, size_t>> gen;
        // "continue_final_message": true or a field name, as apply_chat_template takes it.
        nlohmann::ordered_json cont = ctx.contains("continue_final_message") ? ctx["continue_final_message"]
                                                                             : nlohmann::ordered_json(false);
        if (ctx.is_object()) ctx.erase("continue_final_message");
        const nlohmann::ordered_json vars = raw ? ctx : loratune::ChatTemplate::chat_context(ctx);
        const bool continuing = cont.is_string() || (cont.is_boolean() && cont.get<bool>());
        const std::string text =
            continuing ? tpl.render_continuing(vars, cont.is_string() ? cont.get<std::string>() : "content")
                       : tpl.render(vars, &gen);
        if (spans) {
          result = {{"text", text}, {"generation", gen}};
        } else {
          result = text;
        }
      } catch (const loratune::ChatTemplateRaised& e) {
        result = {{"error", e.message()}, {"raised", true}, {"template_message", e.template_message()}};
      } catch (const loratune::Error& e) {
        result = {{"error", e.message()}, {"raised", false}};
      }
      out << dump(result) << "\n";
    }
    return 0;
  } catch (const loratune::Error& e) {
    std::cerr << "loratune-jinja: " << e.message() << (e.hint().empty() ? "" : "\n  hint: " + e.hint())
              << std::endl;
    return static_cast<int>(e.kind());
  }
}
