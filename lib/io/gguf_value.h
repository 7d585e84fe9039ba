// GGUF metadata values: the value types a key can hold (the u32 stored in the file) and GgufValue, one
// typed value; plus the file-format limits the reader and the writer share. Torch-free.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace loratune::io {

// GGUF metadata value types (the u32 stored in the file).
enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9,
  U64 = 10, I64 = 11, F64 = 12,
};
const char* gguf_type_name(GgufType t);  // "u32", "string", "array", ...

// One metadata value. Scalars keep their exact GGUF type (llama.cpp rejects a key whose type differs from
// the one it expects, e.g. an i32 where it reads a u32), arrays keep their element type.
class GgufValue {
 public:
  static GgufValue u8(uint8_t v);
  static GgufValue i8(int8_t v);
  static GgufValue u16(uint16_t v);
  static GgufValue i16(int16_t v);
  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue u64(uint64_t v);
  static GgufValue i64(int64_t v);
  static GgufValue f32(float v);
  static GgufValue f64(double v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  // An array whose items all have type `elem` (checked; arrays of arrays are not supported).
  static GgufValue array(GgufType elem, std::vector<GgufValue> items);
  static GgufValue strings(const std::vector<std::string>& items);
  static GgufValue f32s(const std::vector<float>& items);
  static GgufValue i32s(const std::vector<int32_t>& items);

  GgufType type() const { return type_; }
  GgufType array_type() const { return elem_; }  // arrays only
  // Typed access; a mismatch is an internal error (readers check type() first and report the key).
  uint64_t as_uint() const;  // U8, U16, U32, U64
  int64_t as_int() const;    // I8, I16, I32, I64
  double as_float() const;   // F32, F64
  bool as_bool() const;
  const std::string& as_string() const;
  const std::vector<GgufValue>& as_array() const;
  // "u32 7", "string 'llama'", "array[string, 512]": for messages and dumps.
  std::string describe() const;

  bool operator==(const GgufValue& o) const;
  bool operator!=(const GgufValue& o) const { return !(*this == o); }

 private:
  GgufType type_ = GgufType::U8;
  GgufType elem_ = GgufType::U8;
  uint64_t bits_ = 0;  // unsigned, signed (two's complement) and bool scalars
  double real_ = 0;    // F32 (exactly representable) and F64
  std::string str_;
  std::vector<GgufValue> items_;
};

constexpr uint32_t kGgufVersion = 3;
constexpr uint64_t kGgufDefaultAlignment = 32;
constexpr size_t kGgufMaxTensorName = 63;  // ggml's GGML_MAX_NAME (64) minus the terminating NUL
constexpr size_t kGgufMaxDims = 4;

}  // namespace loratune::io
