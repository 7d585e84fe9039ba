// GGUF v3 (ggml-org/ggml docs/gguf.md): the file format llama.cpp, ollama and friends load. A writer for
// full models and LoRA adapters, a validating reader (used to verify exports and in tests), and the
// element encodings export needs (F32, F16, BF16, Q8_0). Torch-free.
//
// Layout: "GGUF", u32 version, u64 tensor_count, u64 kv_count, the key/value pairs (key string, u32 value
// type, value), the tensor infos (name, u32 n_dims, u64 ne[n_dims] with ne[0] the fastest-varying
// dimension, u32 ggml type, u64 offset relative to the data section), padding to general.alignment
// (default 32), then the data section: each tensor's bytes at its offset, padded to the alignment.
// Strings are u64 length + bytes (no NUL). Everything is little-endian.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/fs.h"

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

// ggml tensor types loratune writes and reads (the numbers are ggml's).
enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q8_0 = 8, BF16 = 30 };
const char* ggml_type_name(GgmlType t);  // "F32", "F16", "Q8_0", "BF16"
int64_t ggml_block_size(GgmlType t);     // elements per block: 1, or 32 for Q8_0
size_t ggml_block_bytes(GgmlType t);     // bytes per block: 4, 2, 34 (f16 scale + 32 int8), 2
// Bytes of `numel` elements; numel must be a multiple of the block size (LT_CHECK).
uint64_t ggml_nbytes(GgmlType t, int64_t numel);

// Element encodings. `n` must be a multiple of the type's block size (else an internal error: callers
// pick a type that fits the row length first).
// Q8_0 follows ggml's reference quantize_row_q8_0_ref: per block of 32, d = max|x| / 127 stored as f16,
// q_i = round-half-away-from-zero(x_i * (1/d)) as int8 (0 when d == 0); decoding gives f16(d) * q_i.
std::vector<uint8_t> ggml_encode(const float* x, int64_t n, GgmlType t);
std::vector<float> ggml_decode(const uint8_t* bytes, int64_t n, GgmlType t);
uint16_t fp32_to_fp16(float f);  // IEEE half, round to nearest even; overflow -> inf, NaN stays NaN
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);  // round to nearest even; NaN stays a quiet NaN
float bf16_to_fp32(uint16_t b);

constexpr uint32_t kGgufVersion = 3;
constexpr uint64_t kGgufDefaultAlignment = 32;
constexpr size_t kGgufMaxTensorName = 63;  // ggml's GGML_MAX_NAME (64) minus the terminating NUL
constexpr size_t kGgufMaxDims = 4;

// A tensor inside a parsed file (zero-copy; valid while its GgufFile lives).
struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // ne[0] fastest; an HF [out, in] matrix is ne = [in, out]
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;      // relative to the data section
  const uint8_t* data = nullptr;
  uint64_t nbytes = 0;
  int64_t numel() const;
};

// A GGUF file, validated on open. Every malformed file is an input Error (exit 2) naming the file (and the
// key or tensor). Checked: magic and version (2 or 3: the same layout), counts and string lengths against
// the file size, value types, no nested arrays, no duplicate keys or tensor names, general.alignment (a
// u32 power of two), tensor names of at most 63 bytes, 1..4 dimensions, element counts (no overflow, rows a
// multiple of the block size), known ggml types, and that the tensors lie back to back in the data section
// at aligned offsets (what llama.cpp requires) inside the file.
class GgufFile {
 public:
  static std::shared_ptr<const GgufFile> open(const std::string& path);
  // Validates bytes held in memory (tests, fuzzers); errors name `label`.
  static std::shared_ptr<const GgufFile> from_bytes(std::shared_ptr<const std::string> bytes, const std::string& label);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // file offset of the data section

  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }  // file order
  const GgufValue* find(const std::string& key) const;  // nullptr if absent
  // Typed getters: a missing key or another type is an input error naming the file, the key and both types.
  const GgufValue& at(const std::string& key, GgufType type) const;
  uint32_t get_u32(const std::string& key) const;
  float get_f32(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
  // An array whose elements have type `elem` (checked like the scalars).
  const std::vector<GgufValue>& get_array(const std::string& key, GgufType elem) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }  // file order
  const GgufTensorInfo* find_tensor(const std::string& name) const;       // nullptr if absent
  const GgufTensorInfo& tensor(const std::string& name) const;            // throws naming file + tensor

 private:
  GgufFile() = default;
  void parse(const uint8_t* bytes, size_t size);

  std::string path_;
  std::shared_ptr<const MappedFile> mapping_;
  std::shared_ptr<const std::string> buffer_;
  uint32_t version_ = 0;
  uint64_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::unordered_map<std::string, size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

// Builds a GGUF file: metadata in insertion order, tensors in insertion order. Tensor bytes are produced
// on demand while writing, so a large model never needs all of its converted bytes in memory at once.
class GgufWriter {
 public:
  using Producer = std::function<std::vector<uint8_t>()>;  // the tensor's bytes in its ggml type

  // Adds a key; a key set twice is an internal error (each key has one writer in the exporters).
  void set(const std::string& key, GgufValue value);
  // Adds a tensor of shape `ne` (ne[0] fastest) and type `type`; produce() must return exactly
  // ggml_nbytes(type, numel) bytes. Names longer than 63 bytes, duplicates, 0 or more than 4 dimensions,
  // negative sizes and rows that are not a multiple of the block size are input errors naming the tensor.
  void add_tensor(const std::string& name, std::vector<int64_t> ne, GgmlType type, Producer produce);
  void add_tensor(const std::string& name, std::vector<int64_t> ne, GgmlType type, std::vector<uint8_t> bytes);

  size_t tensor_count() const { return tensors_.size(); }
  uint64_t data_bytes() const;  // the data section's size including alignment padding

  // Writes `path` atomically (<path>.tmp, fsync, rename): nothing appears under `path` unless the whole
  // file was written. A write error (e.g. a full disk) is a runtime error naming the path.
  void write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> ne;
    GgmlType type;
    uint64_t nbytes;
    Producer produce;
  };
  uint64_t alignment() const;

  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Tensor> tensors_;
  std::unordered_map<std::string, size_t> names_;
};

}  // namespace loratune::io
