// `loratune tokenize`: what the model sees. Text (or a file, whole or line by line) in; ids, pieces and
// counts out, through the model directory's own tokenizer (tokenizer.json or tokenizer.model).
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "model/gguf_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace loratune::cli {
namespace {
struct TokenizeArgs {
  std::vector<std::string> texts;
  std::string file;
  bool lines = false, pieces = false, no_special = false, ids_only = false;
};

int run(const GlobalOptions& g, const TokenizeArgs& a) {
  Config cfg = resolve_config(g);
  if (maybe_print_config(g, cfg)) return 0;
  if (cfg.model.path.empty()) fail_input("no model given", "pass --model DIR (its tokenizer is used)");
  if (a.texts.empty() && a.file.empty()) fail_input("tokenize needs text", "pass --text TEXT or --file FILE");
  if (!a.texts.empty() && !a.file.empty()) fail_input("--text and --file cannot be combined", "pass one of them");
  std::vector<std::string> inputs = a.texts;
  if (!a.file.empty()) {
    if (!path_exists(a.file)) fail_input(a.file + ": file not found", "check the --file path");
    const std::string body = read_text_file(a.file);
    if (a.lines) {
      for (auto& line : split(body, '\n')) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        inputs.push_back(line);
      }
      if (!inputs.empty() && inputs.back().empty() && !body.empty() && body.back() == '\n') inputs.pop_back();
    } else {
      inputs.push_back(body);
    }
  }
  const Tokenizer tok = load_tokenizer(cfg.model.path);  // a model directory or a GGUF file
  const bool bos = !a.no_special && tok.special().add_bos;
  const bool eos = !a.no_special && tok.special().add_eos;
  nlohmann::json items = nlohmann::json::array();
  size_t total = 0;
  for (const auto& text : inputs) {
    const std::vector<int> ids = tok.encode(text, bos, eos);
    total += ids.size();
    nlohmann::json pieces = nlohmann::json::array();
    for (int id : ids) pieces.push_back(tok.piece(id));
    if (g.json) {
      items.push_back({{"text", text}, {"ids", ids}, {"pieces", pieces}, {"count", ids.size()}});
      continue;
    }
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) line += ' ';
      line += std::to_string(ids[i]);
      if (a.pieces) line += ":" + nlohmann::json(tok.piece(ids[i])).dump();
    }
    std::cout << line << "\n";
  }
  if (g.json) {
    nlohmann::json j{{"tokenizer", tok.kind() == TokenizerKind::HfJson ? "tokenizer.json" : "tokenizer.model"},
                     {"tokenizer_path", tok.model_path()},
                     {"vocab_size", tok.vocab_size()},
                     {"add_bos", bos},
                     {"add_eos", eos},
                     {"texts", items},
                     {"total_tokens", total}};
    std::cout << j.dump(2) << std::endl;
  } else if (!a.ids_only) {
    std::cerr << inputs.size() << (inputs.size() == 1 ? " text, " : " texts, ") << total << " tokens\n";
  }
  return 0;
}
}  // namespace

void register_tokenize(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* sub = app.add_subcommand("tokenize", "Show the token ids (and pieces) a model's tokenizer gives a text");
  sub->fallthrough();
  auto a = std::make_shared<TokenizeArgs>();
  add_config_flag(*sub, g, "--model,-m", "model.path", "Model directory (its tokenizer.json or tokenizer.model) or a GGUF file (its tokenizer.ggml.* vocabulary)");
  sub->add_option("--text", a->texts, "Text to tokenize (repeatable: one output line each)");
  sub->add_option("--file", a->file, "Tokenize this file (whole, or line by line with --lines)");
  sub->add_flag("--lines", a->lines, "With --file: each line is a text");
  sub->add_flag("--pieces", a->pieces, "Print id:\"piece\" pairs instead of ids");
  sub->add_flag("--no-special", a->no_special, "Do not add the BOS/EOS the tokenizer adds by default");
  sub->add_flag("--quiet-counts", a->ids_only, "Do not print the token count on stderr");
  sub->footer(
      "Examples:\n"
      "  loratune tokenize -m smollm2 --text \"Hello world\" --pieces\n"
      "  loratune tokenize -m smollm2 --file corpus.txt --lines --json");
  sub->callback([&g, &action, a] { action = [&g, a] { return run(g, *a); }; });
}

}  // namespace loratune::cli
