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

// What a SentencePiece BPE model needs beyond its pieces (sentencepiece_model.proto's TrainerSpec and
// NormalizerSpec fields; ids are -1 when undefined).
struct BpeModelSpec {
  std::vector<ProtoPiece> pieces;
  int unk_id = 0, bos_id = -1, eos_id = -1, pad_id = -1;
  bool byte_fallback = false;
  bool add_dummy_prefix = true;          // "hello" is encoded as " hello" (Llama's tokenizer.model: true)
  bool remove_extra_whitespaces = false;
};

// A serialized ModelProto for `spec`: TrainerSpec {model_type BPE, vocab_size, byte_fallback, unk/bos/eos/pad
// ids} and NormalizerSpec {name "identity", add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces}.
// SentencePiece loads it as it loads a tokenizer.model with the same pieces.
std::string serialize_bpe_model(const BpeModelSpec& spec);

// "<0xNN>", the name of the byte-fallback piece for `byte`.
std::string byte_piece_name(int byte);
// "<0xNN>" -> NN, or -1.
int parse_byte_piece(const std::string& piece);

}  // namespace loratune::spm
