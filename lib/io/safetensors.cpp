#include "io/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_set>

#include "core/error.h"
#include "core/strings.h"

namespace loratune::io {
namespace {

using json = nlohmann::json;

constexpr int kMaxJsonDepth = 64;
constexpr size_t kMaxQuotedChars = 200;
const char* const kCorruptHint = "the file is corrupt or not a safetensors file: re-download or re-export it";

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::BOOL, "BOOL", 1}, {DType::U8, "U8", 1},           {DType::I8, "I8", 1},
    {DType::I16, "I16", 2},   {DType::U16, "U16", 2},         {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I32, "I32", 4},         {DType::U32, "U32", 4},
    {DType::F32, "F32", 4},   {DType::F64, "F64", 8},         {DType::I64, "I64", 8},
    {DType::U64, "U64", 8},   {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1},
};

const DTypeInfo& info(DType dtype) {
  auto i = static_cast<size_t>(dtype);
  LT_CHECK(i < std::size(kDTypes) && kDTypes[i].dtype == dtype, "invalid DType value");
  return kDTypes[i];
}

// 'name', shortened when a (possibly hostile) name is too long for a message.
std::string quote(const std::string& s) {
  if (s.size() <= kMaxQuotedChars) return "'" + s + "'";
  return "'" + s.substr(0, kMaxQuotedChars) + "...'";
}

// A JSON value for a message, shortened.
std::string brief(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return s.size() <= kMaxQuotedChars ? s : s.substr(0, kMaxQuotedChars) + "...";
}

[[noreturn]] void bad_file(const std::string& path, const std::string& what,
                           const std::string& hint = kCorruptHint) {
  fail_input(path + ": " + what, hint);
}

[[noreturn]] void bad_tensor(const std::string& path, const std::string& name, const std::string& what,
                             const std::string& hint = kCorruptHint) {
  fail_input(path + ": tensor " + quote(name) + ": " + what, hint);
}

// Offset of the first byte that is not part of well-formed UTF-8 (no overlongs, surrogates or code points
// above U+10FFFF), or npos.
size_t invalid_utf8_offset(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<uint8_t>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return i;
    uint32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

// Validates the 8-byte length prefix and returns N, the header length.
uint64_t header_length(const uint8_t* bytes, size_t size, const std::string& path) {
  if (size < 8)
    bad_file(path, "file is " + std::to_string(size) +
                       " bytes, too short for the 8-byte header length (truncated file?)");
  uint64_t n = read_u64_le(bytes);
  if (n > kMaxHeaderBytes)
    bad_file(path, "header length " + std::to_string(n) + " exceeds the limit of " +
                       std::to_string(kMaxHeaderBytes) + " bytes");
  if (n > size - 8)
    bad_file(path, "header length " + std::to_string(n) + " runs past the end of the file (" +
                       std::to_string(size) + " bytes; truncated file?)");
  return n;
}

// Parses the header JSON, rejecting duplicate keys (the reference keeps one silently) and deep nesting
// (no header needs more than three levels; this bounds the work a hostile header can cause).
json parse_header_json(std::string_view text, const std::string& path) {
  size_t bad = invalid_utf8_offset(text);
  if (bad != std::string_view::npos)
    bad_file(path, "header is not valid UTF-8 (byte " + std::to_string(bad) + " of the header)");
  std::vector<std::unordered_set<std::string>> keys;  // keys[d]: keys seen in the open object at depth d
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth)
      bad_file(path, "header JSON nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    if (event == json::parse_event_t::object_start) {
      keys.resize(static_cast<size_t>(depth) + 1);
      keys[static_cast<size_t>(depth)].clear();
    } else if (event == json::parse_event_t::key && depth >= 1) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!keys[static_cast<size_t>(depth) - 1].insert(key).second) {
        if (depth == 1) bad_tensor(path, key, "listed twice in the header");
        bad_file(path, "header repeats the key " + quote(key) + " inside one object");
      }
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    std::string what = e.what();
    size_t pos = what.find("] ");
    bad_file(path,
             "header is not valid JSON (" + (pos == std::string::npos ? what : what.substr(pos + 2)) + ")");
  }
}

// A header entry after per-entry validation.
struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

const json& require_field(const json& entry, const char* field, const std::string& path,
                          const std::string& name) {
  auto it = entry.find(field);
  if (it == entry.end()) bad_tensor(path, name, std::string("missing \"") + field + "\" in its header entry");
  return *it;
}

DType entry_dtype(const json& v, const std::string& path, const std::string& name) {
  if (!v.is_string()) bad_tensor(path, name, "\"dtype\" must be a string, got " + brief(v));
  const auto& s = v.get_ref<const std::string&>();
  auto dtype = parse_dtype(s);
  if (!dtype)
    bad_tensor(
        path, name, "unknown dtype " + quote(s),
        "supported dtypes: " + join(dtype_names(), ", ") + "; files with other dtypes need converting first");
  return *dtype;
}

std::vector<int64_t> entry_shape(const json& v, const std::string& path, const std::string& name) {
  if (!v.is_array()) bad_tensor(path, name, "\"shape\" must be an array of integers, got " + brief(v));
  std::vector<int64_t> shape;
  shape.reserve(v.size());
  for (const auto& d : v) {
    if (!d.is_number_integer())
      bad_tensor(path, name, "\"shape\" must be an array of integers, got " + brief(v));
    if (!d.is_number_unsigned()) bad_tensor(path, name, "shape " + brief(v) + " has a negative dimension");
    auto u = d.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      bad_tensor(path, name, "shape " + brief(v) + ": dimension " + std::to_string(u) + " is too large");
    shape.push_back(static_cast<int64_t>(u));
  }
  return shape;
}

// Byte size of a tensor, or nullopt when the element count or the byte count overflows.
std::optional<uint64_t> checked_nbytes(const std::vector<int64_t>& shape, DType dtype) {
  int64_t numel = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(numel, d, &numel)) return std::nullopt;
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(numel), dtype_size(dtype), &nbytes)) return std::nullopt;
  return nbytes;
}

std::string describe(DType dtype, const std::vector<int64_t>& shape) {
  return std::string(dtype_name(dtype)) + " " + shape_to_string(shape);
}

Entry parse_entry(const std::string& name, const json& v, const std::string& path) {
  if (!v.is_object())
    bad_tensor(path, name,
               "header entry must be an object with dtype, shape and data_offsets, got " + brief(v));
  Entry e{name, entry_dtype(require_field(v, "dtype", path, name), path, name),
          entry_shape(require_field(v, "shape", path, name), path, name), 0, 0};
  const json& off = require_field(v, "data_offsets", path, name);
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    bad_tensor(path, name,
               "\"data_offsets\" must be [begin, end] with non-negative integers, got " + brief(off));
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  std::string range = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ")";
  if (e.end < e.begin) bad_tensor(path, name, range + " end before they begin");
  auto nbytes = checked_nbytes(e.shape, e.dtype);
  if (!nbytes) bad_tensor(path, name, "element count of " + describe(e.dtype, e.shape) + " overflows");
  if (e.end - e.begin != *nbytes)
    bad_tensor(path, name,
               range + " hold " + std::to_string(e.end - e.begin) + " bytes but " +
                   describe(e.dtype, e.shape) + " needs " + std::to_string(*nbytes));
  return e;
}

std::map<std::string, std::string> parse_metadata(const json& v, const std::string& path) {
  if (!v.is_object()) bad_file(path, "\"__metadata__\" must be an object of strings, got " + brief(v));
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string())
      bad_file(path,
               "\"__metadata__\" value for key " + quote(key) + " must be a string, got " + brief(value));
    out.emplace(key, value.get<std::string>());
  }
  return out;
}

// Reports that `e` does not begin where the previous tensor ends (`expected`).
[[noreturn]] void bad_position(const std::vector<Entry>& entries, size_t i, uint64_t expected,
                               const std::string& path) {
  const Entry& e = entries[i];
  std::string begins = "begins at byte " + std::to_string(e.begin);
  if (i == 0) bad_tensor(path, e.name, "the first tensor in the data buffer " + begins + ", expected 0");
  std::string prev = "the previous tensor " + quote(entries[i - 1].name);
  if (e.begin > expected)
    bad_tensor(path, e.name,
               begins + " but " + prev + " ends at " + std::to_string(expected) + ": a gap of " +
                   std::to_string(e.begin - expected) + " bytes");
  bad_tensor(path, e.name, begins + ", overlapping " + prev + " which ends at " + std::to_string(expected));
}

// Sorts entries by offset and checks that they tile the data buffer exactly: first begins at 0, no gaps,
// no overlaps, the last ends at the end of the file.
void check_layout(std::vector<Entry>& entries, uint64_t data_size, const std::string& path) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t expected = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].begin != expected) bad_position(entries, i, expected, path);
    expected = entries[i].end;
  }
  if (expected == data_size) return;
  std::string held = "the data buffer holds " + std::to_string(data_size) + " bytes";
  if (entries.empty()) bad_file(path, "no tensors, but " + held + " (trailing bytes)");
  const std::string& last = entries.back().name;
  if (expected > data_size)
    bad_tensor(path, last,
               "ends at byte " + std::to_string(expected) + " but " + held + " (truncated file?)");
  bad_tensor(path, last,
             "the last tensor ends at byte " + std::to_string(expected) + " but " + held + ": " +
                 std::to_string(data_size - expected) + " trailing bytes");
}

// --- writing -------------------------------------------------------------------------------------------

void check_utf8_for_write(const std::string& path, const std::string& s, const std::string& what) {
  if (invalid_utf8_offset(s) != std::string_view::npos)
    fail_input(path + ": cannot write " + what + " " + quote(s) + ": it is not valid UTF-8");
}

void check_tensor_to_write(const std::string& path, const TensorToWrite& t) {
  std::string where = path + ": cannot write tensor " + quote(t.name) + ": ";
  check_utf8_for_write(path, t.name, "tensor name");
  if (t.name == "__metadata__") fail_input(where + "the name is reserved for file metadata");
  for (int64_t d : t.shape)
    if (d < 0) fail_input(where + "shape " + shape_to_string(t.shape) + " has a negative dimension");
  auto nbytes = checked_nbytes(t.shape, t.dtype);
  if (!nbytes) fail_input(where + "element count of " + describe(t.dtype, t.shape) + " overflows");
  if (*nbytes != t.nbytes)
    fail_input(where + "nbytes is " + std::to_string(t.nbytes) + " but " + describe(t.dtype, t.shape) +
               " needs " + std::to_string(*nbytes));
  if (t.nbytes > 0 && t.data == nullptr) fail_input(where + "data is null");
}

// Validates every tensor and the metadata; returns the total number of data bytes.
uint64_t check_write_input(const std::string& path, const std::vector<TensorToWrite>& tensors,
                           const std::map<std::string, std::string>& metadata) {
  std::set<std::string> seen;
  uint64_t total = 0;
  for (const auto& t : tensors) {
    check_tensor_to_write(path, t);
    if (!seen.insert(t.name).second)
      fail_input(path + ": cannot write tensor " + quote(t.name) + ": the name appears twice");
    total += t.nbytes;
  }
  for (const auto& [key, value] : metadata) {
    check_utf8_for_write(path, key, "metadata key");
    check_utf8_for_write(path, value, "value of metadata key " + quote(key) + ",");
  }
  return total;
}

// The header bytes: compact JSON padded with spaces to a multiple of 8.
std::string build_header(const std::string& path, const std::vector<TensorToWrite>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {
        {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  if (text.size() > kMaxHeaderBytes)
    fail_input(path + ": cannot write: the header would be " + std::to_string(text.size()) +
                   " bytes, above the format's limit of " + std::to_string(kMaxHeaderBytes),
               "write the tensors as a sharded checkpoint instead");
  return text;
}

void write_validated(const std::string& path, const std::vector<TensorToWrite>& tensors,
                     const std::map<std::string, std::string>& metadata) {
  std::string header = build_header(path, tensors, metadata);
  AtomicFileWriter out(path);
  out.write(u64_le(header.size()));
  out.write(header);
  for (const auto& t : tensors)
    if (t.nbytes > 0) out.write(t.data, t.nbytes);
  out.commit();
}

std::string shard_name(size_t index, size_t count) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return buf;
}

// Greedy split in the given order: a shard closes when the next tensor would push it past max_bytes.
std::vector<std::vector<TensorToWrite>> plan_shards(const std::vector<TensorToWrite>& tensors,
                                                    uint64_t max_bytes) {
  std::vector<std::vector<TensorToWrite>> shards(1);
  uint64_t used = 0;
  for (const auto& t : tensors) {
    if (!shards.back().empty() && used + t.nbytes > max_bytes) {
      shards.emplace_back();
      used = 0;
    }
    shards.back().push_back(t);
    used += t.nbytes;
  }
  return shards;
}

void remove_file_if_present(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
  if (ec)
    fail_runtime(path + ": cannot remove stale file (" + ec.message() + ")",
                 "remove it by hand: it conflicts with the checkpoint just written");
}

// --- checkpoints ---------------------------------------------------------------------------------------

std::shared_ptr<const SafetensorsFile> open_shard(const std::string& index_path, const std::string& file) {
  try {
    return SafetensorsFile::open(file);
  } catch (const Error& e) {
    throw Error(e.kind(), e.message() + " (a shard listed in " + index_path + ")", e.hint());
  }
}

json read_index_json(const std::string& index_path) {
  std::string text = read_text_file(index_path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    std::string what = e.what();
    size_t pos = what.find("] ");
    fail_input(
        index_path + ": not valid JSON (" + (pos == std::string::npos ? what : what.substr(pos + 2)) + ")",
        "the index is corrupt: re-download it");
  }
}

bool is_safe_relative_path(const std::string& p) {
  if (p.empty() || p.front() == '/') return false;
  for (const auto& part : split(p, '/'))
    if (part == "..") return false;
  return true;
}

// shard file name -> the tensors the weight_map assigns to it.
std::map<std::string, std::vector<std::string>> read_weight_map(const std::string& index_path) {
  json root = read_index_json(index_path);
  const char* hint = "expected {\"metadata\": {...}, \"weight_map\": {\"tensor\": \"shard file\"}}";
  if (!root.is_object() || !root.contains("weight_map") || !root["weight_map"].is_object())
    fail_input(index_path + ": missing the \"weight_map\" object", hint);
  std::map<std::string, std::vector<std::string>> by_shard;
  for (const auto& [tensor, shard] : root["weight_map"].items()) {
    if (!shard.is_string())
      fail_input(index_path + ": weight_map entry for tensor " + quote(tensor) +
                     " must be a shard file name, got " + brief(shard),
                 hint);
    const auto& file = shard.get_ref<const std::string&>();
    if (!is_safe_relative_path(file))
      fail_input(index_path + ": weight_map maps tensor " + quote(tensor) + " to " + quote(file) +
                     ", which is not a file name inside the checkpoint directory",
                 hint);
    by_shard[file].push_back(tensor);
  }
  return by_shard;
}

std::string safetensors_files_hint(const std::string& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (ends_with(it->path().filename().string(), ".safetensors"))
      found.push_back(it->path().filename().string());
  if (found.empty()) return "pass a Hugging Face checkpoint directory or a .safetensors file";
  std::sort(found.begin(), found.end());
  return "found " + join(found, ", ") + ": pass the file path instead";
}

}  // namespace

// --- dtypes --------------------------------------------------------------------------------------------

size_t dtype_size(DType dtype) { return info(dtype).size; }

const char* dtype_name(DType dtype) { return info(dtype).name; }

std::optional<DType> parse_dtype(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return d.dtype;
  return std::nullopt;
}

std::vector<std::string> dtype_names() {
  std::vector<std::string> out;
  for (const auto& d : kDTypes) out.emplace_back(d.name);
  return out;
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// --- SafetensorsFile -----------------------------------------------------------------------------------

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  return from_mapping(MappedFile::open(path));
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::from_mapping(std::shared_ptr<const MappedFile> m) {
  LT_CHECK(m != nullptr, "from_mapping: null mapping");
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = m->path();
  f->mapping_ = std::move(m);
  f->parse(f->mapping_->data(), f->mapping_->size());
  return f;
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::from_bytes(std::shared_ptr<const std::string> bytes,
                                                                   const std::string& label) {
  LT_CHECK(bytes != nullptr, "from_bytes: null buffer");
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = label;
  f->buffer_ = std::move(bytes);
  f->parse(reinterpret_cast<const uint8_t*>(f->buffer_->data()), f->buffer_->size());
  return f;
}

void SafetensorsFile::parse(const uint8_t* bytes, size_t size) {
  header_bytes_ = header_length(bytes, size, path_);
  std::string_view text(reinterpret_cast<const char*>(bytes) + 8, header_bytes_);
  json root = parse_header_json(text, path_);
  if (!root.is_object()) bad_file(path_, "header must be a JSON object, got " + brief(root));
  std::vector<Entry> entries;
  entries.reserve(root.size());
  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__")
      metadata_ = parse_metadata(value, path_);
    else
      entries.push_back(parse_entry(name, value, path_));
  }
  const uint8_t* data = bytes + 8 + header_bytes_;
  check_layout(entries, size - 8 - header_bytes_, path_);
  tensors_.reserve(entries.size());
  for (auto& e : entries) {
    by_name_.emplace(e.name, tensors_.size());
    tensors_.push_back(TensorView{std::move(e.name), e.dtype, std::move(e.shape), data + e.begin,
                                  static_cast<size_t>(e.end - e.begin)});
  }
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

const TensorView& SafetensorsFile::at(const std::string& name) const {
  if (const TensorView* t = find(name)) return *t;
  std::vector<std::string> names;
  names.reserve(tensors_.size());
  for (const auto& t : tensors_) names.push_back(t.name);
  fail_input(path_ + ": no tensor " + quote(name) + did_you_mean(name, names),
             "check the tensor name, or that this is the file you meant");
}

// --- Checkpoint ----------------------------------------------------------------------------------------

Checkpoint Checkpoint::open(const std::string& dir_or_file) {
  const std::string& p = dir_or_file;
  if (!path_exists(p))
    fail_input(p + ": does not exist", "pass a checkpoint directory or a .safetensors file");
  if (!is_directory(p)) return ends_with(p, ".index.json") ? open_index(p, p) : open_single(p, p);
  std::string index = join_path(p, kIndexFileName), single = join_path(p, kSingleFileName);
  bool has_index = path_exists(index), has_single = path_exists(single);
  if (has_index && has_single)
    fail_input(p + ": holds both " + kSingleFileName + " and " + kIndexFileName +
                   "; cannot tell which one is current",
               "remove the stale one");
  if (has_index) return open_index(p, index);
  if (has_single) return open_single(p, single);
  fail_input(p + ": no " + kSingleFileName + " or " + kIndexFileName + " in this directory",
             safetensors_files_hint(p));
}

Checkpoint Checkpoint::open_single(const std::string& label, const std::string& file) {
  Checkpoint c;
  c.path_ = label;
  c.add_file(SafetensorsFile::open(file));
  return c;
}

Checkpoint Checkpoint::open_index(const std::string& label, const std::string& index_path) {
  Checkpoint c;
  c.path_ = label;
  std::string dir = parent_dir(index_path);
  for (const auto& [shard, tensors] : read_weight_map(index_path)) {
    std::string file = join_path(dir, shard);
    std::string more = tensors.size() > 1 ? " (and " + std::to_string(tensors.size() - 1) + " more)" : "";
    if (!path_exists(file))
      fail_input(index_path + ": weight_map maps tensor " + quote(tensors.front()) + more + " to shard " +
                     quote(shard) + ", but " + file + " does not exist",
                 "the download is incomplete: fetch the missing shard");
    auto st = open_shard(index_path, file);
    for (const auto& name : tensors)
      if (!st->find(name))
        fail_input(index_path + ": weight_map maps tensor " + quote(name) + " to shard " + quote(shard) +
                       ", but that shard does not contain it",
                   "the index does not match its shards: re-download the checkpoint");
    c.add_file(std::move(st));
  }
  return c;
}

void Checkpoint::add_file(std::shared_ptr<const SafetensorsFile> file) {
  size_t index = files_.size();
  for (const auto& t : file->tensors()) {
    auto [it, inserted] = entries_.emplace(t.name, Entry{index, &t});
    if (!inserted)
      fail_input(path_ + ": tensor " + quote(t.name) +
                     " is in two shards: " + files_[it->second.file]->path() + " and " + file->path(),
                 "the checkpoint is inconsistent: re-download or re-export it");
  }
  files_.push_back(std::move(file));
}

const Checkpoint::Entry& Checkpoint::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it != entries_.end()) return it->second;
  fail_input("checkpoint " + path_ + ": no tensor " + quote(name) + did_you_mean(name, names()),
             "check the tensor name, or that this is the checkpoint you meant (maybe the wrong base model?)");
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& kv : entries_) out.push_back(kv.first);
  return out;
}

bool Checkpoint::contains(const std::string& name) const { return entries_.count(name) > 0; }

const TensorView& Checkpoint::at(const std::string& name) const { return *entry(name).view; }

std::shared_ptr<const SafetensorsFile> Checkpoint::file_of(const std::string& name) const {
  return files_[entry(name).file];
}

// --- writers -------------------------------------------------------------------------------------------

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  check_write_input(path, tensors, metadata);
  write_validated(path, tensors, metadata);
}

std::vector<std::string> write_safetensors_sharded(const std::string& dir,
                                                   const std::vector<TensorToWrite>& tensors,
                                                   uint64_t max_shard_bytes,
                                                   const std::map<std::string, std::string>& metadata) {
  if (!is_directory(dir)) fail_input(dir + ": not a directory", "create the output directory first");
  if (max_shard_bytes == 0) fail_input(dir + ": cannot write shards of at most 0 bytes");
  uint64_t total = check_write_input(dir, tensors, metadata);
  auto shards = plan_shards(tensors, max_shard_bytes);
  if (shards.size() == 1) {
    write_validated(join_path(dir, kSingleFileName), tensors, metadata);
    remove_file_if_present(join_path(dir, kIndexFileName));
    return {kSingleFileName};
  }
  std::vector<std::string> written;
  json weight_map = json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    written.push_back(shard_name(i, shards.size()));
    write_validated(join_path(dir, written.back()), shards[i], metadata);
    for (const auto& t : shards[i]) weight_map[t.name] = written.back();
  }
  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  write_file_atomic(join_path(dir, kIndexFileName), index.dump(2) + "\n");
  remove_file_if_present(join_path(dir, kSingleFileName));
  written.push_back(kIndexFileName);
  return written;
}

}  // namespace loratune::io
