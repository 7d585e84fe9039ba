// Shared types of the prepare pipeline (torch-free): raw records as read from the sources, rendered
// template segments, and tokenized samples with their loss mask.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace loratune::data {

// The record formats prepare understands (auto-detected per file, or forced with --format).
enum class Format { Text, PromptCompletion, Alpaca, Chat, Tokens };
const char* format_name(Format f);                         // "text", "prompt_completion", "alpaca", "chat", "tokens"
std::optional<Format> parse_format(const std::string& name);  // nullopt for unknown names
std::vector<std::string> format_names();

struct Message {
  Message() = default;
  Message(std::string r, std::string c, std::string e = {})
      : role(std::move(r)), content(std::move(c)), extra(std::move(e)) {}
  std::string role;     // "system" | "user" | "assistant"
  std::string content;
  // The message's other keys (reasoning_content, tool_calls, name, ...) as a JSON object text, "" when none.
  // The model's own template sees them as transformers passes them; the built-in templates ignore them.
  std::string extra;
};

// One training example as read from a source file.
struct Record {
  std::string source;   // the file it came from
  int64_t line = 0;     // 1-based line in a JSONL file; for text files the 1-based index of the document
  Format format = Format::Text;
  std::string text;                            // Text
  std::string prompt, completion;              // PromptCompletion
  std::string instruction, input, output;      // Alpaca ("input" may be empty)
  std::vector<Message> messages;               // Chat
  std::vector<int32_t> input_ids;              // Tokens
  std::vector<uint8_t> trained;                // Tokens: 1 = in the loss (from "labels" != -100 or "mask")
};

// A piece of rendered template text. Bos/Eos are the tokenizer's special ids, inserted as ids (never
// tokenized from text).
struct Segment {
  enum class Kind { Text, Bos, Eos };
  Kind kind = Kind::Text;
  std::string text;     // for Kind::Text
  bool trained = false; // whether these tokens are in the loss
};

// A tokenized example: ids and a per-token loss mask (1 = trained).
struct TokenizedSample {
  std::vector<int32_t> ids;
  std::vector<uint8_t> trained;
  std::string source;
  int64_t line = 0;
  bool truncated = false;
  // Index of the input file it came from in the dataset's source list (manifest.json "source_paths");
  // stored per packed sample in sample_sources.bin, for per-source evaluation.
  uint32_t source_index = 0;
};

}  // namespace loratune::data
