// UTF-8 and Unicode helpers for the tokenizer.json pipeline, with the meaning Rust gives them (the
// `tokenizers` library is Rust): char::is_whitespace (White_Space), char::is_numeric (Nd/Nl/No),
// char::to_lowercase (full mapping: U+0130 becomes "i\u0307"), String::from_utf8_lossy (one U+FFFD per
// maximal invalid subpart). Normalization forms and case mapping come from utf8proc.
#pragma once
#include <cstdint>
#include <string>

namespace loratune::hf {

// Length of the UTF-8 sequence starting with `lead` (1 for a stray continuation byte).
inline size_t utf8_seq_len(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? (lead < 0xC0 ? 1 : 2) : lead < 0xF0 ? 3 : 4;
}
// Decodes the character at s[i] (valid UTF-8 assumed) and advances i.
uint32_t next_char(const std::string& s, size_t& i);
void append_utf8(std::string& out, uint32_t cp);

bool is_valid_utf8(const std::string& s);
// Rust's String::from_utf8_lossy (and Python's decode(errors="replace")).
std::string utf8_lossy(const std::string& bytes);

bool is_white_space(uint32_t cp);  // Unicode White_Space (Rust char::is_whitespace)
bool is_numeric(uint32_t cp);      // general category N* (Rust char::is_numeric)
bool is_punctuation(uint32_t cp);  // ASCII punctuation or category P* (tokenizers' Punctuation)

enum class NormForm { NFC, NFD, NFKC, NFKD };
std::string normalize_form(const std::string& s, NormForm form);
std::string to_lowercase(const std::string& s);  // Rust str::chars().flat_map(char::to_lowercase)

}  // namespace loratune::hf
