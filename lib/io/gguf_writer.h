// The GGUF writer: full models and LoRA adapters. Torch-free.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/gguf_codec.h"
#include "io/gguf_value.h"

namespace loratune::io {

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
