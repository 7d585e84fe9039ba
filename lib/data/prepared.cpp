#include "data/prepared.h"

#include <cstring>
#include <filesystem>
#include <limits>
#include <utility>
#include <vector>

#include "core/error.h"

// The files are little-endian and the reader views them in place.
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the prepared-dataset reader maps little-endian files in place: a little-endian host is required"
#endif

namespace loratune::data {

namespace {

constexpr const char* kTokensFile = "tokens.bin";
constexpr const char* kMaskFile = "mask.bin";
constexpr const char* kRowsFile = "rows.bin";
constexpr const char* kStartsFile = "starts.bin";
constexpr const char* kSourcesFile = "sample_sources.bin";
constexpr const char* kManifestFile = "manifest.json";
constexpr const char* kCorruptHint =
    "the dataset is corrupt or truncated: re-run `loratune prepare` to rebuild it";

struct RowRecord {
  uint64_t token_offset;
  uint32_t length;
  uint32_t n_samples;
  uint64_t starts_offset;
};
static_assert(sizeof(RowRecord) == kRowRecordBytes, "rows.bin records are 24 bytes");

[[noreturn]] void corrupt(const std::string& file, const std::string& what) {
  fail_input(file + ": " + what, kCorruptHint);
}

std::string row_file(const std::string& dir, int64_t row) {
  return join_path(dir, kRowsFile) + ": row " + std::to_string(row);
}

}  // namespace

int token_bytes_for_vocab(int64_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

// ---------------------------------------------------------------------------------------------------
// SplitWriter

// An AtomicFileWriter behind a fixed-size buffer, so that rows cost few system calls and memory stays
// bounded however large the split grows.
class SplitWriter::BufferedFile {
 public:
  explicit BufferedFile(const std::string& path) : out_(path) { buf_.reserve(kCapacity); }

  void append(const void* data, size_t size) {
    if (buf_.size() + size > kCapacity) flush();
    if (size >= kCapacity) {
      out_.write(data, size);
      return;
    }
    const auto* p = static_cast<const uint8_t*>(data);
    buf_.insert(buf_.end(), p, p + size);
  }
  void commit() {
    flush();
    out_.commit();
  }

 private:
  static constexpr size_t kCapacity = size_t{1} << 20;
  void flush() {
    if (!buf_.empty()) out_.write(buf_.data(), buf_.size());
    buf_.clear();
  }
  AtomicFileWriter out_;
  std::vector<uint8_t> buf_;
};

SplitWriter::SplitWriter(const std::string& split_dir, int token_bytes)
    : dir_(split_dir), token_bytes_(token_bytes) {
  LT_CHECK(token_bytes == 2 || token_bytes == 4, "SplitWriter: token_bytes must be 2 or 4");
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec)
    fail_runtime(dir_ + ": cannot create directory (" + ec.message() + ")",
                 "check permissions and free space of the output location");
  tokens_file_ = std::make_unique<BufferedFile>(join_path(dir_, kTokensFile));
  mask_file_ = std::make_unique<BufferedFile>(join_path(dir_, kMaskFile));
  rows_file_ = std::make_unique<BufferedFile>(join_path(dir_, kRowsFile));
  starts_file_ = std::make_unique<BufferedFile>(join_path(dir_, kStartsFile));
  sources_file_ = std::make_unique<BufferedFile>(join_path(dir_, kSourcesFile));
}

SplitWriter::~SplitWriter() = default;

void SplitWriter::add(const Row& row) {
  LT_CHECK(!finished_, "SplitWriter::add after finish");
  const size_t n = row.ids.size();
  LT_CHECK(n > 0 && n <= std::numeric_limits<uint32_t>::max(), "SplitWriter: row length out of range");
  LT_CHECK(row.trained.size() == n, "SplitWriter: ids and mask differ in length");
  LT_CHECK(!row.starts.empty() && row.starts[0] == 0, "SplitWriter: starts must begin with 0");
  for (size_t i = 1; i < row.starts.size(); ++i)
    LT_CHECK(row.starts[i] > row.starts[i - 1], "SplitWriter: starts must be strictly increasing");
  LT_CHECK(row.starts.back() < n, "SplitWriter: a sample start lies beyond the row");
  LT_CHECK(row.sources.empty() || row.sources.size() == row.starts.size(),
           "SplitWriter: sources must be empty or have one entry per sample start");

  if (token_bytes_ == 2) {
    std::vector<uint16_t> narrow(n);
    for (size_t i = 0; i < n; ++i) {
      LT_CHECK(row.ids[i] >= 0 && row.ids[i] <= 0xFFFF,
               "SplitWriter: token id " + std::to_string(row.ids[i]) + " does not fit 2 bytes");
      narrow[i] = static_cast<uint16_t>(row.ids[i]);
    }
    tokens_file_->append(narrow.data(), n * sizeof(uint16_t));
  } else {
    for (int32_t id : row.ids) LT_CHECK(id >= 0, "SplitWriter: negative token id");
    tokens_file_->append(row.ids.data(), n * sizeof(int32_t));
  }

  int64_t trained = 0;
  std::vector<uint8_t> mask(n);
  for (size_t i = 0; i < n; ++i) {
    mask[i] = row.trained[i] ? 1 : 0;
    trained += mask[i];
  }
  mask_file_->append(mask.data(), n);

  RowRecord rec{static_cast<uint64_t>(tokens_), static_cast<uint32_t>(n),
                static_cast<uint32_t>(row.starts.size()), static_cast<uint64_t>(samples_)};
  rows_file_->append(&rec, sizeof rec);
  starts_file_->append(row.starts.data(), row.starts.size() * sizeof(uint32_t));
  if (row.sources.empty()) {
    const std::vector<uint32_t> zeros(row.starts.size(), 0);
    sources_file_->append(zeros.data(), zeros.size() * sizeof(uint32_t));
  } else {
    sources_file_->append(row.sources.data(), row.sources.size() * sizeof(uint32_t));
  }

  rows_ += 1;
  tokens_ += static_cast<int64_t>(n);
  trained_tokens_ += trained;
  samples_ += static_cast<int64_t>(row.starts.size());
}

void SplitWriter::finish() {
  LT_CHECK(!finished_, "SplitWriter::finish called twice");
  tokens_file_->commit();
  mask_file_->commit();
  starts_file_->commit();
  sources_file_->commit();
  rows_file_->commit();  // the index last: it refers to the others
  finished_ = true;
}

// ---------------------------------------------------------------------------------------------------
// Reader

int32_t RowView::id(size_t i) const {
  if (token_bytes == 2) return static_cast<const uint16_t*>(ids)[i];
  return static_cast<int32_t>(static_cast<const uint32_t*>(ids)[i]);
}

PreparedSplit PreparedSplit::open(const std::string& split_dir, int token_bytes, int64_t expected_rows) {
  LT_CHECK(token_bytes == 2 || token_bytes == 4, "PreparedSplit: token_bytes must be 2 or 4");
  if (!is_directory(split_dir)) fail_input(split_dir + ": split directory not found", kCorruptHint);
  PreparedSplit s;
  s.dir_ = split_dir;
  s.token_bytes_ = token_bytes;
  s.tokens_map_ = MappedFile::open(join_path(split_dir, kTokensFile));
  s.mask_map_ = MappedFile::open(join_path(split_dir, kMaskFile));
  s.rows_map_ = MappedFile::open(join_path(split_dir, kRowsFile));
  s.starts_map_ = MappedFile::open(join_path(split_dir, kStartsFile));

  const size_t tok_size = s.tokens_map_->size();
  if (tok_size % static_cast<size_t>(token_bytes) != 0)
    corrupt(s.tokens_map_->path(), std::to_string(tok_size) + " bytes is not a whole number of " +
                                       std::to_string(token_bytes) + "-byte tokens");
  s.tokens_ = static_cast<int64_t>(tok_size / static_cast<size_t>(token_bytes));
  const size_t rows_size = s.rows_map_->size();
  if (rows_size % kRowRecordBytes != 0)
    corrupt(s.rows_map_->path(), std::to_string(rows_size) + " bytes is not a whole number of " +
                                     std::to_string(kRowRecordBytes) + "-byte row records");
  s.rows_ = static_cast<int64_t>(rows_size / kRowRecordBytes);
  if (s.rows_ != expected_rows)
    corrupt(s.rows_map_->path(), "holds " + std::to_string(s.rows_) + " rows but manifest.json says " +
                                     std::to_string(expected_rows));
  if (s.starts_map_->size() % sizeof(uint32_t) != 0)
    corrupt(s.starts_map_->path(),
            std::to_string(s.starts_map_->size()) + " bytes is not a whole number of 4-byte sample starts");
  s.n_starts_ = static_cast<int64_t>(s.starts_map_->size() / sizeof(uint32_t));
  s.validate_rows();
  const std::string sources_path = join_path(split_dir, kSourcesFile);
  if (path_exists(sources_path)) {
    s.sources_map_ = MappedFile::open(sources_path);
    if (s.sources_map_->size() != static_cast<size_t>(s.n_starts_) * sizeof(uint32_t))
      corrupt(sources_path, std::to_string(s.sources_map_->size()) + " bytes, expected 4 per sample (" +
                                std::to_string(s.n_starts_) + " samples in " + kStartsFile + ")");
  }
  // After the rows: tokens.bin is now known to be exactly what rows.bin describes.
  if (s.mask_map_->size() != static_cast<size_t>(s.tokens_))
    corrupt(s.mask_map_->path(), std::to_string(s.mask_map_->size()) + " bytes, expected one per token (" +
                                     std::to_string(s.tokens_) + " tokens in " + kTokensFile + ")");
  return s;
}

// Checks every row record against the other files: contiguous, in range, and with well-formed sample
// starts. This reads rows.bin and starts.bin once (small next to tokens.bin) and makes row() safe.
void PreparedSplit::validate_rows() const {
  const auto* starts = reinterpret_cast<const uint32_t*>(starts_map_->data());
  uint64_t next_token = 0, next_start = 0;
  for (int64_t i = 0; i < rows_; ++i) {
    RowRecord r;
    std::memcpy(&r, rows_map_->data() + static_cast<size_t>(i) * kRowRecordBytes, sizeof r);
    // Built only on failure: this loop runs once per row.
    auto where = [&] { return row_file(dir_, i); };
    if (r.length == 0 || r.n_samples == 0)
      corrupt(where(), "empty row (length " + std::to_string(r.length) + ", samples " +
                           std::to_string(r.n_samples) + ")");
    if (r.token_offset != next_token)
      corrupt(where(), "token offset " + std::to_string(r.token_offset) + ", expected " +
                           std::to_string(next_token) + " (rows are stored back to back)");
    if (r.starts_offset != next_start)
      corrupt(where(), "starts offset " + std::to_string(r.starts_offset) + ", expected " +
                           std::to_string(next_start));
    if (r.length > static_cast<uint64_t>(tokens_) - r.token_offset)
      corrupt(where(), "tokens [" + std::to_string(r.token_offset) + ", " +
                           std::to_string(r.token_offset + r.length) + ") run past the end of " +
                           kTokensFile + " (" + std::to_string(tokens_) + " tokens)");
    if (r.n_samples > static_cast<uint64_t>(n_starts_) - r.starts_offset)
      corrupt(where(), "sample starts run past the end of " + std::string(kStartsFile) + " (" +
                           std::to_string(n_starts_) + " entries)");
    const uint32_t* st = starts + r.starts_offset;
    auto starts_where = [&] { return join_path(dir_, kStartsFile) + ": row " + std::to_string(i); };
    if (st[0] != 0)
      corrupt(starts_where(), "first sample start is " + std::to_string(st[0]) + ", expected 0");
    for (uint32_t k = 1; k < r.n_samples; ++k)
      if (st[k] <= st[k - 1] || st[k] >= r.length)
        corrupt(starts_where(), "sample start " + std::to_string(k) + " (" + std::to_string(st[k]) +
                                    ") is not after the previous start, or lies past the end of the row of " +
                                    std::to_string(r.length) + " tokens");
    next_token += r.length;
    next_start += r.n_samples;
  }
  if (next_token != static_cast<uint64_t>(tokens_))
    corrupt(join_path(dir_, kTokensFile), "holds " + std::to_string(tokens_) + " tokens but " + kRowsFile +
                                              " covers " + std::to_string(next_token));
  if (next_start != static_cast<uint64_t>(n_starts_))
    corrupt(join_path(dir_, kStartsFile), "holds " + std::to_string(n_starts_) + " entries but " + kRowsFile +
                                              " covers " + std::to_string(next_start));
}

RowView PreparedSplit::row(int64_t i) const {
  LT_CHECK(i >= 0 && i < rows_, "PreparedSplit::row: index out of range");
  RowRecord r;
  std::memcpy(&r, rows_map_->data() + static_cast<size_t>(i) * kRowRecordBytes, sizeof r);
  RowView v;
  v.token_bytes = token_bytes_;
  v.ids = tokens_map_->data() + r.token_offset * static_cast<uint64_t>(token_bytes_);
  v.trained = mask_map_->data() + r.token_offset;
  v.starts = reinterpret_cast<const uint32_t*>(starts_map_->data()) + r.starts_offset;
  if (sources_map_) v.sources = reinterpret_cast<const uint32_t*>(sources_map_->data()) + r.starts_offset;
  v.length = r.length;
  v.n_samples = r.n_samples;
  return v;
}

// ---------------------------------------------------------------------------------------------------
// Manifest

namespace {

const std::vector<std::string>& manifest_keys() {
  static const std::vector<std::string> keys = {
      "format_version", "tokenizer_fingerprint", "vocab_size", "template", "seq_len",
      "packed",         "token_bytes",           "train_rows", "val_rows"};
  return keys;
}

bool is_manifest_key(const std::string& k) {
  for (const auto& m : manifest_keys())
    if (m == k) return true;
  return false;
}

const nlohmann::json& field(const nlohmann::json& j, const std::string& key, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end()) corrupt(path, "missing key \"" + key + "\"");
  return *it;
}

int64_t int_field(const nlohmann::json& j, const std::string& key, const std::string& path, int64_t min) {
  const auto& v = field(j, key, path);
  if (!v.is_number_integer()) corrupt(path, "\"" + key + "\" must be an integer, got " + v.dump());
  const auto x = v.get<int64_t>();
  if (x < min) corrupt(path, "\"" + key + "\" must be at least " + std::to_string(min) + ", got " + v.dump());
  return x;
}

std::string string_field(const nlohmann::json& j, const std::string& key, const std::string& path) {
  const auto& v = field(j, key, path);
  if (!v.is_string()) corrupt(path, "\"" + key + "\" must be a string, got " + v.dump());
  return v.get<std::string>();
}

bool bool_field(const nlohmann::json& j, const std::string& key, const std::string& path) {
  const auto& v = field(j, key, path);
  if (!v.is_boolean()) corrupt(path, "\"" + key + "\" must be true or false, got " + v.dump());
  return v.get<bool>();
}

void check_version(const nlohmann::json& j, const std::string& path) {
  const auto& v = field(j, "format_version", path);
  if (!v.is_number_integer()) corrupt(path, "\"format_version\" must be an integer, got " + v.dump());
  const auto version = v.get<int64_t>();
  const std::string ours = std::to_string(kPreparedFormatVersion);
  if (version > kPreparedFormatVersion)
    fail_input(path + ": dataset format version " + std::to_string(version) +
                   " is newer than this loratune reads (version " + ours + ")",
               "upgrade loratune, or re-run `loratune prepare` with this version");
  if (version < 1)
    fail_input(path + ": unknown dataset format version " + std::to_string(version) +
                   " (this loratune reads version " + ours + ")",
               kCorruptHint);
}

std::string short_fingerprint(const std::string& fp) { return fp.substr(0, 16); }

std::optional<PreparedSplit> open_split(const std::string& dataset_dir, const char* name, int token_bytes,
                                        int64_t rows) {
  const std::string dir = join_path(dataset_dir, name);
  if (!is_directory(dir)) {
    if (rows == 0) return std::nullopt;
    fail_input(dir + ": split directory not found, but manifest.json counts " + std::to_string(rows) +
                   " rows for it",
               kCorruptHint);
  }
  return PreparedSplit::open(dir, token_bytes, rows);
}

}  // namespace

std::string manifest_to_json(const Manifest& m) {
  LT_CHECK(m.extra.is_object() || m.extra.is_null(), "Manifest::extra must be a JSON object");
  // Insertion order keeps the fixed fields first, for people reading the file.
  nlohmann::ordered_json j;
  j["format_version"] = m.format_version;
  j["tokenizer_fingerprint"] = m.tokenizer_fingerprint;
  j["vocab_size"] = m.vocab_size;
  j["template"] = m.template_name;
  j["seq_len"] = m.seq_len;
  j["packed"] = m.packed;
  j["token_bytes"] = m.token_bytes;
  j["train_rows"] = m.train_rows;
  j["val_rows"] = m.val_rows;
  if (m.extra.is_object()) {
    for (auto it = m.extra.begin(); it != m.extra.end(); ++it) {
      LT_CHECK(!is_manifest_key(it.key()), "Manifest::extra repeats the fixed key " + it.key());
      j[it.key()] = nlohmann::ordered_json::parse(it.value().dump());
    }
  }
  return j.dump(2) + "\n";
}

Manifest manifest_from_json(const std::string& text, const std::string& path) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) corrupt(path, "not valid JSON");
  if (!j.is_object()) corrupt(path, "expected a JSON object");
  check_version(j, path);

  Manifest m;
  m.format_version = static_cast<int>(j["format_version"].get<int64_t>());
  m.tokenizer_fingerprint = string_field(j, "tokenizer_fingerprint", path);
  m.vocab_size = int_field(j, "vocab_size", path, 1);
  m.template_name = string_field(j, "template", path);
  m.seq_len = int_field(j, "seq_len", path, 1);
  m.packed = bool_field(j, "packed", path);
  m.token_bytes = static_cast<int>(int_field(j, "token_bytes", path, 1));
  m.train_rows = int_field(j, "train_rows", path, 0);
  m.val_rows = int_field(j, "val_rows", path, 0);
  if (m.token_bytes != token_bytes_for_vocab(m.vocab_size))
    corrupt(path, "\"token_bytes\" is " + std::to_string(m.token_bytes) + " but a vocabulary of " +
                      std::to_string(m.vocab_size) + " needs " +
                      std::to_string(token_bytes_for_vocab(m.vocab_size)));
  m.extra = nlohmann::json::object();
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!is_manifest_key(it.key())) m.extra[it.key()] = it.value();
  return m;
}

Manifest read_manifest(const std::string& dataset_dir) {
  const std::string path = join_path(dataset_dir, kManifestFile);
  if (!is_directory(dataset_dir))
    fail_input(dataset_dir + ": prepared dataset directory not found",
               "pass the output directory of `loratune prepare`");
  if (!path_exists(path))
    fail_input(path + ": not found; " + dataset_dir + " is not a prepared dataset",
               "pass the output directory of `loratune prepare`, or re-run it");
  return manifest_from_json(read_text_file(path), path);
}

std::vector<std::string> manifest_source_paths(const Manifest& m, const std::string& path) {
  auto it = m.extra.find("source_paths");
  if (it == m.extra.end()) return {};
  if (!it->is_array()) corrupt(path, "\"source_paths\" must be a list of file paths, got " + it->dump());
  std::vector<std::string> out;
  for (const auto& p : *it) {
    if (!p.is_string()) corrupt(path, "\"source_paths\" must be a list of file paths, got " + it->dump());
    out.push_back(p.get<std::string>());
  }
  return out;
}

std::map<std::string, std::string> manifest_template_vars(const Manifest& m, const std::string& path) {
  std::map<std::string, std::string> out;
  auto it = m.extra.find("template_vars");
  if (it == m.extra.end()) return out;
  if (!it->is_object()) corrupt(path, "\"template_vars\" must be an object of name -> value, got " + it->dump());
  for (const auto& [k, v] : it->items()) out[k] = v.dump();
  return out;
}

PreparedDataset open_prepared(const std::string& dataset_dir, const std::string& tokenizer_fingerprint) {
  PreparedDataset d;
  d.manifest = read_manifest(dataset_dir);
  if (d.manifest.tokenizer_fingerprint != tokenizer_fingerprint)
    fail_input(dataset_dir + ": the dataset was prepared with tokenizer " +
                   short_fingerprint(d.manifest.tokenizer_fingerprint) +
                   "... but this model's tokenizer is " + short_fingerprint(tokenizer_fingerprint) +
                   "... (the fingerprint covers the vocabulary file and the chat template)",
               "re-run `loratune prepare` with this model's tokenizer ({opt:model} DIR) to rebuild the dataset");
  d.train = open_split(dataset_dir, "train", d.manifest.token_bytes, d.manifest.train_rows);
  d.val = open_split(dataset_dir, "val", d.manifest.token_bytes, d.manifest.val_rows);
  return d;
}

}  // namespace loratune::data
