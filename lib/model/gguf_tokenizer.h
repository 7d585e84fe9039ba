// A GGUF file's tokenizer (the tokenizer.ggml.* keys, as llama.cpp's converter writes them) read into the
// tokenizer.json machinery: a byte-level BPE vocabulary (tokenizer.ggml.model "gpt2") becomes the
// tokenizer.json document of its family, chosen by tokenizer.ggml.pre, for Tokenizer::from_json_text.
// Key names come from the GGUF key table (model/arch.h). Torch-free.
#pragma once
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace loratune {

namespace io {
class GgufFile;
}

// Whether `path` is a regular file that starts with the GGUF magic.
bool is_gguf_file(const std::string& path);

// The pre-tokenizer names (tokenizer.ggml.pre) read, each as llama.cpp splits text and as the family's
// tokenizer.json writes it: "gpt-2" (GPT-2's ByteLevel regex), "smollm" (each digit apart, then the GPT-2
// regex: Digits(individual_digits) + ByteLevel), "llama-bpe" (Llama 3's Split regex; ignore_merges, as
// llama.cpp tokenizes it), "qwen2" (Qwen2's Split regex, after NFC as its tokenizer.json normalizes).
const std::vector<std::string>& gguf_bpe_pre_names();
// The Split patterns of "llama-bpe" and "qwen2" (also what the GGUF export recognizes them by).
extern const char* const kLlama3PreRegex;
extern const char* const kQwen2PreRegex;

// The tokenizer.json text for `f`'s vocabulary: tokens (tokenizer.ggml.tokens) as the BPE vocabulary with
// tokenizer.ggml.merges; CONTROL tokens become special added tokens, USER_DEFINED ones non-special added
// tokens (both matched literally in text, as llama.cpp does). Refused (input error naming the file and the
// key): another tokenizer.ggml.model, an unknown tokenizer.ggml.pre,
// missing or mistyped keys, token_type and tokens of different lengths.
std::string gguf_bpe_tokenizer_json(const io::GgufFile& f);

// A SentencePiece "llama" vocabulary (tokenizer.ggml.model "llama": tokens, scores, token types as the
// SentencePiece piece types, unknown/bos/eos/padding ids, add_space_prefix, remove_extra_whitespaces) as the
// serialized BPE ModelProto SentencePiece loads; byte fallback when it has all 256 byte tokens. Refused (input
// error naming the file and key): arrays of different lengths, a type outside 1..6, no unknown token.
std::string gguf_spm_model_proto(const io::GgufFile& f);

// The tokenizer of a GGUF file: its vocabulary (gguf_bpe_tokenizer_json or gguf_spm_model_proto), the special ids
// (tokenizer.ggml.bos/eos/unknown/padding_token_id, add_bos_token, add_eos_token) and the chat template
// (tokenizer.chat_template).
Tokenizer tokenizer_from_gguf(const std::string& path);

// The tokenizer of a model path: a GGUF file's (tokenizer_from_gguf), else a model directory's
// (Tokenizer::from_model_dir).
Tokenizer load_tokenizer(const std::string& model_path);

}  // namespace loratune
