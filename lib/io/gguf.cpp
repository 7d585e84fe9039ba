#include "io/gguf.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace loratune::io {
namespace {

const char* const kCorruptHint = "the file is corrupt, truncated or not a GGUF file: re-export or re-download it";
constexpr size_t kMaxQuotedChars = 200;

std::string quote(const std::string& s) {
  if (s.size() <= kMaxQuotedChars) return "'" + s + "'";
  return "'" + s.substr(0, kMaxQuotedChars) + "...'";
}

bool valid_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::F64); }

// Bytes a scalar of type t occupies in the file (0 for strings and arrays).
size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::Bool: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    case GgufType::String: case GgufType::Array: return 0;
  }
  return 0;
}

bool is_unsigned(GgufType t) {
  return t == GgufType::U8 || t == GgufType::U16 || t == GgufType::U32 || t == GgufType::U64;
}
bool is_signed(GgufType t) {
  return t == GgufType::I8 || t == GgufType::I16 || t == GgufType::I32 || t == GgufType::I64;
}

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// ---- little-endian output ----
void put_le(std::string& out, uint64_t v, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_str(std::string& out, const std::string& s) {
  put_le(out, s.size(), 8);
  out += s;
}

void put_scalar(std::string& out, const GgufValue& v) {
  const GgufType t = v.type();
  switch (t) {
    case GgufType::F32: {
      float f = static_cast<float>(v.as_float());
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      put_le(out, bits, 4);
      return;
    }
    case GgufType::F64: {
      double d = v.as_float();
      uint64_t bits;
      std::memcpy(&bits, &d, 8);
      put_le(out, bits, 8);
      return;
    }
    case GgufType::Bool: put_le(out, v.as_bool() ? 1 : 0, 1); return;
    case GgufType::String: put_str(out, v.as_string()); return;
    case GgufType::Array: LT_CHECK(false, "put_scalar on an array"); return;
    default: break;
  }
  const uint64_t bits = is_unsigned(t) ? v.as_uint() : static_cast<uint64_t>(v.as_int());
  put_le(out, bits, scalar_size(t));
}

void put_value(std::string& out, const GgufValue& v) {
  if (v.type() != GgufType::Array) {
    put_scalar(out, v);
    return;
  }
  put_le(out, static_cast<uint32_t>(v.array_type()), 4);
  put_le(out, v.as_array().size(), 8);
  for (const auto& item : v.as_array()) put_scalar(out, item);
}

// ---- bounds-checked input ----
class Cursor {
 public:
  Cursor(const uint8_t* p, size_t size, const std::string& path) : p_(p), size_(size), path_(path) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  uint64_t le(size_t bytes, const std::string& what) {
    need(bytes, what);
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p_[pos_ + i]) << (8 * i);
    pos_ += bytes;
    return v;
  }
  std::string str(const std::string& what) {
    const uint64_t n = le(8, what + " length");
    if (n > remaining())
      fail(what + ": string length " + std::to_string(n) + " runs past the end of the file");
    std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  [[noreturn]] void fail(const std::string& what) const {
    fail_input(path_ + ": " + what + " (at byte " + std::to_string(pos_) + ")", kCorruptHint);
  }

 private:
  void need(size_t bytes, const std::string& what) const {
    if (bytes > remaining()) fail(what + ": unexpected end of file");
  }
  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

GgufValue read_scalar(Cursor& c, GgufType t, const std::string& what) {
  switch (t) {
    case GgufType::U8: return GgufValue::u8(static_cast<uint8_t>(c.le(1, what)));
    case GgufType::I8: return GgufValue::i8(static_cast<int8_t>(c.le(1, what)));
    case GgufType::U16: return GgufValue::u16(static_cast<uint16_t>(c.le(2, what)));
    case GgufType::I16: return GgufValue::i16(static_cast<int16_t>(c.le(2, what)));
    case GgufType::U32: return GgufValue::u32(static_cast<uint32_t>(c.le(4, what)));
    case GgufType::I32: return GgufValue::i32(static_cast<int32_t>(c.le(4, what)));
    case GgufType::U64: return GgufValue::u64(c.le(8, what));
    case GgufType::I64: return GgufValue::i64(static_cast<int64_t>(c.le(8, what)));
    case GgufType::F32: {
      uint32_t bits = static_cast<uint32_t>(c.le(4, what));
      float f;
      std::memcpy(&f, &bits, 4);
      return GgufValue::f32(f);
    }
    case GgufType::F64: {
      uint64_t bits = c.le(8, what);
      double d;
      std::memcpy(&d, &bits, 8);
      return GgufValue::f64(d);
    }
    case GgufType::Bool: {
      uint64_t b = c.le(1, what);
      if (b > 1) c.fail(what + ": bool value " + std::to_string(b) + " is neither 0 nor 1");
      return GgufValue::boolean(b == 1);
    }
    case GgufType::String: return GgufValue::string(c.str(what));
    case GgufType::Array: break;
  }
  c.fail(what + ": arrays of arrays are not supported");
}

GgufValue read_value(Cursor& c, GgufType t, const std::string& what) {
  if (t != GgufType::Array) return read_scalar(c, t, what);
  const uint32_t et = static_cast<uint32_t>(c.le(4, what + " element type"));
  if (!valid_type(et)) c.fail(what + ": unknown array element type " + std::to_string(et));
  const auto elem = static_cast<GgufType>(et);
  if (elem == GgufType::Array) c.fail(what + ": arrays of arrays are not supported");
  const uint64_t n = c.le(8, what + " element count");
  // Every element takes at least one byte (strings eight): a count beyond that cannot fit in the file.
  const size_t min_size = elem == GgufType::String ? 8 : scalar_size(elem);
  if (n > c.remaining() / min_size)
    c.fail(what + ": array of " + std::to_string(n) + " elements runs past the end of the file");
  std::vector<GgufValue> items;
  items.reserve(static_cast<size_t>(n));
  for (uint64_t i = 0; i < n; ++i) items.push_back(read_scalar(c, elem, what));
  return GgufValue::array(elem, std::move(items));
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Types

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

const char* ggml_type_name(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return "F32";
    case GgmlType::F16: return "F16";
    case GgmlType::Q8_0: return "Q8_0";
    case GgmlType::BF16: return "BF16";
  }
  return "unknown";
}

int64_t ggml_block_size(GgmlType t) { return t == GgmlType::Q8_0 ? 32 : 1; }

size_t ggml_block_bytes(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 4;
    case GgmlType::F16: return 2;
    case GgmlType::BF16: return 2;
    case GgmlType::Q8_0: return 34;
  }
  return 0;
}

uint64_t ggml_nbytes(GgmlType t, int64_t numel) {
  LT_CHECK(numel >= 0 && numel % ggml_block_size(t) == 0,
           std::string("ggml_nbytes: ") + std::to_string(numel) + " elements do not fill whole " +
               ggml_type_name(t) + " blocks");
  return static_cast<uint64_t>(numel / ggml_block_size(t)) * ggml_block_bytes(t);
}

namespace {
bool known_ggml_type(uint32_t t) { return t == 0 || t == 1 || t == 8 || t == 30; }
}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Values

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

// ---------------------------------------------------------------------------------------------------------
// Element encodings

uint16_t fp32_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t exp = (x >> 23) & 0xFF;
  uint32_t mant = x & 0x7FFFFF;
  if (exp == 0xFF) return static_cast<uint16_t>(sign | 0x7C00 | (mant ? 0x200 | (mant >> 13) : 0));  // inf / NaN
  const int32_t e = static_cast<int32_t>(exp) - 127 + 15;  // the half exponent
  if (e >= 0x1F) return static_cast<uint16_t>(sign | 0x7C00);  // overflow -> inf
  if (e <= 0) {
    // Subnormal half (or zero): shift the full significand (with its implicit 1) into place, rounding to
    // nearest even on the bits shifted out.
    if (e < -10) return sign;  // below half of the smallest subnormal: rounds to zero
    mant |= 0x800000;
    const uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // a carry into the exponent is correct (up to inf)
  return static_cast<uint16_t>(sign | h);
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  const uint32_t mant = h & 0x3FF;
  uint32_t x;
  if (exp == 0x1F) {
    x = sign | 0x7F800000 | (mant << 13);
  } else if (exp != 0) {
    x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  } else if (mant == 0) {
    x = sign;
  } else {
    // Subnormal: value = mant * 2^-24, exact in fp32.
    float f = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -f : f;
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

uint16_t fp32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet NaN
  x += 0x7FFF + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}

float bf16_to_fp32(uint16_t b) {
  const uint32_t x = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

std::vector<uint8_t> ggml_encode(const float* x, int64_t n, GgmlType t) {
  std::vector<uint8_t> out(ggml_nbytes(t, n));
  uint8_t* p = out.data();
  switch (t) {
    case GgmlType::F32:
      std::memcpy(p, x, static_cast<size_t>(n) * 4);
      break;
    case GgmlType::F16:
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = t == GgmlType::F16 ? fp32_to_fp16(x[i]) : fp32_to_bf16(x[i]);
        p[2 * i] = static_cast<uint8_t>(h & 0xFF);
        p[2 * i + 1] = static_cast<uint8_t>(h >> 8);
      }
      break;
    case GgmlType::Q8_0:
      for (int64_t b = 0; b < n / 32; ++b) {
        const float* xb = x + 32 * b;
        uint8_t* pb = p + 34 * b;
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xb[i]));
        const float d = amax / 127.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        const uint16_t dh = fp32_to_fp16(d);
        pb[0] = static_cast<uint8_t>(dh & 0xFF);
        pb[1] = static_cast<uint8_t>(dh >> 8);
        for (int i = 0; i < 32; ++i) pb[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(std::round(xb[i] * id)));
      }
      break;
  }
  return out;
}

std::vector<float> ggml_decode(const uint8_t* p, int64_t n, GgmlType t) {
  LT_CHECK(n >= 0 && n % ggml_block_size(t) == 0, "ggml_decode: partial block");
  std::vector<float> out(static_cast<size_t>(n));
  switch (t) {
    case GgmlType::F32:
      std::memcpy(out.data(), p, static_cast<size_t>(n) * 4);
      break;
    case GgmlType::F16:
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = static_cast<uint16_t>(p[2 * i] | (p[2 * i + 1] << 8));
        out[static_cast<size_t>(i)] = t == GgmlType::F16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
      }
      break;
    case GgmlType::Q8_0:
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* pb = p + 34 * b;
        const float d = fp16_to_fp32(static_cast<uint16_t>(pb[0] | (pb[1] << 8)));
        for (int i = 0; i < 32; ++i)
          out[static_cast<size_t>(32 * b + i)] = d * static_cast<float>(static_cast<int8_t>(pb[2 + i]));
      }
      break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Reader

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

std::shared_ptr<const GgufFile> GgufFile::open(const std::string& path) {
  if (!path_exists(path))
    fail_input(path + ": no such file", "check the path of the .gguf file");
  if (is_directory(path)) fail_input(path + ": is a directory, not a GGUF file", "pass the path of a .gguf file");
  auto mapping = MappedFile::open(path);
  std::shared_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  f->mapping_ = mapping;
  f->parse(mapping->data(), mapping->size());
  return f;
}

std::shared_ptr<const GgufFile> GgufFile::from_bytes(std::shared_ptr<const std::string> bytes, const std::string& label) {
  std::shared_ptr<GgufFile> f(new GgufFile());
  f->path_ = label;
  f->buffer_ = std::move(bytes);
  f->parse(reinterpret_cast<const uint8_t*>(f->buffer_->data()), f->buffer_->size());
  return f;
}

void GgufFile::parse(const uint8_t* bytes, size_t size) {
  Cursor c(bytes, size, path_);
  if (size < 4 || std::memcmp(bytes, "GGUF", 4) != 0) {
    const bool legacy = size >= 4 && (std::memcmp(bytes, "lmgg", 4) == 0 || std::memcmp(bytes, "fmgg", 4) == 0 ||
                                      std::memcmp(bytes, "tjgg", 4) == 0);
    fail_input(path_ + ": not a GGUF file (the first 4 bytes are not \"GGUF\")",
               legacy ? "this is a pre-GGUF GGML file: convert it with llama.cpp's tools, or re-export it"
                      : kCorruptHint);
  }
  c.le(4, "magic");
  version_ = static_cast<uint32_t>(c.le(4, "version"));
  if (version_ != 2 && version_ != 3)
    fail_input(path_ + ": GGUF version " + std::to_string(version_) + " is not supported (versions 2 and 3 are)",
               "re-export the file with a current converter");
  const uint64_t n_tensors = c.le(8, "tensor count");
  const uint64_t n_kv = c.le(8, "metadata count");
  // Each key/value takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least 8 + 4 + 8 + 4 + 8.
  if (n_kv > c.remaining() / 13) c.fail("metadata count " + std::to_string(n_kv) + " cannot fit in the file");
  if (n_tensors > c.remaining() / 32) c.fail("tensor count " + std::to_string(n_tensors) + " cannot fit in the file");

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.str("metadata key #" + std::to_string(i));
    const uint32_t t = static_cast<uint32_t>(c.le(4, "type of key " + quote(key)));
    if (!valid_type(t)) c.fail("key " + quote(key) + ": unknown value type " + std::to_string(t));
    GgufValue v = read_value(c, static_cast<GgufType>(t), "key " + quote(key));
    if (!kv_index_.emplace(key, kv_.size()).second) c.fail("duplicate key " + quote(key));
    kv_.emplace_back(std::move(key), std::move(v));
  }
  if (const GgufValue* a = find("general.alignment")) {
    if (a->type() != GgufType::U32)
      fail_input(path_ + ": key 'general.alignment' has type " + gguf_type_name(a->type()) + ", expected u32",
                 kCorruptHint);
    alignment_ = a->as_uint();
    if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0)
      fail_input(path_ + ": general.alignment " + std::to_string(alignment_) + " is not a power of two", kCorruptHint);
  }

  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo ti;
    ti.name = c.str("tensor name #" + std::to_string(i));
    const std::string what = "tensor " + quote(ti.name);
    if (ti.name.size() > kGgufMaxTensorName)
      c.fail(what + ": name is " + std::to_string(ti.name.size()) + " bytes, longer than ggml's limit of " +
             std::to_string(kGgufMaxTensorName));
    const uint32_t n_dims = static_cast<uint32_t>(c.le(4, what + " dimension count"));
    if (n_dims == 0 || n_dims > kGgufMaxDims)
      c.fail(what + ": " + std::to_string(n_dims) + " dimensions (ggml supports 1 to 4)");
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = c.le(8, what + " shape");
      if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          (ne != 0 && static_cast<uint64_t>(numel) > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / ne))
        c.fail(what + ": the element count overflows");
      ti.ne.push_back(static_cast<int64_t>(ne));
      numel *= static_cast<int64_t>(ne);
    }
    const uint32_t type = static_cast<uint32_t>(c.le(4, what + " type"));
    if (!known_ggml_type(type))
      fail_input(path_ + ": " + what + " has ggml type " + std::to_string(type) +
                     ", which loratune's reader does not decode (it reads F32, F16, BF16 and Q8_0)",
                 "only GGUF files written by loratune export (or with those types) can be read back");
    ti.type = static_cast<GgmlType>(type);
    if (ti.ne[0] % ggml_block_size(ti.type) != 0)
      c.fail(what + ": row length " + std::to_string(ti.ne[0]) + " is not a multiple of the " +
             ggml_type_name(ti.type) + " block size " + std::to_string(ggml_block_size(ti.type)));
    ti.offset = c.le(8, what + " offset");
    ti.nbytes = ggml_nbytes(ti.type, numel);
    if (!tensor_index_.emplace(ti.name, tensors_.size()).second) c.fail("duplicate tensor name " + quote(ti.name));
    tensors_.push_back(std::move(ti));
  }

  data_offset_ = align_up(c.pos(), alignment_);
  if (data_offset_ > size && !tensors_.empty())
    fail_input(path_ + ": the data section starts past the end of the file (truncated file?)", kCorruptHint);
  uint64_t expected = 0;
  for (auto& ti : tensors_) {
    const std::string what = "tensor " + quote(ti.name);
    if (ti.offset != expected)
      fail_input(path_ + ": " + what + " is at data offset " + std::to_string(ti.offset) + ", expected " +
                     std::to_string(expected) + " (tensors must lie back to back, each padded to " +
                     std::to_string(alignment_) + " bytes, as llama.cpp requires)",
                 kCorruptHint);
    if (ti.nbytes > size - std::min<uint64_t>(size, data_offset_) ||
        ti.offset > size - data_offset_ - ti.nbytes)
      fail_input(path_ + ": " + what + " (" + std::to_string(ti.nbytes) + " bytes at data offset " +
                     std::to_string(ti.offset) + ") runs past the end of the file (truncated file?)",
                 kCorruptHint);
    ti.data = bytes + data_offset_ + ti.offset;
    expected = align_up(ti.offset + ti.nbytes, alignment_);
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GgufValue& GgufFile::at(const std::string& key, GgufType type) const {
  const GgufValue* v = find(key);
  if (!v) fail_input(path_ + ": metadata key '" + key + "' is missing", "is this GGUF file for another purpose?");
  if (v->type() != type)
    fail_input(path_ + ": metadata key '" + key + "' has type " + gguf_type_name(v->type()) + ", expected " +
                   gguf_type_name(type),
               "llama.cpp rejects keys of the wrong type too: re-export the file");
  return *v;
}

uint32_t GgufFile::get_u32(const std::string& key) const { return static_cast<uint32_t>(at(key, GgufType::U32).as_uint()); }
float GgufFile::get_f32(const std::string& key) const { return static_cast<float>(at(key, GgufType::F32).as_float()); }
bool GgufFile::get_bool(const std::string& key) const { return at(key, GgufType::Bool).as_bool(); }
const std::string& GgufFile::get_string(const std::string& key) const { return at(key, GgufType::String).as_string(); }

const std::vector<GgufValue>& GgufFile::get_array(const std::string& key, GgufType elem) const {
  const GgufValue& v = at(key, GgufType::Array);
  if (v.array_type() != elem)
    fail_input(path_ + ": metadata key '" + key + "' is an array of " + gguf_type_name(v.array_type()) +
                   ", expected an array of " + gguf_type_name(elem),
               "llama.cpp rejects keys of the wrong type too: re-export the file");
  return v.as_array();
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensorInfo& GgufFile::tensor(const std::string& name) const {
  const GgufTensorInfo* t = find_tensor(name);
  if (!t) fail_input(path_ + ": no tensor " + quote(name), "is this GGUF file for another model?");
  return *t;
}

// ---------------------------------------------------------------------------------------------------------
// Writer

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (const auto& kv : kv_) LT_CHECK(kv.first != key, "GGUF key '" + key + "' set twice");
  if (key == "general.alignment") {
    LT_CHECK(value.type() == GgufType::U32 && value.as_uint() > 0 && (value.as_uint() & (value.as_uint() - 1)) == 0,
             "general.alignment must be a u32 power of two");
    LT_CHECK(tensors_.empty(), "set general.alignment before adding tensors");
  }
  kv_.emplace_back(key, std::move(value));
}

uint64_t GgufWriter::alignment() const {
  for (const auto& kv : kv_)
    if (kv.first == "general.alignment") return kv.second.as_uint();
  return kGgufDefaultAlignment;
}

void GgufWriter::add_tensor(const std::string& name, std::vector<int64_t> ne, GgmlType type, Producer produce) {
  const std::string what = "GGUF tensor " + quote(name);
  if (name.empty() || name.size() > kGgufMaxTensorName)
    fail_input(what + ": names must have 1 to " + std::to_string(kGgufMaxTensorName) + " bytes (ggml's limit)");
  if (names_.count(name)) fail_input(what + " added twice");
  if (ne.empty() || ne.size() > kGgufMaxDims)
    fail_input(what + ": " + std::to_string(ne.size()) + " dimensions (ggml supports 1 to 4)");
  int64_t numel = 1;
  for (int64_t d : ne) {
    if (d < 0) fail_input(what + ": negative dimension " + std::to_string(d));
    numel *= d;
  }
  if (ne[0] % ggml_block_size(type) != 0)
    fail_input(what + ": row length " + std::to_string(ne[0]) + " is not a multiple of the " +
               ggml_type_name(type) + " block size " + std::to_string(ggml_block_size(type)));
  names_.emplace(name, tensors_.size());
  tensors_.push_back({name, std::move(ne), type, ggml_nbytes(type, numel), std::move(produce)});
}

void GgufWriter::add_tensor(const std::string& name, std::vector<int64_t> ne, GgmlType type, std::vector<uint8_t> bytes) {
  auto shared = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  add_tensor(name, std::move(ne), type, [shared] { return *shared; });
}

uint64_t GgufWriter::data_bytes() const {
  uint64_t n = 0;
  for (const auto& t : tensors_) n = align_up(n + t.nbytes, alignment());
  return n;
}

void GgufWriter::write(const std::string& path) const {
  const uint64_t align = alignment();
  std::string head;
  head += "GGUF";
  put_le(head, kGgufVersion, 4);
  put_le(head, tensors_.size(), 8);
  put_le(head, kv_.size(), 8);
  for (const auto& [key, value] : kv_) {
    put_str(head, key);
    put_le(head, static_cast<uint32_t>(value.type()), 4);
    put_value(head, value);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_str(head, t.name);
    put_le(head, t.ne.size(), 4);
    for (int64_t d : t.ne) put_le(head, static_cast<uint64_t>(d), 8);
    put_le(head, static_cast<uint32_t>(t.type), 4);
    put_le(head, offset, 8);
    offset = align_up(offset + t.nbytes, align);
  }
  head.resize(static_cast<size_t>(align_up(head.size(), align)), '\0');

  AtomicFileWriter w(path);
  w.write(head);
  const std::string zeros(static_cast<size_t>(align), '\0');
  for (const auto& t : tensors_) {
    const std::vector<uint8_t> bytes = t.produce();
    LT_CHECK(bytes.size() == t.nbytes, "GGUF tensor '" + t.name + "': produced " + std::to_string(bytes.size()) +
                                           " bytes, expected " + std::to_string(t.nbytes));
    w.write(bytes.data(), bytes.size());
    w.write(zeros.data(), static_cast<size_t>(align_up(t.nbytes, align) - t.nbytes));
  }
  w.commit();
}

}  // namespace loratune::io
