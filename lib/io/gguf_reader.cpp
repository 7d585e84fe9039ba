#include "io/gguf_reader.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "io/gguf_detail.h"

namespace loratune::io {
using gguf_detail::align_up;
using gguf_detail::quote;
using gguf_detail::scalar_size;
using gguf_detail::valid_type;

namespace {

const char* const kCorruptHint = "the file is corrupt, truncated or not a GGUF file: re-export or re-download it";

bool known_ggml_type(uint32_t t) { return ggml_type_known(t); }

std::string known_type_names() {
  std::string s;
  for (GgmlType t : ggml_types()) s += (s.empty() ? "" : ", ") + std::string(ggml_type_name(t));
  return s;
}

// ---- bounds-checked input ----
class Cursor {
 public:
  Cursor(const uint8_t* p, size_t size, const std::string& path) : p_(p), size_(size), path_(path) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  uint64_t le(size_t bytes, const std::string& what) {
    need(bytes, what);
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p_[pos_ + i]) << (8 * i);
    pos_ += bytes;
    return v;
  }
  std::string str(const std::string& what) {
    const uint64_t n = le(8, what + " length");
    if (n > remaining())
      fail(what + ": string length " + std::to_string(n) + " runs past the end of the file");
    std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  [[noreturn]] void fail(const std::string& what) const {
    fail_input(path_ + ": " + what + " (at byte " + std::to_string(pos_) + ")", kCorruptHint);
  }

 private:
  void need(size_t bytes, const std::string& what) const {
    if (bytes > remaining()) fail(what + ": unexpected end of file");
  }
  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

GgufValue read_scalar(Cursor& c, GgufType t, const std::string& what) {
  switch (t) {
    case GgufType::U8: return GgufValue::u8(static_cast<uint8_t>(c.le(1, what)));
    case GgufType::I8: return GgufValue::i8(static_cast<int8_t>(c.le(1, what)));
    case GgufType::U16: return GgufValue::u16(static_cast<uint16_t>(c.le(2, what)));
    case GgufType::I16: return GgufValue::i16(static_cast<int16_t>(c.le(2, what)));
    case GgufType::U32: return GgufValue::u32(static_cast<uint32_t>(c.le(4, what)));
    case GgufType::I32: return GgufValue::i32(static_cast<int32_t>(c.le(4, what)));
    case GgufType::U64: return GgufValue::u64(c.le(8, what));
    case GgufType::I64: return GgufValue::i64(static_cast<int64_t>(c.le(8, what)));
    case GgufType::F32: {
      uint32_t bits = static_cast<uint32_t>(c.le(4, what));
      float f;
      std::memcpy(&f, &bits, 4);
      return GgufValue::f32(f);
    }
    case GgufType::F64: {
      uint64_t bits = c.le(8, what);
      double d;
      std::memcpy(&d, &bits, 8);
      return GgufValue::f64(d);
    }
    case GgufType::Bool: {
      uint64_t b = c.le(1, what);
      if (b > 1) c.fail(what + ": bool value " + std::to_string(b) + " is neither 0 nor 1");
      return GgufValue::boolean(b == 1);
    }
    case GgufType::String: return GgufValue::string(c.str(what));
    case GgufType::Array: break;
  }
  c.fail(what + ": arrays of arrays are not supported");
}

GgufValue read_value(Cursor& c, GgufType t, const std::string& what) {
  if (t != GgufType::Array) return read_scalar(c, t, what);
  const uint32_t et = static_cast<uint32_t>(c.le(4, what + " element type"));
  if (!valid_type(et)) c.fail(what + ": unknown array element type " + std::to_string(et));
  const auto elem = static_cast<GgufType>(et);
  if (elem == GgufType::Array) c.fail(what + ": arrays of arrays are not supported");
  const uint64_t n = c.le(8, what + " element count");
  // Every element takes at least one byte (strings eight): a count beyond that cannot fit in the file.
  const size_t min_size = elem == GgufType::String ? 8 : scalar_size(elem);
  if (n > c.remaining() / min_size)
    c.fail(what + ": array of " + std::to_string(n) + " elements runs past the end of the file");
  std::vector<GgufValue> items;
  items.reserve(static_cast<size_t>(n));
  for (uint64_t i = 0; i < n; ++i) items.push_back(read_scalar(c, elem, what));
  return GgufValue::array(elem, std::move(items));
}

}  // namespace

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

std::shared_ptr<const GgufFile> GgufFile::open(const std::string& path) {
  if (!path_exists(path))
    fail_input(path + ": no such file", "check the path of the .gguf file");
  if (is_directory(path)) fail_input(path + ": is a directory, not a GGUF file", "pass the path of a .gguf file");
  auto mapping = MappedFile::open(path);
  std::shared_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  f->mapping_ = mapping;
  f->parse(mapping->data(), mapping->size());
  return f;
}

std::shared_ptr<const GgufFile> GgufFile::from_bytes(std::shared_ptr<const std::string> bytes, const std::string& label) {
  std::shared_ptr<GgufFile> f(new GgufFile());
  f->path_ = label;
  f->buffer_ = std::move(bytes);
  f->parse(reinterpret_cast<const uint8_t*>(f->buffer_->data()), f->buffer_->size());
  return f;
}

void GgufFile::parse(const uint8_t* bytes, size_t size) {
  Cursor c(bytes, size, path_);
  if (size < 4 || std::memcmp(bytes, "GGUF", 4) != 0) {
    const bool legacy = size >= 4 && (std::memcmp(bytes, "lmgg", 4) == 0 || std::memcmp(bytes, "fmgg", 4) == 0 ||
                                      std::memcmp(bytes, "tjgg", 4) == 0);
    fail_input(path_ + ": not a GGUF file (the first 4 bytes are not \"GGUF\")",
               legacy ? "this is a pre-GGUF GGML file: convert it with llama.cpp's tools, or re-export it"
                      : kCorruptHint);
  }
  c.le(4, "magic");
  version_ = static_cast<uint32_t>(c.le(4, "version"));
  if (version_ != 2 && version_ != 3)
    fail_input(path_ + ": GGUF version " + std::to_string(version_) + " is not supported (versions 2 and 3 are)",
               "re-export the file with a current converter");
  const uint64_t n_tensors = c.le(8, "tensor count");
  const uint64_t n_kv = c.le(8, "metadata count");
  // Each key/value takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least 8 + 4 + 8 + 4 + 8.
  if (n_kv > c.remaining() / 13) c.fail("metadata count " + std::to_string(n_kv) + " cannot fit in the file");
  if (n_tensors > c.remaining() / 32) c.fail("tensor count " + std::to_string(n_tensors) + " cannot fit in the file");

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.str("metadata key #" + std::to_string(i));
    const uint32_t t = static_cast<uint32_t>(c.le(4, "type of key " + quote(key)));
    if (!valid_type(t)) c.fail("key " + quote(key) + ": unknown value type " + std::to_string(t));
    GgufValue v = read_value(c, static_cast<GgufType>(t), "key " + quote(key));
    if (!kv_index_.emplace(key, kv_.size()).second) c.fail("duplicate key " + quote(key));
    kv_.emplace_back(std::move(key), std::move(v));
  }
  if (const GgufValue* a = find("general.alignment")) {
    if (a->type() != GgufType::U32)
      fail_input(path_ + ": key 'general.alignment' has type " + gguf_type_name(a->type()) + ", expected u32",
                 kCorruptHint);
    alignment_ = a->as_uint();
    if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0)
      fail_input(path_ + ": general.alignment " + std::to_string(alignment_) + " is not a power of two", kCorruptHint);
  }

  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo ti;
    ti.name = c.str("tensor name #" + std::to_string(i));
    const std::string what = "tensor " + quote(ti.name);
    if (ti.name.size() > kGgufMaxTensorName)
      c.fail(what + ": name is " + std::to_string(ti.name.size()) + " bytes, longer than ggml's limit of " +
             std::to_string(kGgufMaxTensorName));
    const uint32_t n_dims = static_cast<uint32_t>(c.le(4, what + " dimension count"));
    if (n_dims == 0 || n_dims > kGgufMaxDims)
      c.fail(what + ": " + std::to_string(n_dims) + " dimensions (ggml supports 1 to 4)");
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = c.le(8, what + " shape");
      if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          (ne != 0 && static_cast<uint64_t>(numel) > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / ne))
        c.fail(what + ": the element count overflows");
      ti.ne.push_back(static_cast<int64_t>(ne));
      numel *= static_cast<int64_t>(ne);
    }
    const uint32_t type = static_cast<uint32_t>(c.le(4, what + " type"));
    if (!known_ggml_type(type))
      fail_input(path_ + ": " + what + " has ggml type " + std::to_string(type) +
                     ", which loratune does not decode (it reads " + known_type_names() + ")",
                 "convert or re-quantize the model to one of those types (llama.cpp's llama-quantize)");
    ti.type = static_cast<GgmlType>(type);
    if (ti.ne[0] % ggml_block_size(ti.type) != 0)
      c.fail(what + ": row length " + std::to_string(ti.ne[0]) + " is not a multiple of the " +
             ggml_type_name(ti.type) + " block size " + std::to_string(ggml_block_size(ti.type)));
    ti.offset = c.le(8, what + " offset");
    ti.nbytes = ggml_nbytes(ti.type, numel);
    if (!tensor_index_.emplace(ti.name, tensors_.size()).second) c.fail("duplicate tensor name " + quote(ti.name));
    tensors_.push_back(std::move(ti));
  }

  data_offset_ = align_up(c.pos(), alignment_);
  if (data_offset_ > size && !tensors_.empty())
    fail_input(path_ + ": the data section starts past the end of the file (truncated file?)", kCorruptHint);
  uint64_t expected = 0;
  for (auto& ti : tensors_) {
    const std::string what = "tensor " + quote(ti.name);
    if (ti.offset != expected)
      fail_input(path_ + ": " + what + " is at data offset " + std::to_string(ti.offset) + ", expected " +
                     std::to_string(expected) + " (tensors must lie back to back, each padded to " +
                     std::to_string(alignment_) + " bytes, as llama.cpp requires)",
                 kCorruptHint);
    if (ti.nbytes > size - std::min<uint64_t>(size, data_offset_) ||
        ti.offset > size - data_offset_ - ti.nbytes)
      fail_input(path_ + ": " + what + " (" + std::to_string(ti.nbytes) + " bytes at data offset " +
                     std::to_string(ti.offset) + ") runs past the end of the file (truncated file?)",
                 kCorruptHint);
    ti.data = bytes + data_offset_ + ti.offset;
    expected = align_up(ti.offset + ti.nbytes, alignment_);
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GgufValue& GgufFile::at(const std::string& key, GgufType type) const {
  const GgufValue* v = find(key);
  if (!v) fail_input(path_ + ": metadata key '" + key + "' is missing", "is this GGUF file for another purpose?");
  if (v->type() != type)
    fail_input(path_ + ": metadata key '" + key + "' has type " + gguf_type_name(v->type()) + ", expected " +
                   gguf_type_name(type),
               "llama.cpp rejects keys of the wrong type too: re-export the file");
  return *v;
}

uint32_t GgufFile::get_u32(const std::string& key) const { return static_cast<uint32_t>(at(key, GgufType::U32).as_uint()); }
float GgufFile::get_f32(const std::string& key) const { return static_cast<float>(at(key, GgufType::F32).as_float()); }
bool GgufFile::get_bool(const std::string& key) const { return at(key, GgufType::Bool).as_bool(); }
const std::string& GgufFile::get_string(const std::string& key) const { return at(key, GgufType::String).as_string(); }

const std::vector<GgufValue>& GgufFile::get_array(const std::string& key, GgufType elem) const {
  const GgufValue& v = at(key, GgufType::Array);
  if (v.array_type() != elem)
    fail_input(path_ + ": metadata key '" + key + "' is an array of " + gguf_type_name(v.array_type()) +
                   ", expected an array of " + gguf_type_name(elem),
               "llama.cpp rejects keys of the wrong type too: re-export the file");
  return v.as_array();
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensorInfo& GgufFile::tensor(const std::string& name) const {
  const GgufTensorInfo* t = find_tensor(name);
  if (!t) fail_input(path_ + ": no tensor " + quote(name), "is this GGUF file for another model?");
  return *t;
}

}  // namespace loratune::io
