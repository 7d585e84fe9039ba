// HfTokenizer: a Hugging Face tokenizer.json (BPE model) read and run without the Rust `tokenizers`
// library, giving the same ids and decoded text (the reference tests compare it with tokenizers 0.23).
//
// Encoding follows tokenizers' order: added tokens are split out first (non-normalized ones on the raw
// text, then normalized ones on each normalized piece; leftmost-longest match, with lstrip / rstrip /
// single_word), then normalizer, pre-tokenizer, BPE per pre-token, post-processor. Supported components:
//   normalizer     NFC NFD NFKC NFKD Lowercase Prepend Replace Strip Sequence
//   pre_tokenizer  ByteLevel Split Digits Metaspace Punctuation Whitespace WhitespaceSplit Sequence
//   model          BPE (dropout null or 0)
//   post_processor TemplateProcessing ByteLevel Sequence
//   decoder        ByteLevel Metaspace ByteFallback Fuse Strip Replace Sequence
// and the file's "truncation" / "padding" (applied on encode as tokenizers does; transformers switches them
// off per call: disable_truncation_and_padding() does the same). Anything else is refused by name
// (loratune::Error naming the file and the JSON path, e.g. "model.type"), never approximated.
// Regexes run on PCRE2 (JIT) with Oniguruma's meaning of \s \S \w \W translated (see hf_regex.h).
// This header is free of PCRE2 / utf8proc / JSON headers: the implementation is behind a pimpl.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace loratune {

struct HfAddedToken {
  int id = -1;
  std::string content;
  bool special = false, normalized = true, lstrip = false, rstrip = false, single_word = false;
};

class HfTokenizer {
 public:
  // Reads and validates `path` (a tokenizer.json); throws loratune::Error (exit 2) naming the file and
  // the key / JSON path for a missing file, malformed JSON, a missing key or an unsupported component.
  static HfTokenizer from_file(const std::string& path);
  // The same from JSON text; `source` names it in errors.
  static HfTokenizer from_json(const std::string& json_text, const std::string& source);

  HfTokenizer(HfTokenizer&&) noexcept;
  HfTokenizer& operator=(HfTokenizer&&) noexcept;
  ~HfTokenizer();

  // Ids as tokenizers' `Tokenizer.encode(text, add_special_tokens=...).ids`. Special added tokens written
  // in the text are always recognised; add_special_tokens only says whether the post-processor adds its
  // template tokens (BOS/EOS). Invalid UTF-8 in `text` is replaced by U+FFFD first (as Python's
  // bytes.decode(errors="replace") would). Thread-safe.
  std::vector<int> encode(const std::string& text, bool add_special_tokens) const;
  // The file's truncation / padding settings (see the header comment).
  bool truncates() const;
  bool pads() const;
  void disable_truncation_and_padding();

  // The token strings of encode() (as `Encoding.tokens`).
  std::vector<std::string> encode_pieces(const std::string& text, bool add_special_tokens) const;
  // As tokenizers' `Tokenizer.decode(ids, skip_special_tokens=...)`; unknown ids are dropped.
  std::string decode(const std::vector<int>& ids, bool skip_special_tokens) const;

  // The bytes of one token for streaming output (see Decoder::piece_bytes): "▁" is a space, byte tokens
  // are raw bytes (possibly an incomplete UTF-8 sequence), an added token is its text; "" when unknown.
  // decode() of a whole sequence can differ at the start (a dropped leading space) and where bytes
  // do not form valid UTF-8 (U+FFFD there).
  std::string decode_piece(int id) const;

  // 1 + the largest id of the model vocabulary and the added tokens.
  int vocab_size() const;
  std::string id_to_token(int id) const;                  // "" when unknown
  int token_to_id(const std::string& token) const;        // added tokens first, then the model; -1 if absent
  bool is_special(int id) const;                          // a special added token
  const std::vector<HfAddedToken>& added_tokens() const;  // ascending id
  // What the post-processor's single template puts before / after the sequence.
  const std::vector<int>& template_prefix_ids() const;
  const std::vector<int>& template_suffix_ids() const;
  bool byte_fallback() const;
  bool byte_level() const;  // the pre-tokenizer contains a ByteLevel step
  const std::string& raw_json() const;
  const std::string& sha256() const;  // hex digest of raw_json()

 private:
  struct Impl;
  explicit HfTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace loratune
