// Splitting a raw .txt/.md file into documents: "none" (the whole file is one document), "blank-line"
// (documents separated by one or more blank lines) or "delimiter" (a line equal to the delimiter
// separates documents). Torch-free.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loratune::data {

enum class TextSplit {
  None,       // one document per file
  BlankLine,  // documents separated by blank lines
  Delimiter,  // documents separated by a line equal to the delimiter
};
const char* text_split_name(TextSplit s);  // "none", "blank-line", "delimiter"
std::optional<TextSplit> parse_text_split(const std::string& name);  // nullopt for another name
std::vector<std::string> text_split_names();

// Checks the delimiter of a split mode: Delimiter with a missing or multi-line delimiter is an input error.
void check_text_split(TextSplit mode, const std::string& delimiter);

// The next raw document of s from pos (before trimming), or nullopt at the end; pos moves past it.
// mode and delimiter must have passed check_text_split.
std::optional<std::string_view> next_document(std::string_view s, size_t& pos, TextSplit mode,
                                              const std::string& delimiter);

// A document without leading blank lines and trailing whitespace (indentation of its first line is
// kept); empty when the document is whitespace only.
std::string_view trim_document(std::string_view d);

}  // namespace loratune::data
