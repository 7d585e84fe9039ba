// safetensors: zero-copy memory-mapped reading with full header validation, atomic writing, and sharded
// checkpoints (model.safetensors.index.json). Torch-free.
//
// Layout: u64 little-endian N, N bytes of UTF-8 JSON (the header), then the data buffer. Each header entry
// is "name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end)} with offsets relative to the
// start of the data buffer; an optional "__metadata__" entry is a string->string map.
//
// Every malformed file is rejected with an input Error (exit 2) naming the file, and the tensor where one is
// involved; a parsed file is guaranteed to have every tensor's bytes inside the file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/fs.h"

namespace loratune::io {

enum class DType { BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, F8_E4M3, F8_E5M2 };

size_t dtype_size(DType dtype);                             // bytes per element
const char* dtype_name(DType dtype);                        // "F32", "BF16", ...
std::optional<DType> parse_dtype(const std::string& name);  // nullopt for unknown names
std::vector<std::string> dtype_names();                     // every supported name, in enum order

// "[3, 4]"; "[]" for a scalar.
std::string shape_to_string(const std::vector<int64_t>& shape);

// Limit the reference implementation puts on the header length N.
constexpr uint64_t kMaxHeaderBytes = 100000000;

// A tensor inside a parsed file (zero-copy). Valid while its SafetensorsFile is alive.
struct TensorView {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data;  // points into the file's bytes; little-endian, row-major
  size_t nbytes;        // == numel() * dtype_size(dtype)
  int64_t numel() const;
};

// One .safetensors file, validated on open. Immutable; share it via shared_ptr.
class SafetensorsFile {
 public:
  // Memory-maps and validates `path`.
  static std::shared_ptr<const SafetensorsFile> open(const std::string& path);
  // Validates an existing mapping; errors name m->path().
  static std::shared_ptr<const SafetensorsFile> from_mapping(std::shared_ptr<const MappedFile> m);
  // Validates bytes held in memory (tests, fuzzers); errors name `label`. mapping() is null for such files.
  static std::shared_ptr<const SafetensorsFile> from_bytes(std::shared_ptr<const std::string> bytes,
                                                           const std::string& label);

  const std::string& path() const { return path_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }  // sorted by data offset
  const TensorView* find(const std::string& name) const;               // nullptr if absent
  const TensorView& at(const std::string& name) const;                 // throws naming file + tensor
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::shared_ptr<const MappedFile> mapping() const { return mapping_; }
  uint64_t header_bytes() const { return header_bytes_; }  // N, the JSON header length

 private:
  SafetensorsFile() = default;
  void parse(const uint8_t* bytes, size_t size);

  std::string path_;
  std::shared_ptr<const MappedFile> mapping_;
  std::shared_ptr<const std::string> buffer_;
  std::vector<TensorView> tensors_;
  std::unordered_map<std::string, size_t> by_name_;
  std::map<std::string, std::string> metadata_;
  uint64_t header_bytes_ = 0;
};

// A checkpoint: a directory with model.safetensors or a sharded model.safetensors.index.json
// ({"metadata": {"total_size": N}, "weight_map": {tensor: shard_file}}), or a path to a single
// .safetensors file or to an index file. Validates every shard, that every tensor in the weight_map is in the
// shard the map names, and that no tensor is in two shards. Tensors a shard holds beyond its weight_map
// entries are part of the checkpoint too.
class Checkpoint {
 public:
  static Checkpoint open(const std::string& dir_or_file);

  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const;
  const TensorView& at(const std::string& name) const;  // throws naming the checkpoint + tensor
  std::shared_ptr<const SafetensorsFile> file_of(const std::string& name) const;  // throws like at()
  const std::string& path() const { return path_; }
  const std::vector<std::shared_ptr<const SafetensorsFile>>& files() const { return files_; }

 private:
  struct Entry {
    size_t file;
    const TensorView* view;
  };
  static Checkpoint open_single(const std::string& label, const std::string& file);
  static Checkpoint open_index(const std::string& label, const std::string& index_path);
  void add_file(std::shared_ptr<const SafetensorsFile> file);
  const Entry& entry(const std::string& name) const;

  std::string path_;
  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
  std::map<std::string, Entry> entries_;
};

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;  // must equal numel * dtype_size (else fail_input)
};

// Writes `path` atomically: u64 LE header length, compact JSON header (keys sorted) padded with spaces to a
// multiple of 8, the tensors back to back in the given order, and "__metadata__" when `metadata` is not
// empty. Duplicate names, "__metadata__" as a tensor name, non-UTF-8 strings and size mismatches are
// input errors; nothing is written then.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Writes into the existing directory `dir`, in shards of at most max_shard_bytes of tensor data (a larger
// tensor gets a shard of its own) named model-00001-of-0000N.safetensors, plus model.safetensors.index.json;
// with one shard, writes plain model.safetensors and no index. Each shard carries `metadata`. Everything is
// validated before the first file is written. A model.safetensors (when writing shards) or index (when
// writing one file) left in `dir` by an earlier layout is removed, so that the directory reads back as
// what was just written. Returns the file names written (shards first, then the index).
std::vector<std::string> write_safetensors_sharded(const std::string& dir,
                                                   const std::vector<TensorToWrite>& tensors,
                                                   uint64_t max_shard_bytes,
                                                   const std::map<std::string, std::string>& metadata = {});

constexpr const char* kSingleFileName = "model.safetensors";
constexpr const char* kIndexFileName = "model.safetensors.index.json";

}  // namespace loratune::io
