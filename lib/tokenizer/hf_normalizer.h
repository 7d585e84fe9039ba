// tokenizer.json "normalizer": NFC NFD NFKC NFKD Lowercase Prepend Replace Strip, and Sequence of those
// (flattened into one list of steps). Each step works on the text of one piece (tokenizers normalizes
// every piece left between added tokens on its own, so Prepend applies to each such piece).
#pragma once
#include <string>
#include <vector>

#include "tokenizer/hf_json.h"
#include "tokenizer/hf_regex.h"
#include "tokenizer/hf_unicode.h"

namespace loratune::hf {

class Normalizer {
 public:
  // `j` is the "normalizer" value (null: no normalizer, empty()).
  static Normalizer parse(const JsonAt& j);
  bool empty() const { return steps_.empty(); }
  // `start_kept` (optional) is cleared when leading characters were deleted (Strip, or Replace by ""), so
  // that the result no longer starts at the piece's first original character: Metaspace's prepend_scheme
  // "first" looks at that original offset.
  std::string apply(const std::string& s, bool* start_kept = nullptr) const;

 private:
  enum class Kind { Form, Lowercase, Prepend, Replace, Strip };
  struct Step {
    Kind kind{};
    NormForm form = NormForm::NFC;
    std::string text;                  // Prepend: the prefix; Replace: the content
    Regex pattern;                     // Replace
    bool left = false, right = false;  // Strip
  };
  void add(const JsonAt& j);
  std::vector<Step> steps_;
};

// Replaces every match of `re` in `s` by `content` (tokenizers' NormalizedString::replace).
std::string replace_all(const std::string& s, const Regex& re, const std::string& content);
// The "pattern" of Replace / Split: {"String": s} (a literal) or {"Regex": r} (Oniguruma).
Regex parse_pattern(const JsonAt& j);
// Strips Unicode White_Space from the left / right.
std::string strip_white_space(const std::string& s, bool left, bool right);

}  // namespace loratune::hf
