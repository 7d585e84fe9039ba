// Shaping of tokenized samples into training rows (torch-free): chunking of long documents with an
// optional overlap, truncation of over-long prompt/completion samples, packing into seq-len rows with
// the sample boundaries recorded, and the content keys behind dedup and the train/val split.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/sample.h"

namespace loratune::data {

enum class Side { Left, Right };

// Splits a sample longer than seq_len into chunks of at most seq_len tokens. Consecutive chunks overlap
// by `stride` tokens (0 <= stride < seq_len): chunk k starts at k * (seq_len - stride). In every chunk
// after the first, the overlapped leading tokens are context only (trained = 0), so no token is trained
// twice. A sample that fits is returned as is (one element). Chunks keep the sample's source and line.
// A bad seq_len/stride is an input error naming --seq-len/--stride.
std::vector<TokenizedSample> chunk(const TokenizedSample& s, int64_t seq_len, int64_t stride);

// Cuts a sample to seq_len tokens, dropping from the given side (Left drops the beginning, e.g. an
// over-long prompt; Right drops the end). Sets truncated = true when it cuts. Returns whether it cut.
bool truncate(TokenizedSample& s, int64_t seq_len, Side side);

// One training row of at most seq_len tokens.
struct Row {
  std::vector<int32_t> ids;
  std::vector<uint8_t> trained;  // 1 = token is a loss target; same length as ids
  std::vector<uint32_t> starts;  // offsets where each packed sample begins (starts[0] == 0), increasing
  std::vector<uint32_t> sources; // each packed sample's source_index, parallel to starts; empty = all 0
};

// Streams samples into rows and hands each finished row to `emit`.
// pack = true: samples are packed first-fit into a bounded window of open rows (creation order), so
// memory stays bounded and the output is deterministic. A row that becomes exactly full is emitted at
// once; when a sample fits no open row and the window is full, the oldest open row is emitted to make
// room. A sample is never split: every sample must already be <= seq_len (chunk/truncate first).
// pack = false: one sample per row, emitted at once (the reader/batcher pads; padding is never stored).
// Empty samples are ignored. finish() flushes the open rows in creation order; add() after finish() is
// a bug.
class Packer {
 public:
  Packer(int64_t seq_len, bool pack, std::function<void(Row&&)> emit, size_t window = 32);
  void add(TokenizedSample&& s);
  void finish();

 private:
  void emit_open(size_t index);  // emits open_[index] and removes it from the window

  int64_t seq_len_;
  bool pack_;
  std::function<void(Row&&)> emit_;
  size_t window_;
  std::vector<Row> open_;  // open rows in creation order; at most window_ of them
  bool finished_ = false;
};

// Exact-duplicate key: the first 8 bytes (big-endian) of the SHA-256 of the normalised content.
// Normalisation (NFC is out of scope): runs of ASCII whitespace collapse to one space, the ends are
// trimmed, ASCII letters are lower-cased.
uint64_t dedup_key(const std::string& content);

// The normalisation dedup_key and is_val apply (exposed for tests and reports). Each field of a
// record_content string is trimmed too: whitespace next to a field separator is dropped.
std::string normalise_content(const std::string& content);

// Canonical content string of a record for dedup/split: a format tag followed by the record's fields
// (text; prompt, completion; instruction, input, output; each chat role and content; token ids and
// mask), joined by an ASCII unit separator (0x1F). Separator bytes inside a field are escaped, so two
// different records can never produce the same string by concatenation, and the separators survive
// normalise_content unchanged. The source file and line are not part of the content.
std::string record_content(const Record& r);

// Deterministic per-sample split: true (val) when (h mod 1e6) < val_fraction * 1e6, where h is bytes
// 8..15 of the SHA-256 of the normalised content - independent of dedup_key's bits. The decision depends
// on the content alone, so adding data never moves existing samples between splits, and case/whitespace
// variants of one text land in the same split. val_fraction outside [0, 1] is an input error.
bool is_val(const std::string& content, double val_fraction);

// Both keys of one content from one hash: dedup = dedup_key(content), split = the bits is_val tests;
// is_val_key(content_keys(c).split, f) == is_val(c, f).
struct ContentKeys {
  uint64_t dedup = 0;
  uint64_t split = 0;
};
ContentKeys content_keys(const std::string& content);
bool is_val_key(uint64_t split_key, double val_fraction);

}  // namespace loratune::data
