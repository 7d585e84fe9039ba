// The validating GGUF reader (export reads its files back with it to verify them; tests). Torch-free; the
// file is memory-mapped (or held in memory) and tensors are zero-copy views into it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/fs.h"
#include "io/gguf_codec.h"
#include "io/gguf_value.h"

namespace loratune::io {

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

}  // namespace loratune::io
