#include "data/sample.h"

namespace loratune::data {

const char* format_name(Format f) {
  switch (f) {
    case Format::Text: return "text";
    case Format::PromptCompletion: return "prompt_completion";
    case Format::Alpaca: return "alpaca";
    case Format::Chat: return "chat";
    case Format::Tokens: return "tokens";
  }
  return "?";
}

std::optional<Format> parse_format(const std::string& name) {
  for (Format f : {Format::Text, Format::PromptCompletion, Format::Alpaca, Format::Chat, Format::Tokens})
    if (name == format_name(f)) return f;
  return std::nullopt;
}

}  // namespace loratune::data
