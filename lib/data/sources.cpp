#include "data/sources.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/error.h"
#include "core/fs.h"
#include "data/records.h"
#include "data/text_split.h"
#include "data/utf8.h"

namespace loratune::data {

namespace {

constexpr const char* kSkipHint =
    "fix or remove it, or pass {opt:on_error} skip to skip invalid records (they are counted and listed in the "
    "report)";
// Bytes inspected for NUL when deciding whether a .jsonl file is binary (the heuristic git uses).
constexpr size_t kBinaryProbeBytes = 8000;

// 1-based line and column of a byte offset in a buffer.
std::pair<int64_t, int64_t> line_col(std::string_view s, size_t off) {
  int64_t line = 1 + std::count(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(off), '\n');
  size_t nl = s.rfind('\n', off == 0 ? 0 : off - 1);
  size_t col = (nl == std::string_view::npos || nl >= off) ? off + 1 : off - nl;
  return {line, static_cast<int64_t>(col)};
}

std::string file_problem_prefix(const std::string& source, int64_t line) {
  return line > 0 ? source + ":" + std::to_string(line) : source;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

struct RecordReader::OpenFile {
  bool is_text = false;
  bool done = false;  // the rest of the file is not read (rejected whole, or finished)
  // Text files: the whole (validated) content and the read position.
  std::string content;
  size_t pos = 0;
  int64_t documents = 0;
  // JSONL files: the stream and the current line.
  std::unique_ptr<std::FILE, FileCloser> fp;
  char* buf = nullptr;  // getline(3) buffer, reused for every line
  size_t cap = 0;
  int64_t line_no = 0;
  bool saw_content = false;
  std::optional<Format> format;  // forced, or locked by the first valid record
  int64_t format_line = 0;       // the line that locked it (0 when forced)

  ~OpenFile() { std::free(buf); }
};

RecordReader::RecordReader(std::vector<std::string> files, SourceOptions opts)
    : files_(std::move(files)), opts_(std::move(opts)) {
  check_text_split(opts_.text_split, opts_.delimiter);
  if (opts_.vocab_size < 0) fail_input("vocabulary size must not be negative");
  for (const auto& f : files_) {
    struct stat st;
    if (::stat(f.c_str(), &st) != 0)
      fail_input(f + ": cannot read (" + std::strerror(errno) + ")", "check that the path exists and is readable");
    if (!S_ISREG(st.st_mode)) fail_input(f + ": not a regular file");
    if (!is_supported_input(f))
      fail_input(f + ": unsupported file type \"" + input_extension(f) + "\"; expected " + supported_extensions_list());
    const bool text = is_text_input(f);
    if (text && opts_.forced_format && *opts_.forced_format != Format::Text)
      fail_input(f + ": .txt/.md files hold raw text, but {opt:format} " + format_name(*opts_.forced_format) + " was given",
                 "pass {opt:format} text, or leave out {opt:format} to detect the format of each .jsonl file");
    SourceStats s;
    s.source = f;
    s.format = text ? Format::Text : opts_.forced_format.value_or(Format::Text);
    s.bytes = static_cast<uint64_t>(st.st_size);
    stats_.push_back(std::move(s));
  }
}

RecordReader::~RecordReader() = default;
RecordReader::RecordReader(RecordReader&&) noexcept = default;
RecordReader& RecordReader::operator=(RecordReader&&) noexcept = default;

void RecordReader::reject(int64_t line, const std::string& problem) {
  SourceStats& s = stats_[index_];
  if (!opts_.skip_invalid) fail_input(file_problem_prefix(s.source, line) + ": " + problem, kSkipHint);
  ++s.invalid;
  // The report lists problems as text for people: options by name ("format alpaca"), as no front end renders it.
  if (invalid_.size() < kMaxListedInvalid) invalid_.push_back({s.source, line, render_options(problem)});
}

bool RecordReader::next(Record& out) {
  while (index_ < files_.size()) {
    if (!cur_) open_current();
    if (!cur_->done && (cur_->is_text ? next_text(out) : next_jsonl(out))) {
      ++stats_[index_].records;
      return true;
    }
    finish_current();
  }
  return false;
}

void RecordReader::open_current() {
  const std::string& path = files_[index_];
  cur_ = std::make_unique<OpenFile>();
  OpenFile& f = *cur_;
  f.is_text = is_text_input(path);
  if (f.is_text) {
    f.content = read_text_file(path);
    std::string_view body = strip_bom(f.content);
    f.pos = f.content.size() - body.size();
    // A text file is checked whole before any document is returned, so that a rejected file yields nothing.
    if (is_blank(body)) {
      reject(0, "file is empty");
      f.done = true;
    } else if (size_t nul = f.content.find('\0'); nul != std::string::npos) {
      reject(line_col(f.content, nul).first, "binary file (NUL byte): expected UTF-8 text");
      f.done = true;
    } else if (size_t bad = invalid_utf8_at(f.content); bad != std::string_view::npos) {
      auto [line, col] = line_col(f.content, bad);
      reject(line, invalid_utf8_problem(f.content, bad, static_cast<size_t>(col)) + ": expected UTF-8 text");
      f.done = true;
    }
    if (f.done) f.content.clear();
    return;
  }
  f.fp.reset(std::fopen(path.c_str(), "rb"));
  if (!f.fp)
    fail_input(path + ": cannot open (" + std::strerror(errno) + ")", "check that the file exists and is readable");
  f.format = opts_.forced_format;
  // A NUL byte near the start means a binary file (not a damaged line): reject it whole.
  char probe[kBinaryProbeBytes];
  size_t n = std::fread(probe, 1, sizeof probe, f.fp.get());
  if (std::ferror(f.fp.get()) || std::fseek(f.fp.get(), 0, SEEK_SET) != 0)
    fail_runtime(path + ": read error (" + std::strerror(errno) + ")");
  if (const void* nul = std::memchr(probe, 0, n)) {
    size_t off = static_cast<size_t>(static_cast<const char*>(nul) - probe);
    reject(line_col(std::string_view(probe, n), off).first, "binary file (NUL byte): expected UTF-8 JSON lines");
    f.done = true;
  }
}

void RecordReader::finish_current() {
  OpenFile& f = *cur_;
  if (!f.is_text && !f.done && !f.saw_content) reject(0, "file is empty");
  cur_.reset();
  ++index_;
}

bool RecordReader::next_text(Record& out) {
  OpenFile& f = *cur_;
  while (auto raw = next_document(f.content, f.pos, opts_.text_split, opts_.delimiter)) {
    std::string_view doc = trim_document(*raw);
    if (doc.empty()) continue;  // whitespace-only documents carry nothing to train on
    out = Record{};
    out.source = files_[index_];
    out.line = ++f.documents;
    out.format = Format::Text;
    out.text.assign(doc.data(), doc.size());
    return true;
  }
  return false;
}

bool RecordReader::next_jsonl(Record& out) {
  OpenFile& f = *cur_;
  for (;;) {
    errno = 0;
    ssize_t n = ::getline(&f.buf, &f.cap, f.fp.get());
    if (n < 0) {
      if (std::ferror(f.fp.get())) fail_runtime(files_[index_] + ": read error (" + std::strerror(errno) + ")");
      return false;
    }
    ++f.line_no;
    std::string_view line(f.buf, static_cast<size_t>(n));
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (f.line_no == 1) line = strip_bom(line);
    if (is_blank(line)) continue;
    f.saw_content = true;
    std::string problem = parse_jsonl_record(line, f.format, f.format_line, opts_.vocab_size, out);
    if (!problem.empty()) {
      reject(f.line_no, problem);
      continue;
    }
    if (!f.format) {  // the first valid record decides the format of the whole file
      f.format = out.format;
      f.format_line = f.line_no;
      stats_[index_].format = out.format;
    }
    out.source = files_[index_];
    out.line = f.line_no;
    return true;
  }
}

}  // namespace loratune::data
