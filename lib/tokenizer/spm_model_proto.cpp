#include "tokenizer/spm_model_proto.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>

namespace loratune::spm {

namespace {

// Wire-format reading for ModelProto.pieces (field 1), each a SentencePiece message
// {piece = 1 (string), score = 2 (float), type = 3 (enum, default NORMAL)}.
class WireReader {
 public:
  explicit WireReader(std::string_view data) : p_(data.data()), end_(data.data() + data.size()) {}
  bool done() const { return p_ == end_; }

  bool varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return false;
      const auto byte = static_cast<uint8_t>(*p_++);
      *v |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  bool fixed32(uint32_t* v) {
    if (end_ - p_ < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) *v |= static_cast<uint32_t>(static_cast<uint8_t>(p_[i])) << (8 * i);
    p_ += 4;
    return true;
  }

  bool bytes(std::string_view* out) {
    uint64_t n = 0;
    if (!varint(&n) || n > static_cast<uint64_t>(end_ - p_)) return false;
    *out = std::string_view(p_, static_cast<size_t>(n));
    p_ += n;
    return true;
  }

  // Skips a field's value. Groups (wire types 3/4) do not occur in sentencepiece_model.proto.
  bool skip(uint32_t wire_type) {
    uint64_t v = 0;
    uint32_t f = 0;
    std::string_view s;
    switch (wire_type) {
      case 0: return varint(&v);
      case 1: return end_ - p_ >= 8 ? (p_ += 8, true) : false;
      case 2: return bytes(&s);
      case 5: return fixed32(&f);
      default: return false;
    }
  }

 private:
  const char* p_;
  const char* end_;
};

bool parse_piece(std::string_view data, ProtoPiece* out) {
  WireReader r(data);
  while (!r.done()) {
    uint64_t key = 0;
    if (!r.varint(&key)) return false;
    const auto field = key >> 3;
    const auto wire = static_cast<uint32_t>(key & 7);
    if (field == 1 && wire == 2) {
      std::string_view s;
      if (!r.bytes(&s)) return false;
      out->piece.assign(s.data(), s.size());
    } else if (field == 2 && wire == 5) {
      uint32_t bits = 0;
      if (!r.fixed32(&bits)) return false;
      std::memcpy(&out->score, &bits, sizeof(bits));
    } else if (field == 3 && wire == 0) {
      uint64_t t = 0;
      if (!r.varint(&t) || t < 1 || t > 6) return false;
      out->type = static_cast<PieceType>(t);
    } else if (!r.skip(wire)) {
      return false;
    }
  }
  return true;
}

}  // namespace

// The pieces of a serialized ModelProto, or nullopt when the bytes are not a well-formed one.
std::optional<std::vector<ProtoPiece>> parse_model_pieces(std::string_view data) {
  std::vector<ProtoPiece> pieces;
  WireReader r(data);
  while (!r.done()) {
    uint64_t key = 0;
    if (!r.varint(&key) || (key >> 3) == 0) return std::nullopt;
    const auto wire = static_cast<uint32_t>(key & 7);
    if ((key >> 3) == 1 && wire == 2) {
      std::string_view sub;
      ProtoPiece piece;
      if (!r.bytes(&sub) || !parse_piece(sub, &piece)) return std::nullopt;
      pieces.push_back(std::move(piece));
    } else if (!r.skip(wire)) {
      return std::nullopt;
    }
  }
  if (pieces.empty()) return std::nullopt;
  return pieces;
}

namespace {
// Protobuf wire format, writing: tag = field << 3 | wire type (0 varint, 2 length-delimited, 5 fixed32).
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_tag(std::string& out, uint32_t field, uint32_t wire) { put_varint(out, (static_cast<uint64_t>(field) << 3) | wire); }
void put_int(std::string& out, uint32_t field, int64_t v) {  // int32 / enum / bool; negatives as 10 bytes
  put_tag(out, field, 0);
  put_varint(out, static_cast<uint64_t>(v));
}
void put_bytes(std::string& out, uint32_t field, const std::string& b) {
  put_tag(out, field, 2);
  put_varint(out, b.size());
  out += b;
}
void put_float(std::string& out, uint32_t field, float f) {
  put_tag(out, field, 5);
  uint32_t bits = 0;
  std::memcpy(&bits, &f, sizeof bits);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
}
}  // namespace

std::string serialize_bpe_model(const BpeModelSpec& spec) {
  std::string out;
  for (const auto& p : spec.pieces) {  // ModelProto.pieces = 1: {piece = 1, score = 2, type = 3}
    std::string m;
    put_bytes(m, 1, p.piece);
    put_float(m, 2, p.score);
    put_int(m, 3, static_cast<int64_t>(p.type));
    put_bytes(out, 1, m);
  }
  std::string trainer;  // ModelProto.trainer_spec = 2
  put_int(trainer, 3, 2);  // model_type: BPE
  put_int(trainer, 4, static_cast<int64_t>(spec.pieces.size()));
  put_int(trainer, 35, spec.byte_fallback ? 1 : 0);
  put_int(trainer, 40, spec.unk_id);
  put_int(trainer, 41, spec.bos_id);
  put_int(trainer, 42, spec.eos_id);
  put_int(trainer, 43, spec.pad_id);
  put_bytes(out, 2, trainer);
  std::string norm;  // ModelProto.normalizer_spec = 3
  put_bytes(norm, 1, "identity");
  put_int(norm, 3, spec.add_dummy_prefix ? 1 : 0);
  put_int(norm, 4, spec.remove_extra_whitespaces ? 1 : 0);
  put_int(norm, 5, 1);  // escape_whitespaces: " " -> U+2581
  put_bytes(out, 3, norm);
  return out;
}

std::string byte_piece_name(int byte) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "<0x%02X>", byte);
  return buf;
}

// "<0xNN>" -> NN, or -1.
int parse_byte_piece(const std::string& piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  int value = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = piece[i];
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

}  // namespace loratune::spm
