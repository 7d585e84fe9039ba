#include "io/gguf_value.h"

#include <cmath>

#include "core/error.h"
#include "io/gguf_detail.h"

namespace loratune::io {
using gguf_detail::is_signed;
using gguf_detail::is_unsigned;
using gguf_detail::quote;

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::U8: return "u8";
    case GgufType::I8: return "i8";
    case GgufType::U16: return "u16";
    case GgufType::I16: return "i16";
    case GgufType::U32: return "u32";
    case GgufType::I32: return "i32";
    case GgufType::F32: return "f32";
    case GgufType::Bool: return "bool";
    case GgufType::String: return "string";
    case GgufType::Array: return "array";
    case GgufType::U64: return "u64";
    case GgufType::I64: return "i64";
    case GgufType::F64: return "f64";
  }
  return "unknown";
}

GgufValue GgufValue::u8(uint8_t v) { GgufValue x; x.type_ = GgufType::U8; x.bits_ = v; return x; }
GgufValue GgufValue::u16(uint16_t v) { GgufValue x; x.type_ = GgufType::U16; x.bits_ = v; return x; }
GgufValue GgufValue::u32(uint32_t v) { GgufValue x; x.type_ = GgufType::U32; x.bits_ = v; return x; }
GgufValue GgufValue::u64(uint64_t v) { GgufValue x; x.type_ = GgufType::U64; x.bits_ = v; return x; }
GgufValue GgufValue::i8(int8_t v) { GgufValue x; x.type_ = GgufType::I8; x.bits_ = static_cast<uint64_t>(int64_t{v}); return x; }
GgufValue GgufValue::i16(int16_t v) { GgufValue x; x.type_ = GgufType::I16; x.bits_ = static_cast<uint64_t>(int64_t{v}); return x; }
GgufValue GgufValue::i32(int32_t v) { GgufValue x; x.type_ = GgufType::I32; x.bits_ = static_cast<uint64_t>(int64_t{v}); return x; }
GgufValue GgufValue::i64(int64_t v) { GgufValue x; x.type_ = GgufType::I64; x.bits_ = static_cast<uint64_t>(v); return x; }
GgufValue GgufValue::f32(float v) { GgufValue x; x.type_ = GgufType::F32; x.real_ = v; return x; }
GgufValue GgufValue::f64(double v) { GgufValue x; x.type_ = GgufType::F64; x.real_ = v; return x; }
GgufValue GgufValue::boolean(bool v) { GgufValue x; x.type_ = GgufType::Bool; x.bits_ = v ? 1 : 0; return x; }
GgufValue GgufValue::string(std::string v) { GgufValue x; x.type_ = GgufType::String; x.str_ = std::move(v); return x; }

GgufValue GgufValue::array(GgufType elem, std::vector<GgufValue> items) {
  LT_CHECK(elem != GgufType::Array, "GGUF arrays of arrays are not supported");
  for (const auto& i : items) LT_CHECK(i.type() == elem, "GGUF array item of another type");
  GgufValue x;
  x.type_ = GgufType::Array;
  x.elem_ = elem;
  x.items_ = std::move(items);
  return x;
}

GgufValue GgufValue::strings(const std::vector<std::string>& items) {
  std::vector<GgufValue> v;
  v.reserve(items.size());
  for (const auto& s : items) v.push_back(string(s));
  return array(GgufType::String, std::move(v));
}

GgufValue GgufValue::f32s(const std::vector<float>& items) {
  std::vector<GgufValue> v;
  v.reserve(items.size());
  for (float f : items) v.push_back(f32(f));
  return array(GgufType::F32, std::move(v));
}

GgufValue GgufValue::i32s(const std::vector<int32_t>& items) {
  std::vector<GgufValue> v;
  v.reserve(items.size());
  for (int32_t i : items) v.push_back(i32(i));
  return array(GgufType::I32, std::move(v));
}

uint64_t GgufValue::as_uint() const {
  LT_CHECK(is_unsigned(type_), std::string("GGUF value is ") + gguf_type_name(type_) + ", not unsigned");
  return bits_;
}
int64_t GgufValue::as_int() const {
  LT_CHECK(is_signed(type_), std::string("GGUF value is ") + gguf_type_name(type_) + ", not signed");
  return static_cast<int64_t>(bits_);
}
double GgufValue::as_float() const {
  LT_CHECK(type_ == GgufType::F32 || type_ == GgufType::F64,
           std::string("GGUF value is ") + gguf_type_name(type_) + ", not a float");
  return real_;
}
bool GgufValue::as_bool() const {
  LT_CHECK(type_ == GgufType::Bool, std::string("GGUF value is ") + gguf_type_name(type_) + ", not bool");
  return bits_ != 0;
}
const std::string& GgufValue::as_string() const {
  LT_CHECK(type_ == GgufType::String, std::string("GGUF value is ") + gguf_type_name(type_) + ", not a string");
  return str_;
}
const std::vector<GgufValue>& GgufValue::as_array() const {
  LT_CHECK(type_ == GgufType::Array, std::string("GGUF value is ") + gguf_type_name(type_) + ", not an array");
  return items_;
}

std::string GgufValue::describe() const {
  std::string t = gguf_type_name(type_);
  if (type_ == GgufType::Array)
    return "array[" + std::string(gguf_type_name(elem_)) + ", " + std::to_string(items_.size()) + "]";
  if (type_ == GgufType::String) return t + " " + quote(str_);
  if (type_ == GgufType::Bool) return t + (bits_ ? " true" : " false");
  if (type_ == GgufType::F32 || type_ == GgufType::F64) return t + " " + std::to_string(real_);
  if (is_signed(type_)) return t + " " + std::to_string(static_cast<int64_t>(bits_));
  return t + " " + std::to_string(bits_);
}

bool GgufValue::operator==(const GgufValue& o) const {
  if (type_ != o.type_) return false;
  if (type_ == GgufType::Array) return elem_ == o.elem_ && items_ == o.items_;
  if (type_ == GgufType::String) return str_ == o.str_;
  if (type_ == GgufType::F32 || type_ == GgufType::F64)
    return real_ == o.real_ || (std::isnan(real_) && std::isnan(o.real_));
  return bits_ == o.bits_;
}

}  // namespace loratune::io
