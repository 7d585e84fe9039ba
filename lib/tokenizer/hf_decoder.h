// tokenizer.json "decoder": ByteLevel (characters back to bytes, then UTF-8 with U+FFFD for invalid
// sequences), Metaspace ("▁" to space; dropped in the first token unless prepend_scheme is never),
// ByteFallback ("<0xNN>" runs to their UTF-8 text, or one U+FFFD per byte when invalid), Fuse, Strip,
// Replace, Sequence. Steps run in order on the list of token strings (tokenizers' decode_chain), and the
// result is concatenated. No decoder: the tokens joined with spaces (as tokenizers does).
#pragma once
#include <string>
#include <vector>

#include "tokenizer/hf_json.h"
#include "tokenizer/hf_regex.h"

namespace loratune::hf {

class Decoder {
 public:
  static Decoder parse(const JsonAt& j);  // null: none
  std::string decode(std::vector<std::string> tokens) const;
  // The bytes one token stands for, for streaming: the steps on this token alone, except that no leading
  // space is dropped (Metaspace's first token, Strip) and bytes stay raw (a ByteLevel or "<0xNN>" token can
  // be part of a UTF-8 sequence; callers accumulate until it is complete).
  std::string piece_bytes(const std::string& token) const;
  bool present() const { return present_; }

 private:
  enum class Kind { ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace };
  struct Step {
    Kind kind{};
    uint32_t ch = 0;             // Metaspace replacement / Strip content
    bool drop_first = true;      // Metaspace: prepend_scheme != never
    size_t start = 0, stop = 0;  // Strip
    Regex pattern;               // Replace
    std::string content;         // Replace
  };
  void add(const JsonAt& j);
  void run(const Step& st, std::vector<std::string>& toks) const;
  std::vector<Step> steps_;
  bool present_ = false;
};

}  // namespace loratune::hf
