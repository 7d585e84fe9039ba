// `loratune prepare`: domain data in, a verified training set out.
#include <iostream>
#include <memory>

#include "cli.h"
#include "options.h"
#include "data/prepare.h"
#include "model/gguf_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace loratune::cli {
namespace {
int run(const GlobalOptions& g, data::PrepareRequest req) {
  Config cfg = resolve_config(g);
  if (maybe_print_config(g, cfg)) return 0;
  req.data = data_options(cfg.data);
  req.threads = cfg.runtime.threads;
  if (req.model_dir.empty()) req.model_dir = cfg.model.path;
  if (!req.model_dir.empty() && is_gguf_file(req.model_dir))
    req.tokenizer = std::make_shared<const Tokenizer>(tokenizer_from_gguf(req.model_dir));
  auto res = data::prepare_dataset(req);
  if (g.json) {
    std::cout << res.report_json << std::endl;
  } else {
    std::cout << res.report_table << "wrote " << res.out_dir << " (manifest.json, report.json)" << std::endl;
  }
  return 0;
}
}  // namespace

void register_prepare(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* sub = app.add_subcommand("prepare", "Turn raw domain data into a tokenized, masked, split training set");
  sub->fallthrough();
  auto req = std::make_shared<data::PrepareRequest>();
  sub->add_option("inputs", req->inputs, "Input files, directories (recursive: .txt .md .jsonl) or globs")
      ->required();
  sub->add_option("--out,-o", req->out_dir, "Output directory (must not exist unless --force)")->required();
  sub->add_flag("--force", req->force, "Replace an existing output directory");
  auto* model = sub->add_option("--model,-m", req->model_dir, "Model directory or GGUF file whose tokenizer to use (preferred)");
  auto* tok = sub->add_option("--tokenizer", req->tokenizer_file, "A tokenizer.model to use instead of --model");
  model->excludes(tok);
  sub->add_option("--val", req->val_inputs, "Explicit validation inputs (instead of a hash split)");
  add_config_flag(*sub, g, "--format", "data.format", "auto | text | prompt_completion | alpaca | chat | tokens");
  add_config_flag(*sub, g, "--split-text", "data.text_split", ".txt/.md documents: none | blank-line | delimiter");
  add_config_flag(*sub, g, "--delimiter", "data.delimiter", "Separator line for --split-text delimiter");
  add_config_flag(*sub, g, "--template", "data.template",
                  "model (the model's own chat template; the default when it has one) | chatml | llama2 | mistral | zephyr | alpaca | plain");
  add_template_var_flag(*sub, g);
  auto* sets = &g.flag_sets;
  sub->add_flag_callback("--train-on-inputs", [sets] { sets->push_back("data.train_on_inputs=true"); },
                         "Also train on prompts / user turns [config: data.train_on_inputs]");
  add_config_flag(*sub, g, "--seq-len", "data.seq_len", "Tokens per row");
  add_config_flag(*sub, g, "--stride", "data.stride", "Overlap between chunks of long documents");
  add_config_flag(*sub, g, "--truncation", "data.truncation", "Side cut from over-long samples: left | right");
  sub->add_flag_callback("--pack", [sets] { sets->push_back("data.pack=on"); }, "Pack samples into rows [config: data.pack]");
  sub->add_flag_callback("--no-pack", [sets] { sets->push_back("data.pack=off"); }, "One sample per row, padded");
  add_config_flag(*sub, g, "--val-fraction", "data.val_fraction", "Share held out for validation (by content hash)");
  sub->add_flag_callback("--no-dedup", [sets] { sets->push_back("data.dedup=false"); },
                         "Keep exact duplicates [config: data.dedup]");
  add_config_flag(*sub, g, "--on-error", "data.on_error", "Invalid records: fail | skip");
  sub->add_flag_callback("--strict", [sets] { sets->push_back("data.strict=true"); },
                         "Warnings become errors [config: data.strict]");
  sub->footer(
      "Examples:\n"
      "  loratune prepare docs/ --model base-model --out prepared            # raw text, packed\n"
      "  loratune prepare qa.jsonl --model base-model --template chatml --seq-len 1024 --out prepared\n"
      "  loratune prepare chats.jsonl --model Qwen3-0.6B --template-var enable_thinking=false --out prepared\n"
      "  loratune prepare 'data/*.jsonl' --tokenizer tokenizer.model --val held-out.jsonl --on-error skip --out p\n"
      "Output: <out>/manifest.json, report.json, train/ and val/ (tokens.bin, mask.bin, rows.bin, starts.bin).");
  sub->callback([&g, &action, req] { action = [&g, req] { return run(g, *req); }; });
}

}  // namespace loratune::cli
