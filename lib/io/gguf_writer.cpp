#include "io/gguf_writer.h"

#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/fs.h"
#include "io/gguf_detail.h"

namespace loratune::io {
using gguf_detail::align_up;
using gguf_detail::is_unsigned;
using gguf_detail::quote;
using gguf_detail::scalar_size;

namespace {

// ---- little-endian output ----
void put_le(std::string& out, uint64_t v, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_str(std::string& out, const std::string& s) {
  put_le(out, s.size(), 8);
  out += s;
}

void put_scalar(std::string& out, const GgufValue& v) {
  const GgufType t = v.type();
  switch (t) {
    case GgufType::F32: {
      float f = static_cast<float>(v.as_float());
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      put_le(out, bits, 4);
      return;
    }
    case GgufType::F64: {
      double d = v.as_float();
      uint64_t bits;
      std::memcpy(&bits, &d, 8);
      put_le(out, bits, 8);
      return;
    }
    case GgufType::Bool: put_le(out, v.as_bool() ? 1 : 0, 1); return;
    case GgufType::String: put_str(out, v.as_string()); return;
    case GgufType::Array: LT_CHECK(false, "put_scalar on an array"); return;
    default: break;
  }
  const uint64_t bits = is_unsigned(t) ? v.as_uint() : static_cast<uint64_t>(v.as_int());
  put_le(out, bits, scalar_size(t));
}

void put_value(std::string& out, const GgufValue& v) {
  if (v.type() != GgufType::Array) {
    put_scalar(out, v);
    return;
  }
  put_le(out, static_cast<uint32_t>(v.array_type()), 4);
  put_le(out, v.as_array().size(), 8);
  for (const auto& item : v.as_array()) put_scalar(out, item);
}

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (const auto& kv : kv_) LT_CHECK(kv.first != key, "GGUF key '" + key + "' set twice");
  if (key == "general.alignment") {
    LT_CHECK(value.type() == GgufType::U32 && value.as_uint() > 0 && (value.as_uint() & (value.as_uint() - 1)) == 0,
             "general.alignment must be a u32 power of two");
    LT_CHECK(tensors_.empty(), "set general.alignment before adding tensors");
  }
  kv_.emplace_back(key, std::move(value));
}

uint64_t GgufWriter::alignment() const {
  for (const auto& kv : kv_)
    if (kv.first == "general.alignment") return kv.second.as_uint();
  return kGgufDefaultAlignment;
}

void GgufWriter::add_tensor(const std::string& name, std::vector<int64_t> ne, GgmlType type, Producer produce) {
  const std::string what = "GGUF tensor " + quote(name);
  if (name.empty() || name.size() > kGgufMaxTensorName)
    fail_input(what + ": names must have 1 to " + std::to_string(kGgufMaxTensorName) + " bytes (ggml's limit)");
  if (names_.count(name)) fail_input(what + " added twice");
  if (ne.empty() || ne.size() > kGgufMaxDims)
    fail_input(what + ": " + std::to_string(ne.size()) + " dimensions (ggml supports 1 to 4)");
  int64_t numel = 1;
  for (int64_t d : ne) {
    if (d < 0) fail_input(what + ": negative dimension " + std::to_string(d));
    numel *= d;
  }
  if (ne[0] % ggml_block_size(type) != 0)
    fail_input(what + ": row length " + std::to_string(ne[0]) + " is not a multiple of the " +
               ggml_type_name(type) + " block size " + std::to_string(ggml_block_size(type)));
  names_.emplace(name, tensors_.size());
  tensors_.push_back({name, std::move(ne), type, ggml_nbytes(type, numel), std::move(produce)});
}

void GgufWriter::add_tensor(const std::string& name, std::vector<int64_t> ne, GgmlType type, std::vector<uint8_t> bytes) {
  auto shared = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  add_tensor(name, std::move(ne), type, [shared] { return *shared; });
}

void GgufWriter::write(const std::string& path) const {
  const uint64_t align = alignment();
  std::string head;
  head += "GGUF";
  put_le(head, kGgufVersion, 4);
  put_le(head, tensors_.size(), 8);
  put_le(head, kv_.size(), 8);
  for (const auto& [key, value] : kv_) {
    put_str(head, key);
    put_le(head, static_cast<uint32_t>(value.type()), 4);
    put_value(head, value);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_str(head, t.name);
    put_le(head, t.ne.size(), 4);
    for (int64_t d : t.ne) put_le(head, static_cast<uint64_t>(d), 8);
    put_le(head, static_cast<uint32_t>(t.type), 4);
    put_le(head, offset, 8);
    offset = align_up(offset + t.nbytes, align);
  }
  head.resize(static_cast<size_t>(align_up(head.size(), align)), '\0');

  AtomicFileWriter w(path);
  w.write(head);
  const std::string zeros(static_cast<size_t>(align), '\0');
  for (const auto& t : tensors_) {
    const std::vector<uint8_t> bytes = t.produce();
    LT_CHECK(bytes.size() == t.nbytes, "GGUF tensor '" + t.name + "': produced " + std::to_string(bytes.size()) +
                                           " bytes, expected " + std::to_string(t.nbytes));
    w.write(bytes.data(), bytes.size());
    w.write(zeros.data(), static_cast<size_t>(align_up(t.nbytes, align) - t.nbytes));
  }
  w.commit();
}

}  // namespace loratune::io
