#include "data/sample.h"

#include "core/enum_table.h"

namespace loratune::data {

namespace {
constexpr EnumTable<Format, 5> kFormats{{{Format::Text, "text"},
                                         {Format::PromptCompletion, "prompt_completion"},
                                         {Format::Alpaca, "alpaca"},
                                         {Format::Chat, "chat"},
                                         {Format::Tokens, "tokens"}}};
}  // namespace

const char* format_name(Format f) { return enum_name(kFormats, f); }
std::optional<Format> parse_format(const std::string& name) { return enum_parse(kFormats, name); }
std::vector<std::string> format_names() { return enum_names(kFormats); }

}  // namespace loratune::data
