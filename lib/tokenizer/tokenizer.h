// The tokenizer: loading (a Hugging Face model directory's tokenizer.json or SentencePiece tokenizer.model with
// its special-token settings, or a bare tokenizer.model), encode/decode, vocabulary queries, a content
// fingerprint, and in-process training of small Llama-style SentencePiece tokenizers. The backends stay behind
// a pimpl: this header is torch-free, SentencePiece-free and PCRE2-free.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace loratune {

// The SentencePiece piece types; the numbers are the ones the model proto and GGUF's
// tokenizer.ggml.token_type use.
enum class PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct SpecialTokens {
  int bos = -1, eos = -1, pad = -1, unk = -1;  // -1 = undefined
  std::vector<int> eos_ids;  // every id that ends generation, eos first (config.json may list several)
  bool add_bos = true;       // tokenizer_config.json add_bos_token (Llama SentencePiece default: true)
  bool add_eos = false;      // tokenizer_config.json add_eos_token
};

class HfTokenizer;

enum class TokenizerKind {
  SentencePiece,  // tokenizer.model
  HfJson,         // tokenizer.json (BPE), read by HfTokenizer
};

class Tokenizer {
 public:
  // Loads <dir>/tokenizer.json when there is one (as transformers' AutoTokenizer uses the fast tokenizer),
  // else <dir>/tokenizer.model, and resolves the special ids and flags from, in increasing precedence:
  // the vocabulary's defaults (a SentencePiece model's bos/eos/pad/unk ids; for tokenizer.json, a BOS / EOS
  // when the post-processor's template puts exactly one token before / after the text), tokenizer_config.json (bos_token/eos_token/pad_token/unk_token as a string
  // or {"content": ...}, add_bos_token, add_eos_token, chat_template), config.json (bos_token_id,
  // eos_token_id as an int or a list, pad_token_id) and generation_config.json (the same keys).
  // A JSON null means "not set here". The chat template comes from tokenizer_config.json, overridden by
  // chat_template.json and then chat_template.jinja (the newer transformers layouts).
  // Every problem (missing directory, no tokenizer file, a corrupt model, an unsupported tokenizer.json
  // component, a bad key, a token that is not in the vocabulary) throws loratune::Error (exit 2) naming the
  // file and key.
  static Tokenizer from_model_dir(const std::string& dir);
  // Loads a tokenizer.model alone: special ids from the model, add_bos when it has a BOS piece. A path ending
  // in ".json" is a tokenizer.json: its special tokens and chat template come from the files beside it
  // (tokenizer_config.json, ...), as from_model_dir resolves them.
  static Tokenizer from_file(const std::string& tokenizer_model_path);
  // A tokenizer.json document held in memory (e.g. made from a GGUF file's vocabulary), with its special
  // tokens and chat template given; `source` names it in messages and is model_path(). The fingerprint
  // covers the document and the template, as for a file.
  static Tokenizer from_json_text(const std::string& json_text, const std::string& source,
                                  const SpecialTokens& special, const std::string& chat_template);

  // A SentencePiece model held in memory (a serialized ModelProto, e.g. made from a GGUF file's "llama"
  // vocabulary), with its special tokens and chat template given; as from_json_text otherwise.
  static Tokenizer from_spm_bytes(const std::string& model_proto, const std::string& source,
                                  const SpecialTokens& special, const std::string& chat_template);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Token ids for `text`, with BOS prepended / EOS appended on request. Asking for a BOS or EOS the
  // tokenizer does not define is an input error.
  std::vector<int> encode(const std::string& text, bool add_bos, bool add_eos = false) const;
  // The text of `ids`; control tokens (bos/eos/pad) are skipped. Like SentencePiece, the leading space
  // of the first piece (the dummy prefix) is removed.
  std::string decode(const std::vector<int>& ids) const;
  // The text of one token, for streaming: "▁" becomes a space (including on the first token), a byte
  // piece <0xNN> becomes that single raw byte (callers accumulate bytes until they form valid UTF-8),
  // control pieces give "", the unknown piece gives SentencePiece's " ⁇ " surface.
  std::string decode_piece(int id) const;

  int vocab_size() const;
  std::string piece(int id) const;
  float score(int id) const;
  PieceType type(int id) const;
  // The bytes token `id` stands for in a text it was encoded from: decode_piece's text, except that a
  // tokenizer.json's special tokens (matched literally in text) give their content. A table built once.
  const std::string& surface(int id) const;
  int piece_to_id(const std::string& piece) const;  // the unk id (or -1 without one) when absent
  bool has_byte_fallback() const;                    // all 256 byte pieces <0x00>..<0xFF> present
  const SpecialTokens& special() const;
  const std::string& chat_template() const;    // "" when none
  // sha256 hex of the vocabulary file's bytes (tokenizer.model or tokenizer.json), followed by a NUL byte and
  // the chat template when there is one: data prepared under another template is refused like another vocabulary.
  const std::string& fingerprint() const;
  const std::string& model_path() const;
  // The vocabulary file's bytes exactly as read (tokenizer.model or tokenizer.json), to copy it.
  std::string serialized_model() const;
  TokenizerKind kind() const;
  const HfTokenizer* hf() const;  // the tokenizer.json backend; nullptr for SentencePiece

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct TokenizerTrainOptions {
  std::vector<std::string> corpus_files;  // UTF-8 text, one training sentence per line
  int vocab_size = 512;
  std::string model_type = "bpe";  // bpe | unigram
  bool byte_fallback = true;       // llama.cpp needs the 256 byte pieces
  int64_t max_sentence_length = 16384;  // bytes; longer lines are skipped by SentencePiece
  // Recorded in the model's trainer_spec, so it is part of the model bytes. Unigram training sums
  // per-thread partial results, so its pieces and scores also depend on the thread count; the output
  // is deterministic for a fixed value.
  int num_threads = 1;
  // Seeds SentencePiece's global random generator (SetRandomGeneratorSeed). With the whole corpus
  // loaded (no sentence sampling) BPE and unigram training use no randomness, so the output does not
  // depend on it; it is set so that any sampling SentencePiece does is reproducible too.
  uint64_t seed = 42;
};

// Trains a SentencePiece model in-process with Llama conventions: unk=0 "<unk>", bos=1 "<s>",
// eos=2 "</s>", no pad piece, byte fallback, split digits, character coverage 1.0, the identity
// normalizer (text round-trips byte for byte) and a dummy prefix. The model is written atomically to
// out_model_path. Deterministic: the same corpus and options give byte-identical models. A corpus too
// small for vocab_size, or a vocab_size too small for the corpus's characters, is an input error that
// states the limit SentencePiece reports.
void train_tokenizer(const TokenizerTrainOptions& opts, const std::string& out_model_path);

}  // namespace loratune
