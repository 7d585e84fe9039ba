// `loratune prepare`: raw domain material in, a verified, tokenized, masked, split dataset out.
// Streams its inputs (bounded memory), tokenizes on all cores, and writes the dataset atomically
// (a temporary directory renamed into place).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/options.h"

namespace loratune {
class Tokenizer;
}

namespace loratune::data {

struct PrepareRequest {
  std::vector<std::string> inputs;      // files, directories, globs
  std::vector<std::string> val_inputs;  // explicit validation inputs (then no hash split)
  std::string model_dir;                // preferred: tokenizer + BOS/EOS rules + chat template
  std::string tokenizer_file;           // alternative: a bare tokenizer.model
  // Given by the caller instead (e.g. a GGUF file's vocabulary, read above this layer); model_dir then only
  // names it in the manifest.
  std::shared_ptr<const Tokenizer> tokenizer;
  std::string out_dir;
  bool force = false;
  int64_t threads = 0;                  // tokenizer threads; 0 = all cores
  DataOptions data;
};

struct PrepareResult {
  std::string report_json;   // also written to <out>/report.json
  std::string report_table;  // human-readable summary
  std::string out_dir;
};

PrepareResult prepare_dataset(const PrepareRequest& req);

// The chat template prepare uses: `requested` (a built-in, or "model"; an unknown name is an input error
// with a suggestion), else "model" when the model has a chat template (data/model_template.h), else
// "plain". Returns {name, where it came from}.
struct TemplateChoice {
  std::string name;
  std::string source;  // "--template" | "the model's chat template" | "default"
};
TemplateChoice choose_template(const std::string& requested, const Tokenizer& tok);

}  // namespace loratune::data
