// Generation-based evaluation: a JSONL file of {"prompt" | "messages", "reference"} records, each
// prompt rendered with the chat template as prepare renders training data (up to where the answer
// begins), answered by the model (greedy by default, deterministic) and scored against its reference
// (exact match, contains, token F1, ROUGE-L; eval/metrics.h).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/sample.h"
#include "eval/metrics.h"
#include "model/generate.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace loratune::eval {

struct GenerationSample {
  data::Record record;        // PromptCompletion (from "prompt") or Chat (from "messages"); source + line
  std::string reference;      // the expected answer
  nlohmann::json input;       // {"prompt": ...} or {"messages": [...]} as given, for the outputs file
  nlohmann::json id;          // the record's "id" when present, else null
};

// Reads the samples (at most max_samples when > 0). Blank lines are skipped; other keys are ignored.
// Every problem is an input error naming file:line: invalid JSON, not an object, a missing or non-string
// "reference", neither or both of "prompt" / "messages", a non-string prompt, messages that are not
// {"role", "content"} strings with roles system/user/assistant or that end with an assistant turn.
// A file without samples is an input error too.
std::vector<GenerationSample> read_generation_samples(const std::string& path, int64_t max_samples = 0);

struct GenerationOutput {
  std::string output;         // the generated text (stop strings cut off)
  std::string finish_reason;  // "eos" | "stop" | "length"
  int64_t prompt_tokens = 0, generated_tokens = 0;
  TextScores scores;
};

struct GenerationEvalOptions {
  std::string template_name = "plain";
  std::map<std::string, std::string> template_vars;  // the model's template: name -> JSON value text
  SamplingOptions sampling;  // eos_ids filled by the caller; sample i uses seed sampling.seed + i
  int64_t batch_size = 16;   // prompts generated together (generate_batch); 1 = one at a time (generate)
  std::function<void(int64_t, int64_t, int64_t)> on_progress;  // samples done, total, tokens generated
};

struct GenerationEvalResult {
  std::vector<GenerationOutput> outputs;  // one per sample, in order
  TextScores mean;                        // per-metric mean over samples
  int64_t generated_tokens = 0;
  double seconds = 0;
};

// Generates an answer for every sample, without gradients, and scores it. Samples are generated in
// batches of opts.batch_size prompts of similar length (sorted by prompt length; outputs stay in file
// order), each batch with one KV cache row per prompt and finished rows dropped; batch_size 1 generates
// one sample at a time.
GenerationEvalResult evaluate_generation(CausalLM& model, const Tokenizer& tok,
                                         const std::vector<GenerationSample>& samples,
                                         const GenerationEvalOptions& opts);

}  // namespace loratune::eval
