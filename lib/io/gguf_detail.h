// Internal to lib/io/gguf_*.cpp: small helpers the value type, the reader and the writer share.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/gguf_value.h"

namespace loratune::io::gguf_detail {

constexpr size_t kMaxQuotedChars = 200;

// 'text' for messages, cut after kMaxQuotedChars.
inline std::string quote(const std::string& s) {
  if (s.size() <= kMaxQuotedChars) return "'" + s + "'";
  return "'" + s.substr(0, kMaxQuotedChars) + "...'";
}

inline bool valid_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::F64); }

// Bytes a scalar of type t occupies in the file (0 for strings and arrays).
inline size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::Bool: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    case GgufType::String: case GgufType::Array: return 0;
  }
  return 0;
}

inline bool is_unsigned(GgufType t) {
  return t == GgufType::U8 || t == GgufType::U16 || t == GgufType::U32 || t == GgufType::U64;
}
inline bool is_signed(GgufType t) {
  return t == GgufType::I8 || t == GgufType::I16 || t == GgufType::I32 || t == GgufType::I64;
}

inline uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace loratune::io::gguf_detail
