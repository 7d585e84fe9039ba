#include "eval/generation_eval.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <numeric>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/strings.h"
#include "data/model_template.h"
#include "data/records.h"

namespace loratune::eval {
namespace {
using json = nlohmann::json;

constexpr int64_t kPrefillScoreBytes = int64_t{1} << 29;  // 512 MiB of attention scores per batch prefill

constexpr const char* kSampleForm =
    "each line must be {\"prompt\": \"...\", \"reference\": \"...\"} or "
    "{\"messages\": [{\"role\": \"user\", \"content\": \"...\"}], \"reference\": \"...\"}";

[[noreturn]] void bad_line(const std::string& where, const std::string& problem) {
  fail_input(where + ": " + problem, kSampleForm);
}

std::vector<data::Message> parse_messages(const json& msgs, const std::string& where) {
  if (!msgs.is_array() || msgs.empty())
    bad_line(where, "\"messages\" must be a non-empty array of {\"role\", \"content\"} objects");
  std::vector<data::Message> out(msgs.size());
  for (size_t i = 0; i < msgs.size(); ++i) {
    const std::string problem = data::parse_chat_message(msgs[i], "messages[" + std::to_string(i) + "]", out[i]);
    if (!problem.empty()) bad_line(where, problem);
  }
  if (out.back().role == "assistant")
    bad_line(where, "the messages end with an assistant turn; the last turn must be the one to answer");
  return out;
}

GenerationSample parse_sample(const std::string& line, const std::string& path, int64_t line_no) {
  const std::string where = path + ":" + std::to_string(line_no);
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) bad_line(where, "invalid JSON");
  if (!j.is_object()) bad_line(where, "expected a JSON object, got " + std::string(j.type_name()));
  if (!j.contains("reference")) bad_line(where, "missing field \"reference\" (the expected answer)");
  if (!j["reference"].is_string()) bad_line(where, "\"reference\" must be a string");
  const bool has_prompt = j.contains("prompt"), has_messages = j.contains("messages");
  if (has_prompt == has_messages) bad_line(where, "give exactly one of \"prompt\" and \"messages\"");

  GenerationSample s;
  s.reference = j["reference"].get<std::string>();
  s.record.source = path;
  s.record.line = line_no;
  if (has_prompt) {
    if (!j["prompt"].is_string()) bad_line(where, "\"prompt\" must be a string");
    s.record.format = data::Format::PromptCompletion;
    s.record.prompt = j["prompt"].get<std::string>();
    s.input = {{"prompt", j["prompt"]}};
  } else {
    s.record.format = data::Format::Chat;
    s.record.messages = parse_messages(j["messages"], where);
    s.input = {{"messages", j["messages"]}};
  }
  if (j.contains("id")) s.id = j["id"];
  return s;
}

}  // namespace

std::vector<GenerationSample> read_generation_samples(const std::string& path, int64_t max_samples) {
  if (!path_exists(path) || is_directory(path))
    fail_input(path + ": generation samples file not found", "pass a JSONL file with {opt:prompts} FILE");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(path + ": cannot be read", "check the file's permissions");
  std::vector<GenerationSample> out;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    out.push_back(parse_sample(line, path, n));
    if (max_samples > 0 && static_cast<int64_t>(out.size()) >= max_samples) break;
  }
  if (in.bad()) fail_runtime(path + ": read error", "check the file system");
  if (out.empty()) fail_input(path + ": no samples", kSampleForm);
  return out;
}

GenerationEvalResult evaluate_generation(CausalLM& model, const Tokenizer& tok,
                                         const std::vector<GenerationSample>& samples,
                                         const GenerationEvalOptions& opts) {
  torch::NoGradGuard no_grad;
  model->eval();
  GenerationEvalResult res;
  const auto t0 = std::chrono::steady_clock::now();
  const auto total = static_cast<int64_t>(samples.size());
  const data::PromptTemplate prompts(opts.template_name, tok, opts.template_vars);
  LT_CHECK(opts.batch_size >= 1, "evaluate_generation: batch_size must be >= 1");
  std::vector<std::vector<int>> prompt_ids(samples.size());
  bool warned_length = false;
  for (int64_t i = 0; i < total; ++i) {
    const GenerationSample& s = samples[static_cast<size_t>(i)];
    prompt_ids[i] = prompts.ids(s.record);
    if (static_cast<int64_t>(prompt_ids[i].size()) + opts.sampling.max_new_tokens >
            model->hparams().max_position_embeddings && !warned_length) {
      log::warn(s.record.source + ":" + std::to_string(s.record.line) + ": the prompt (" +
                std::to_string(prompt_ids[i].size()) + " tokens) + max_new_tokens exceeds the model's " +
                "max_position_embeddings (" + std::to_string(model->hparams().max_position_embeddings) +
                "); answers may degrade (warned once)");
      warned_length = true;
    }
  }
  // Similar lengths share a batch (less padding); the stable sort keeps file order among equal lengths.
  std::vector<int64_t> order(samples.size());
  std::iota(order.begin(), order.end(), 0);
  if (opts.batch_size > 1)
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return prompt_ids[a].size() < prompt_ids[b].size(); });
  res.outputs.resize(samples.size());
  int64_t done = 0;
  for (int64_t begin = 0; begin < total; begin += opts.batch_size) {
    // Prompts sorted by length: the batch's longest is its last. Its prefill attention scores (fp32
    // [n, heads, T, T]) stay within kPrefillScoreBytes, so one long prompt does not take n times the memory.
    int64_t n = 1;
    const auto heads = model->hparams().num_heads;
    while (n < opts.batch_size && begin + n < total) {
      const auto T = static_cast<int64_t>(prompt_ids[order[begin + n]].size());
      if ((n + 1) * heads * T * T * 4 > kPrefillScoreBytes) break;
      ++n;
    }
    std::vector<std::vector<int>> batch;
    std::vector<uint64_t> seeds;
    for (int64_t j = begin; j < begin + n; ++j) {
      batch.push_back(prompt_ids[order[j]]);
      seeds.push_back(opts.sampling.seed + static_cast<uint64_t>(order[j]));
    }
    std::vector<GenerationResult> gens;
    if (n == 1) {
      SamplingOptions so = opts.sampling;
      so.seed = seeds[0];
      gens.push_back(generate(model, tok, batch[0], so));
    } else {
      gens = generate_batch(model, tok, batch, opts.sampling, seeds);
    }
    for (int64_t j = 0; j < n; ++j) {
      const int64_t i = order[begin + j];
      const GenerationResult& g = gens[j];
      GenerationOutput& o = res.outputs[i];
      o.output = g.text;
      o.finish_reason = g.finish_reason;
      o.prompt_tokens = g.prompt_tokens;
      o.generated_tokens = static_cast<int64_t>(g.tokens.size());
      o.scores = score_text(g.text, samples[i].reference);
      res.generated_tokens += o.generated_tokens;
    }
    done += n;
    if (opts.on_progress) opts.on_progress(done, total, res.generated_tokens);
  }
  for (const GenerationOutput& o : res.outputs) {  // in file order, whatever the batches
    res.mean.exact_match += o.scores.exact_match;
    res.mean.contains += o.scores.contains;
    res.mean.token_f1 += o.scores.token_f1;
    res.mean.rouge_l += o.scores.rouge_l;
  }
  if (total > 0) {
    const double n = static_cast<double>(total);
    res.mean = {res.mean.exact_match / n, res.mean.contains / n, res.mean.token_f1 / n, res.mean.rouge_l / n};
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace loratune::eval
