// The record reader of `loratune prepare`: streams validated Records out of the input files, .txt/.md
// (raw text, split into documents by text_split.h) and .jsonl (one record a line, parsed by records.h).
// Input discovery (expand_inputs) is in inputs.h, included here for the callers of both.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/inputs.h"
#include "data/sample.h"
#include "data/text_split.h"

namespace loratune::data {

struct SourceOptions {
  std::optional<Format> forced_format;  // --format; nullopt = auto-detect per .jsonl file
  TextSplit text_split = TextSplit::None;  // how .txt/.md files split into documents
  std::string delimiter;                // text_split Delimiter: a line equal to it separates documents
  bool skip_invalid = false;            // --on-error skip: invalid records are counted and listed, not fatal
  int64_t vocab_size = 0;               // > 0: pre-tokenized ids must be < vocab_size
};

// One rejected record (or whole file). line is the 1-based line in the file; 0 for whole-file problems
// that have no line (an empty file).
struct InvalidRecord {
  std::string source;
  int64_t line = 0;
  std::string problem;
};

struct SourceStats {
  std::string source;
  Format format = Format::Text;  // forced, or detected from the file's first valid record
  int64_t records = 0;           // valid records (documents for text files) returned by next()
  int64_t invalid = 0;           // rejected records (a rejected whole file counts as one)
  uint64_t bytes = 0;            // file size
};

// Streams records from the files in order. JSONL files are read line by line (never whole); a text
// file is read whole, since it is validated (UTF-8, NUL bytes) before any of its documents is returned.
// For text files Record.line is the 1-based index of the (non-empty) document in the file.
// Invalid records throw fail_input("<file>:<line>: <problem>") unless opts.skip_invalid, in which case
// they are counted in stats() and listed in invalid() (the list keeps the first kMaxListedInvalid; the
// counts in stats() stay exact).
class RecordReader {
 public:
  static constexpr size_t kMaxListedInvalid = 10000;

  // Checks the options and that every file is a readable regular file of a supported type.
  RecordReader(std::vector<std::string> files, SourceOptions opts);
  ~RecordReader();
  RecordReader(RecordReader&&) noexcept;
  RecordReader& operator=(RecordReader&&) noexcept;
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  bool next(Record& out);  // false at the end
  const std::vector<InvalidRecord>& invalid() const { return invalid_; }
  const std::vector<SourceStats>& stats() const { return stats_; }  // one per file, in order

 private:
  struct OpenFile;
  void open_current();
  bool next_text(Record& out);
  bool next_jsonl(Record& out);
  void finish_current();
  void reject(int64_t line, const std::string& problem);

  std::vector<std::string> files_;
  SourceOptions opts_;
  std::vector<InvalidRecord> invalid_;
  std::vector<SourceStats> stats_;
  size_t index_ = 0;  // the file being read
  std::unique_ptr<OpenFile> cur_;
};

}  // namespace loratune::data
