// Regexes of tokenizer.json on PCRE2 (8-bit, UTF + UCP, JIT-compiled).
// tokenizers runs them on Oniguruma (Ruby syntax), so patterns are translated where the two differ:
//   \s \S  Oniguruma: White_Space            -> \p{White_Space} / \P{White_Space} (PCRE2 adds U+180E)
//   \w \W  Oniguruma: L, M, N, Pc             -> explicit classes (PCRE2 10.42's \w lacks M and Pc)
//   \h \H  Oniguruma (Ruby): hex digit        -> [0-9a-fA-F]
//   \uHHHH                                    -> \x{HHHH}
//   ^ $    Ruby: line anchors                 -> PCRE2_MULTILINE
//   (?m)   Ruby: dot matches newline          -> (?s)
// find_iter() yields the matches as Oniguruma's (Rust onig crate) iterator does: left to right, and an
// empty match right after the previous match is skipped by advancing one character.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace loratune::hf {

class Regex {
 public:
  // Compiles an Oniguruma pattern; throws std::invalid_argument with PCRE2's message and offset.
  static Regex onig(const std::string& pattern);
  // A literal string (tokenizers' SplitPattern::String / ReplacePattern::String: regex-escaped).
  static Regex literal(const std::string& text);
  // A PCRE2 pattern as is (for loratune's own patterns).
  static Regex pcre(const std::string& pattern);

  // Leftmost match in s at or after `start`; false when none.
  bool search(const std::string& s, size_t start, size_t& mstart, size_t& mend) const;
  // All matches as (start, end) byte offsets, Oniguruma find_iter order and empty-match rule.
  void find_all(const std::string& s, std::vector<std::pair<size_t, size_t>>& out) const;
  const std::string& pattern() const;

  struct Code;  // the compiled PCRE2 pattern (defined in hf_regex.cpp)

 private:
  std::shared_ptr<const Code> code_;
};

// The Oniguruma -> PCRE2 translation above (exposed for tests).
std::string onig_to_pcre2(const std::string& pattern);

}  // namespace loratune::hf
