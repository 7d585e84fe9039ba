// tokenizer.json "pre_tokenizer": ByteLevel, Split, Digits, Metaspace, Punctuation, Whitespace,
// WhitespaceSplit, and Sequence of those (flattened). Each step splits every piece further, as
// tokenizers' PreTokenizedString::split does: empty pieces are dropped.
#pragma once
#include <string>
#include <vector>

#include "tokenizer/hf_json.h"
#include "tokenizer/hf_regex.h"

namespace loratune::hf {

// One pre-token. `at_start`: it begins at offset 0 of the text given to encode (Metaspace's
// prepend_scheme "first" looks at that).
struct Piece {
  std::string text;
  bool at_start = false;
};

// How the matches of a split pattern become pieces (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// GPT-2's bytes_to_unicode: the character (UTF-8) each byte stands for in ByteLevel vocabularies, and back.
const std::string& byte_to_char(unsigned char b);
// -1 when `cp` is not one of the 256 characters.
int char_to_byte(uint32_t cp);

class PreTokenizer {
 public:
  static PreTokenizer parse(const JsonAt& j);  // null: none (the whole piece is one pre-token)
  // Appends the pre-tokens of `piece` to `out` (thread-local scratch lists: no allocation per step).
  void run(Piece piece, std::vector<Piece>& out) const;
  bool has_byte_level() const { return byte_level_; }

 private:
  enum class Kind { ByteLevel, Split, Digits, Metaspace, Punctuation, Whitespace, WhitespaceSplit };
  struct Step {
    Kind kind{};
    Regex re;                   // Split; ByteLevel with use_regex; Whitespace
    bool use_regex = false;     // ByteLevel
    bool prefix_space = false;  // ByteLevel add_prefix_space
    bool invert = false;        // Split
    bool individual = false;    // Digits
    SplitBehavior behavior = SplitBehavior::Isolated;
    std::string replacement;  // Metaspace
    uint32_t replacement_cp = 0;
    int prepend = 0;    // Metaspace: 0 always, 1 first, 2 never
    bool split = true;  // Metaspace
  };
  void add(const JsonAt& j);
  void apply(const Step& st, std::vector<Piece>& in, std::vector<Piece>& out) const;
  std::vector<Step> steps_;
  bool byte_level_ = false;
};

}  // namespace loratune::hf
