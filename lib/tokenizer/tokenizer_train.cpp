// train_tokenizer (declared in tokenizer.h): SentencePiece training in-process through the plugin, with
// Llama conventions and input errors that state SentencePiece's limits.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "tokenizer/spm_backend.h"
#include "tokenizer/tokenizer.h"

namespace loratune {

namespace {

void validate_train_options(const TokenizerTrainOptions& o, const std::string& out_path) {
  if (o.corpus_files.empty())
    fail_input("no corpus files given for tokenizer training", "pass one or more UTF-8 text files");
  for (const auto& f : o.corpus_files) {
    if (!path_exists(f) || is_directory(f))
      fail_input(f + ": corpus file not found (or not a file)", "check the path of the training text");
  }
  if (o.model_type != "bpe" && o.model_type != "unigram")
    fail_input("tokenizer model_type '" + o.model_type + "' is not supported" +
                   did_you_mean(o.model_type, {"bpe", "unigram"}),
               "use bpe or unigram");
  if (o.vocab_size <= 3)
    fail_input("tokenizer vocab_size must be greater than 3, got " + std::to_string(o.vocab_size),
               "use a vocab_size of a few hundred or more (byte fallback alone needs 259 pieces)");
  if (o.num_threads < 1)
    fail_input("tokenizer num_threads must be at least 1, got " + std::to_string(o.num_threads),
               "set num_threads to 1 or more");
  if (o.max_sentence_length < 1)
    fail_input("tokenizer max_sentence_length must be positive, got " + std::to_string(o.max_sentence_length),
               "set it to the longest line length in bytes to keep (default 16384)");
  if (out_path.empty()) fail_input("no output path given for the trained tokenizer", "pass an output path");
  if (!is_directory(parent_dir(out_path)))
    fail_input(out_path + ": the output directory " + parent_dir(out_path) + " does not exist",
               "create it first or choose another output path");
}

std::unordered_map<std::string, std::string> trainer_args(const TokenizerTrainOptions& o) {
  const auto flag = [](bool b) { return std::string(b ? "true" : "false"); };
  return {
      {"model_type", o.model_type},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"byte_fallback", flag(o.byte_fallback)},
      {"split_digits", "true"},
      {"character_coverage", "1.0"},
      {"normalization_rule_name", "identity"},
      {"add_dummy_prefix", "true"},
      {"remove_extra_whitespaces", "false"},
      {"allow_whitespace_only_pieces", "true"},
      {"unk_id", "0"}, {"bos_id", "1"}, {"eos_id", "2"}, {"pad_id", "-1"},
      {"unk_piece", "<unk>"}, {"bos_piece", "<s>"}, {"eos_piece", "</s>"},
      {"max_sentence_length", std::to_string(o.max_sentence_length)},
      {"num_threads", std::to_string(o.num_threads)},
      {"input_sentence_size", "0"},          // use every sentence: no sampling
      {"shuffle_input_sentence", "false"},
      {"minloglevel", "2"},  // quiet: every failure comes back as a status and is reported by us
  };
}

// SentencePiece reserves 0xFFFFFFFF ("seed from std::random_device"); fold the 64-bit seed into the
// remaining 32-bit values.
unsigned int sentencepiece_seed(uint64_t seed) {
  const auto folded = static_cast<uint32_t>(seed ^ (seed >> 32));
  return folded == 0xFFFFFFFFu ? 0xFFFFFFFEu : folded;
}

// The decimal number that follows the first `after` found at or past the first `anchor` in text.
std::optional<std::string> number_after(const std::string& text, const std::string& anchor,
                                        const std::string& after) {
  size_t pos = text.find(anchor);
  if (pos == std::string::npos) return std::nullopt;
  pos = text.find(after, pos);
  if (pos == std::string::npos) return std::nullopt;
  pos += after.size();
  size_t end = pos;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
  if (end == pos) return std::nullopt;
  return text.substr(pos, end - pos);
}

[[noreturn]] void fail_training(const std::string& sp_message, const TokenizerTrainOptions& o,
                               size_t text_lines) {
  const std::string corpus = join(o.corpus_files, ", ");
  const std::string vocab = std::to_string(o.vocab_size);
  if (text_lines == 0)
    fail_input("the tokenizer corpus (" + corpus + ") has no text", "train on files with non-empty lines of text");
  // SentencePiece: "Vocabulary size too high (N). Please set it to a value <= MAX."
  if (auto max = number_after(sp_message, "Vocabulary size too high", "Please set it to a value <= "))
    fail_input("the corpus (" + corpus + ") is too small for tokenizer vocab_size " + vocab +
                   ": SentencePiece can build at most " + *max + " pieces from it",
               "set vocab_size to at most " + *max + ", or train on more text");
  // SentencePiece: "Vocabulary size is smaller than required_chars. N vs MIN."
  if (auto min = number_after(sp_message, "smaller than required_chars", " vs "))
    fail_input("tokenizer vocab_size " + vocab + " is too small for the corpus (" + corpus + "): its " +
                   "special, byte and single-character pieces alone need " + *min,
               "set vocab_size to at least " + *min + " (more leaves room for merged pieces)");
  fail_input("training a tokenizer on " + corpus + " failed: " + sp_message,
             "check that the corpus is non-empty UTF-8 text and the training options are valid");
}

}  // namespace

void train_tokenizer(const TokenizerTrainOptions& opts, const std::string& out_model_path) {
  validate_train_options(opts, out_model_path);
  spm::TrainOutcome out;
  spm::api().train(trainer_args(opts), opts.corpus_files, sentencepiece_seed(opts.seed), &out);
  if (!out.corpus_error.empty()) fail_input(out.corpus_error, "check the corpus file paths");
  if (!out.ok) fail_training(out.message, opts, out.text_lines);
  std::string error;
  std::unique_ptr<spm::Processor> check(spm::api().load(out.model, &error));
  LT_CHECK(check != nullptr, "SentencePiece produced a model it cannot load: " + error);
  write_file_atomic(out_model_path, out.model);
}

}  // namespace loratune
