#include "data/text_split.h"

#include <algorithm>
#include <vector>

#include "core/enum_table.h"
#include "core/error.h"
#include "core/strings.h"
#include "data/utf8.h"

namespace loratune::data {

namespace {

constexpr EnumTable<TextSplit, 3> kSplitModes{
    {{TextSplit::None, "none"}, {TextSplit::BlankLine, "blank-line"}, {TextSplit::Delimiter, "delimiter"}}};

// The next line of s from pos: [begin, end) without its terminator; pos moves past the terminator.
std::string_view next_line(std::string_view s, size_t& pos, size_t& begin) {
  begin = pos;
  size_t nl = s.find('\n', pos);
  size_t end = nl == std::string_view::npos ? s.size() : nl;
  pos = nl == std::string_view::npos ? s.size() : nl + 1;
  std::string_view line = s.substr(begin, end - begin);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

const char* text_split_name(TextSplit s) { return enum_name(kSplitModes, s); }
std::optional<TextSplit> parse_text_split(const std::string& name) { return enum_parse(kSplitModes, name); }
std::vector<std::string> text_split_names() { return enum_names(kSplitModes); }

void check_text_split(TextSplit mode, const std::string& delimiter) {
  if (mode == TextSplit::Delimiter && (delimiter.empty() || delimiter.find('\n') != std::string::npos))
    fail_input("text split \"delimiter\" needs a one-line delimiter",
               "give the line that separates documents, e.g. ---");
}

std::string_view trim_document(std::string_view d) {
  size_t first = 0;
  while (first < d.size() && is_space(d[first])) ++first;
  if (first == d.size()) return {};
  size_t line_start = d.rfind('\n', first);
  size_t begin = line_start == std::string_view::npos ? 0 : line_start + 1;
  size_t end = d.size();
  while (end > begin && is_space(d[end - 1])) --end;
  return d.substr(begin, end - begin);
}

std::optional<std::string_view> next_document(std::string_view s, size_t& pos, TextSplit mode,
                                              const std::string& delimiter) {
  if (pos >= s.size()) return std::nullopt;
  const size_t start = pos;
  size_t begin = 0;
  if (mode == TextSplit::None) {
    pos = s.size();
    return s.substr(start);
  }
  if (mode == TextSplit::BlankLine) {
    size_t doc_begin = std::string_view::npos, doc_end = 0;
    while (pos < s.size()) {
      const size_t before = pos;
      std::string_view line = next_line(s, pos, begin);
      if (!is_blank(line)) {
        if (doc_begin == std::string_view::npos) doc_begin = begin;
        doc_end = begin + line.size();
      } else if (doc_begin != std::string_view::npos) {
        pos = before;  // leave the separator; it is skipped on the next call
        break;
      }
    }
    if (doc_begin == std::string_view::npos) return std::nullopt;
    return s.substr(doc_begin, doc_end - doc_begin);
  }
  // delimiter
  while (pos < s.size()) {
    std::string_view line = next_line(s, pos, begin);
    if (line == delimiter) return s.substr(start, begin - start);
  }
  return s.substr(start);
}

}  // namespace loratune::data
