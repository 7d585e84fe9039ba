// The prepared-dataset on-disk format (torch-free): a streaming writer for one split and a
// memory-mapped reader that validates the files before handing out rows.
//
// A prepared dataset is a directory:
//   manifest.json     format_version, tokenizer_fingerprint, vocab_size, template, seq_len, packed,
//                     token_bytes, train_rows, val_rows, plus free-form keys (counts, sha256s, options)
//   train/, val/      one directory per split, each holding:
//     tokens.bin      all row tokens back to back: little-endian uint16 (token_bytes 2, when
//                     vocab_size <= 65536) or uint32 (token_bytes 4)
//     mask.bin        one byte per token, 1 = trained (in the loss), 0 = context only
//     rows.bin        one fixed 24-byte little-endian record per row:
//                       u64 offset of the row's first token in tokens.bin (in tokens, not bytes)
//                       u32 length (tokens), u32 number of samples packed into the row
//                       u64 offset of the row's first entry in starts.bin (in entries, not bytes)
//     starts.bin      u32 sample start offsets within each row (first is 0, strictly increasing)
//     sample_sources.bin  u32 per sample, parallel to starts.bin: the index of the input file the sample
//                     came from in manifest.json "source_paths" (for per-source evaluation). Optional for
//                     readers: datasets written before it existed lack it (then every row's sources is null).
// Rows are stored contiguously in order, which the reader checks: row i begins where row i-1 ends,
// in tokens.bin and in starts.bin, and the totals match the file sizes exactly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.h"
#include "data/shaping.h"

namespace loratune::data {

constexpr int kPreparedFormatVersion = 1;
constexpr size_t kRowRecordBytes = 24;

// The token width a vocabulary needs: 2 bytes when every id fits in uint16, else 4.
int token_bytes_for_vocab(int64_t vocab_size);

// Writes one split directory (created if missing). Each file streams through an AtomicFileWriter with
// a bounded buffer: nothing is visible under the final names until finish() commits all five files.
// Destroying an unfinished writer removes the temporary files (the split directory itself stays).
class SplitWriter {
 public:
  SplitWriter(const std::string& split_dir, int token_bytes /* 2 or 4 */);
  ~SplitWriter();
  SplitWriter(const SplitWriter&) = delete;
  SplitWriter& operator=(const SplitWriter&) = delete;

  void add(const Row& row);  // a malformed row (mask/ids lengths, starts, id range) is a bug of the caller
  void finish();             // commits all files

  int64_t rows() const { return rows_; }
  int64_t tokens() const { return tokens_; }
  int64_t trained_tokens() const { return trained_tokens_; }
  int64_t samples() const { return samples_; }

 private:
  class BufferedFile;
  std::string dir_;
  int token_bytes_;
  std::unique_ptr<BufferedFile> tokens_file_, mask_file_, rows_file_, starts_file_, sources_file_;
  int64_t rows_ = 0, tokens_ = 0, trained_tokens_ = 0, samples_ = 0;
  bool finished_ = false;
};

// One row, viewed in place in the mapped files (valid while its PreparedSplit lives).
struct RowView {
  const void* ids = nullptr;  // token_bytes wide each; read through id()
  int token_bytes = 2;
  const uint8_t* trained = nullptr;  // [length]
  const uint32_t* starts = nullptr;  // [n_samples]
  const uint32_t* sources = nullptr; // [n_samples] source index of each sample; null when not recorded
  uint32_t length = 0;
  uint32_t n_samples = 0;

  int32_t id(size_t i) const;
};

// A memory-mapped split. Opening validates file sizes and every row record (offsets, lengths, sample
// starts, and sample_sources.bin's size when present); a corrupt or truncated file is an input error
// naming the file (and row). Token values and
// mask bytes are not scanned (the manifest's sha256s cover content integrity). Copies share the maps.
class PreparedSplit {
 public:
  static PreparedSplit open(const std::string& split_dir, int token_bytes, int64_t expected_rows);

  int64_t rows() const { return rows_; }
  int64_t tokens() const { return tokens_; }
  RowView row(int64_t i) const;  // 0 <= i < rows()
  const std::string& dir() const { return dir_; }
  bool has_sources() const { return sources_map_ != nullptr; }  // sample_sources.bin present

 private:
  PreparedSplit() = default;
  void validate_rows() const;

  std::string dir_;
  int token_bytes_ = 2;
  int64_t rows_ = 0, tokens_ = 0, n_starts_ = 0;
  std::shared_ptr<const MappedFile> tokens_map_, mask_map_, rows_map_, starts_map_;
  std::shared_ptr<const MappedFile> sources_map_;  // null when the split has no sample_sources.bin
};

struct Manifest {
  int format_version = kPreparedFormatVersion;
  std::string tokenizer_fingerprint;  // sha256 hex of the tokenizer.model bytes
  int64_t vocab_size = 0;
  std::string template_name;  // stored as "template"
  int64_t seq_len = 0;
  bool packed = false;
  int token_bytes = 2;
  int64_t train_rows = 0, val_rows = 0;
  // Everything else (counts, sha256s, options): a JSON object whose keys are written at the top level
  // of manifest.json beside the fields above and read back verbatim.
  nlohmann::json extra = nlohmann::json::object();
};

std::string manifest_to_json(const Manifest& m);  // pretty JSON, ends with a newline
Manifest manifest_from_json(const std::string& text, const std::string& path);  // path: for messages
// Reads <dataset_dir>/manifest.json; validates the version (a newer/unknown version is an input error
// naming the file and both versions), the types of the fields, and token_bytes against vocab_size.
Manifest read_manifest(const std::string& dataset_dir);

// The input files in source-index order (manifest.json "source_paths", written by prepare: the training
// inputs, then the --val inputs). Empty for datasets written before it existed; a present but malformed
// list is an input error naming `path`.
std::vector<std::string> manifest_source_paths(const Manifest& m, const std::string& path);

// The variables the model's template was rendered with (manifest.json "template_vars"): name -> JSON text.
// Empty when none were given or the dataset predates them; a malformed entry is an input error naming `path`.
std::map<std::string, std::string> manifest_template_vars(const Manifest& m, const std::string& path);

// Opens a prepared dataset for a model: reads the manifest, checks that `tokenizer_fingerprint` equals
// the manifest's (a mismatch is an input error naming both and saying to re-run prepare with this
// model's tokenizer), then maps the splits. A split whose directory is absent is nullopt when the
// manifest counts no rows for it, and an error otherwise.
struct PreparedDataset {
  Manifest manifest;
  std::optional<PreparedSplit> train, val;
};
PreparedDataset open_prepared(const std::string& dataset_dir, const std::string& tokenizer_fingerprint);

}  // namespace loratune::data
