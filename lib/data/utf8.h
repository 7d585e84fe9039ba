// UTF-8 and plain-text checks for the prepare readers: validity (with the offending byte), a byte order
// mark, whitespace, and clipping text for messages without cutting a UTF-8 sequence. Torch-free.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace loratune::data {

// Offset of the first byte that does not start a well-formed UTF-8 sequence (overlong forms, surrogates
// and code points above U+10FFFF are ill-formed), or npos when the whole string is valid.
size_t invalid_utf8_at(std::string_view s);
// "invalid UTF-8 (byte 0xNN at column C)" for the byte s[at].
std::string invalid_utf8_problem(std::string_view s, size_t at, size_t column);

// s without a leading UTF-8 byte order mark.
std::string_view strip_bom(std::string_view s);

bool is_space(char c);            // ASCII whitespace: space, \t, \n, \r, \f, \v
bool is_blank(std::string_view s);  // empty or whitespace only

// Shortens s to at most max bytes without cutting a UTF-8 sequence (messages end up in report.json).
std::string clip(std::string_view s, size_t max = 160);

}  // namespace loratune::data
