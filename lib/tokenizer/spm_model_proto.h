// Internal to lib/tokenizer: a minimal reader of the SentencePiece model file (a serialized ModelProto).
// Piece types are read from the protobuf directly because Debian's libsentencepiece ships no
// sentencepiece_model.pb.h (model_proto() is an opaque type there) and its Is*() API cannot tell
// USER_DEFINED from NORMAL pieces.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace loratune::spm {

// One entry of ModelProto.pieces.
struct ProtoPiece {
  std::string piece;
  float score = 0.0f;
  PieceType type = PieceType::Normal;
};

// The pieces of a serialized ModelProto, or nullopt when the bytes are not a well-formed one (or hold no
// piece).
std::optional<std::vector<ProtoPiece>> parse_model_pieces(std::string_view data);

// "<0xNN>", the name of the byte-fallback piece for `byte`.
std::string byte_piece_name(int byte);
// "<0xNN>" -> NN, or -1.
int parse_byte_piece(const std::string& piece);

}  // namespace loratune::spm
