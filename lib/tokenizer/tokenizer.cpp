// SentencePiece wrapper. Piece types are read from the model protobuf directly (a small wire-format
// reader below): Debian's libsentencepiece ships no sentencepiece_model.pb.h, so model_proto() is an
// opaque type here, and the Is*() API cannot tell USER_DEFINED from NORMAL pieces.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "core/fs.h"
#include "core/sha256.h"
#include "core/strings.h"
#include "tokenizer/spm_backend.h"

namespace loratune {

namespace {

using nlohmann::json;

constexpr const char* kSpaceMarker = "\xE2\x96\x81";  // U+2581 "▁", SentencePiece's space
constexpr const char* kModelHint =
    "use the base model's tokenizer.model (from its Hugging Face repository); if the file was "
    "downloaded, download it again";

// ---------------------------------------------------------------------------------------------------
// Minimal protobuf wire-format reader for ModelProto.pieces (field 1), each a SentencePiece message
// {piece = 1 (string), score = 2 (float), type = 3 (enum, default NORMAL)}.

struct ProtoPiece {
  std::string piece;
  float score = 0.0f;
  PieceType type = PieceType::Normal;
};

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

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

// ---------------------------------------------------------------------------------------------------
// HF JSON files.

std::optional<json> read_json_object(const std::string& path) {
  if (!path_exists(path)) return std::nullopt;
  const std::string text = read_text_file(path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail_input(path + ": invalid JSON (" + e.what() + ")", "fix the file or remove it");
  }
  if (!j.is_object()) fail_input(path + ": expected a JSON object at the top level", "fix the file or remove it");
  return j;
}

std::string key_ref(const std::string& file, const std::string& key) {
  return file + ": key '" + key + "'";
}

// A JSON value that is present and not null.
const json* find_key(const json& obj, const std::string& key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<bool> bool_key(const json& obj, const std::string& file, const std::string& key) {
  const json* v = find_key(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) fail_input(key_ref(file, key) + " must be true or false, got " + v->dump(), "fix the value or remove the key");
  return v->get<bool>();
}

// tokenizer_config.json chat_template: a string, or a list of {"name", "template"} of which the one
// named "default" is the tokenizer's template (as in transformers).
std::optional<std::string> chat_template_value(const json& v, const std::string& file) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) fail_input(key_ref(file, "chat_template") + " must be a string or a list of templates",
               "fix the value or remove the key");
  for (const auto& entry : v) {
    if (entry.is_object() && entry.value("name", json()) == "default" && entry.contains("template") &&
        entry["template"].is_string())
      return entry["template"].get<std::string>();
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------
// Special-token resolution.

struct Resolution {
  SpecialTokens special;
  std::string chat_template;
  std::string add_bos_source;  // file that explicitly set add_bos_token, "" if defaulted
  std::string add_eos_source;
};

class SpecialResolver {
 public:
  SpecialResolver(const spm::Processor& sp, const std::string& model_path)
      : sp_(sp), model_path_(model_path) {}

  // tokenizer_config.json: token names, add_*_token flags, chat_template.
  void apply_tokenizer_config(const json& cfg, const std::string& file, Resolution* r) const {
    set_by_name(cfg, file, "bos_token", &r->special.bos);
    set_by_name(cfg, file, "pad_token", &r->special.pad);
    set_by_name(cfg, file, "unk_token", &r->special.unk);
    if (set_by_name(cfg, file, "eos_token", &r->special.eos)) r->special.eos_ids = {r->special.eos};
    if (auto b = bool_key(cfg, file, "add_bos_token")) {
      r->special.add_bos = *b;
      r->add_bos_source = file;
    }
    if (auto b = bool_key(cfg, file, "add_eos_token")) {
      r->special.add_eos = *b;
      r->add_eos_source = file;
    }
    if (const json* t = find_key(cfg, "chat_template")) {
      if (auto tmpl = chat_template_value(*t, file)) r->chat_template = *tmpl;
    }
  }

  // config.json / generation_config.json: bos_token_id, eos_token_id (int or list), pad_token_id.
  void apply_id_config(const json& cfg, const std::string& file, Resolution* r) const {
    if (const json* v = find_key(cfg, "bos_token_id")) r->special.bos = checked_id(*v, file, "bos_token_id");
    if (const json* v = find_key(cfg, "pad_token_id")) r->special.pad = checked_id(*v, file, "pad_token_id");
    if (const json* v = find_key(cfg, "eos_token_id")) {
      r->special.eos_ids = id_list(*v, file, "eos_token_id");
      r->special.eos = r->special.eos_ids.front();
    }
  }

 private:
  // Sets *id from a token given as "text" or {"content": "text"}; returns whether the key was set.
  bool set_by_name(const json& cfg, const std::string& file, const std::string& key, int* id) const {
    const json* v = find_key(cfg, key);
    if (!v) return false;
    const json* content = v->is_object() ? find_key(*v, "content") : v;
    if (!content || !content->is_string())
      fail_input(key_ref(file, key) + " must be a string or an object with a string \"content\", got " +
                     v->dump(),
                 "fix the value or remove the key");
    *id = id_of_token(content->get<std::string>(), file, key);
    return true;
  }

  int id_of_token(const std::string& token, const std::string& file, const std::string& key) const {
    const int id = sp_.piece_to_id(token);
    if (id < 0 || id >= sp_.piece_size() || sp_.id_to_piece(id) != token)
      fail_input(key_ref(file, key) + " names the token \"" + token + "\", which is not a piece of " +
                     model_path_,
                 "loratune uses the SentencePiece vocabulary only (tokens added on top of it in "
                 "tokenizer.json/added_tokens.json are not supported); set the key to a piece of "
                 "tokenizer.model or remove it");
    return id;
  }

  int checked_id(const json& v, const std::string& file, const std::string& key) const {
    if (!v.is_number_integer())
      fail_input(key_ref(file, key) + " must be an integer token id, got " + v.dump(),
                 "fix the value or remove the key");
    const auto id = v.get<int64_t>();
    if (id < 0 || id >= sp_.piece_size())
      fail_input(key_ref(file, key) + " is " + std::to_string(id) + ", outside the vocabulary of " +
                     model_path_ + " (" + std::to_string(sp_.piece_size()) + " pieces)",
                 "check that tokenizer.model belongs to this model; tokens added beyond the "
                 "SentencePiece vocabulary are not supported");
    return static_cast<int>(id);
  }

  std::vector<int> id_list(const json& v, const std::string& file, const std::string& key) const {
    if (!v.is_array()) return {checked_id(v, file, key)};
    if (v.empty()) fail_input(key_ref(file, key) + " is an empty list", "give at least one token id or remove the key");
    std::vector<int> ids;
    for (const auto& item : v) ids.push_back(checked_id(item, file, key));
    return ids;
  }

  const spm::Processor& sp_;
  const std::string& model_path_;
};

// The defaults a bare SentencePiece model implies.
SpecialTokens specials_from_model(const spm::Processor& sp) {
  SpecialTokens s;
  s.bos = sp.bos_id();
  s.eos = sp.eos_id();
  s.pad = sp.pad_id();
  s.unk = sp.unk_id();
  return s;
}

// eos_ids defaults to {eos}; add_bos/add_eos without the token: an error when a file asked for it,
// otherwise off.
void finalize_specials(Resolution* r) {
  SpecialTokens& s = r->special;
  if (s.eos_ids.empty() && s.eos >= 0) s.eos_ids = {s.eos};
  if (s.add_bos && s.bos < 0) {
    if (!r->add_bos_source.empty())
      fail_input(key_ref(r->add_bos_source, "add_bos_token") + " is true but the tokenizer has no BOS token",
                 "set bos_token (or bos_token_id in config.json), or set add_bos_token to false");
    s.add_bos = false;
  }
  if (s.add_eos && s.eos < 0)
    fail_input(key_ref(r->add_eos_source, "add_eos_token") + " is true but the tokenizer has no EOS token",
               "set eos_token (or eos_token_id in config.json), or set add_eos_token to false");
}

std::optional<std::string> chat_template_override(const std::string& dir) {
  const std::string jinja = join_path(dir, "chat_template.jinja");
  if (path_exists(jinja)) return read_text_file(jinja);
  const std::string file = join_path(dir, "chat_template.json");
  auto j = read_json_object(file);
  if (!j) return std::nullopt;
  const json* t = find_key(*j, "chat_template");
  if (!t) fail_input(key_ref(file, "chat_template") + " is missing", "add the template or remove the file");
  return chat_template_value(*t, file);
}

// ---------------------------------------------------------------------------------------------------
// Training.


void validate_train_options(const TokenizerTrainOptions& o, const std::string& out_path) {
  if (o.corpus_files.empty())
    fail_input("no corpus files given for tokenizer training", "pass one or more UTF-8 text files");
  for (const auto& f : o.corpus_files) {
    if (!path_exists(f) || is_directory(f))
      fail_input(f + ": corpus file not found (or not a file)", "check the path of the training text");
  }
  if (o.model_type != "bpe" && o.model_type != "unigram")
    fail_input("tokenizer model_type '" + o.model_type + "' is not supported" +
                   did_you_mean(o.model_type, {"bpe", "unigram"}),
               "use bpe or unigram");
  if (o.vocab_size <= 3)
    fail_input("tokenizer vocab_size must be greater than 3, got " + std::to_string(o.vocab_size),
               "use a vocab_size of a few hundred or more (byte fallback alone needs 259 pieces)");
  if (o.num_threads < 1)
    fail_input("tokenizer num_threads must be at least 1, got " + std::to_string(o.num_threads),
               "set num_threads to 1 or more");
  if (o.max_sentence_length < 1)
    fail_input("tokenizer max_sentence_length must be positive, got " + std::to_string(o.max_sentence_length),
               "set it to the longest line length in bytes to keep (default 16384)");
  if (out_path.empty()) fail_input("no output path given for the trained tokenizer", "pass an output path");
  if (!is_directory(parent_dir(out_path)))
    fail_input(out_path + ": the output directory " + parent_dir(out_path) + " does not exist",
               "create it first or choose another output path");
}

std::unordered_map<std::string, std::string> trainer_args(const TokenizerTrainOptions& o) {
  const auto flag = [](bool b) { return std::string(b ? "true" : "false"); };
  return {
      {"model_type", o.model_type},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"byte_fallback", flag(o.byte_fallback)},
      {"split_digits", "true"},
      {"character_coverage", "1.0"},
      {"normalization_rule_name", "identity"},
      {"add_dummy_prefix", "true"},
      {"remove_extra_whitespaces", "false"},
      {"allow_whitespace_only_pieces", "true"},
      {"unk_id", "0"}, {"bos_id", "1"}, {"eos_id", "2"}, {"pad_id", "-1"},
      {"unk_piece", "<unk>"}, {"bos_piece", "<s>"}, {"eos_piece", "</s>"},
      {"max_sentence_length", std::to_string(o.max_sentence_length)},
      {"num_threads", std::to_string(o.num_threads)},
      {"input_sentence_size", "0"},          // use every sentence: no sampling
      {"shuffle_input_sentence", "false"},
      {"minloglevel", "2"},  // quiet: every failure comes back as a status and is reported by us
  };
}

// SentencePiece reserves 0xFFFFFFFF ("seed from std::random_device"); fold the 64-bit seed into the
// remaining 32-bit values.
unsigned int sentencepiece_seed(uint64_t seed) {
  const auto folded = static_cast<uint32_t>(seed ^ (seed >> 32));
  return folded == 0xFFFFFFFFu ? 0xFFFFFFFEu : folded;
}

// The decimal number that follows the first `after` found at or past the first `anchor` in text.
std::optional<std::string> number_after(const std::string& text, const std::string& anchor,
                                        const std::string& after) {
  size_t pos = text.find(anchor);
  if (pos == std::string::npos) return std::nullopt;
  pos = text.find(after, pos);
  if (pos == std::string::npos) return std::nullopt;
  pos += after.size();
  size_t end = pos;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
  if (end == pos) return std::nullopt;
  return text.substr(pos, end - pos);
}

[[noreturn]] void fail_training(const std::string& sp_message, const TokenizerTrainOptions& o,
                               size_t text_lines) {
  const std::string corpus = join(o.corpus_files, ", ");
  const std::string vocab = std::to_string(o.vocab_size);
  if (text_lines == 0)
    fail_input("the tokenizer corpus (" + corpus + ") has no text", "train on files with non-empty lines of text");
  // SentencePiece: "Vocabulary size too high (N). Please set it to a value <= MAX."
  if (auto max = number_after(sp_message, "Vocabulary size too high", "Please set it to a value <= "))
    fail_input("the corpus (" + corpus + ") is too small for tokenizer vocab_size " + vocab +
                   ": SentencePiece can build at most " + *max + " pieces from it",
               "set vocab_size to at most " + *max + ", or train on more text");
  // SentencePiece: "Vocabulary size is smaller than required_chars. N vs MIN."
  if (auto min = number_after(sp_message, "smaller than required_chars", " vs "))
    fail_input("tokenizer vocab_size " + vocab + " is too small for the corpus (" + corpus + "): its " +
                   "special, byte and single-character pieces alone need " + *min,
               "set vocab_size to at least " + *min + " (more leaves room for merged pieces)");
  fail_input("training a tokenizer on " + corpus + " failed: " + sp_message,
             "check that the corpus is non-empty UTF-8 text and the training options are valid");
}

}  // namespace

// -----------------------------------------------------------------------------------------------------

struct Tokenizer::Impl {
  std::unique_ptr<spm::Processor> sp;
  std::string path;
  std::string bytes;
  std::string fingerprint;
  std::vector<ProtoPiece> pieces;
  SpecialTokens special;
  std::string chat_template;
  bool byte_fallback = false;

  void load(const std::string& model_path);
  void check_id(int id) const;
  bool find_byte_pieces() const;
};

void Tokenizer::Impl::load(const std::string& model_path) {
  path = model_path;
  if (!path_exists(path)) fail_input(path + ": tokenizer model not found", kModelHint);
  bytes = read_text_file(path);
  if (bytes.empty()) fail_input(path + ": the file is empty, expected a SentencePiece model", kModelHint);
  auto parsed = parse_model_pieces(bytes);
  if (!parsed)
    fail_input(path + ": not a SentencePiece model (the file is not a valid model protobuf)", kModelHint);
  pieces = std::move(*parsed);
  std::string error;
  sp.reset(spm::api().load(bytes, &error));
  if (!sp) fail_input(path + ": SentencePiece cannot load this model: " + error, kModelHint);
  if (sp->piece_size() != static_cast<int>(pieces.size()))
    fail_input(path + ": inconsistent SentencePiece model (" + std::to_string(sp->piece_size()) + " vs " +
                   std::to_string(pieces.size()) + " pieces)",
               kModelHint);
  fingerprint = sha256_hex(bytes);
  special = specials_from_model(*sp);
  if (special.eos >= 0) special.eos_ids = {special.eos};
  special.add_bos = special.bos >= 0;
  byte_fallback = find_byte_pieces();
}

void Tokenizer::Impl::check_id(int id) const {
  if (id < 0 || id >= static_cast<int>(pieces.size()))
    fail_input("token id " + std::to_string(id) + " is outside the vocabulary of " + path + " (" +
                   std::to_string(pieces.size()) + " pieces)",
               "check that the tokenizer belongs to the model (its vocab_size may be larger)");
}

bool Tokenizer::Impl::find_byte_pieces() const {
  for (int b = 0; b < 256; ++b) {
    const int id = sp->piece_to_id(byte_piece_name(b));
    if (id < 0 || id >= static_cast<int>(pieces.size()) || pieces[id].type != PieceType::Byte ||
        pieces[id].piece != byte_piece_name(b))
      return false;
  }
  return true;
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_file(const std::string& tokenizer_model_path) {
  auto impl = std::make_unique<Impl>();
  impl->load(tokenizer_model_path);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_model_dir(const std::string& dir) {
  if (!path_exists(dir))
    fail_input(dir + ": model directory not found", "pass the directory that holds tokenizer.model");
  if (!is_directory(dir))
    fail_input(dir + ": not a directory", "pass the model directory that holds tokenizer.model, not a file");
  const std::string model = join_path(dir, "tokenizer.model");
  if (!path_exists(model) && path_exists(join_path(dir, "tokenizer.json")))
    fail_input(dir + ": has only tokenizer.json (the Hugging Face tokenizers format), which loratune does not "
                     "support yet; it needs a SentencePiece tokenizer.model",
               "if the model's Hugging Face repository has a tokenizer.model, put it into " + dir +
                   "; models that ship only tokenizer.json (byte-level BPE such as SmolLM2, Llama 3 or Qwen) "
                   "cannot be used until tokenizer.json support is added");
  if (!path_exists(model))
    fail_input(dir + ": no tokenizer.model found", "put the base model's SentencePiece tokenizer.model into " + dir);

  auto impl = std::make_unique<Impl>();
  impl->load(model);
  Resolution r{impl->special, {}, {}, {}};
  const SpecialResolver resolver(*impl->sp, impl->path);
  const std::string tc = join_path(dir, "tokenizer_config.json");
  if (auto j = read_json_object(tc)) resolver.apply_tokenizer_config(*j, tc, &r);
  for (const char* name : {"config.json", "generation_config.json"}) {
    const std::string file = join_path(dir, name);
    if (auto j = read_json_object(file)) resolver.apply_id_config(*j, file, &r);
  }
  if (auto tmpl = chat_template_override(dir)) r.chat_template = *tmpl;
  finalize_specials(&r);
  impl->special = std::move(r.special);
  impl->chat_template = std::move(r.chat_template);
  return Tokenizer(std::move(impl));
}

std::vector<int> Tokenizer::encode(const std::string& text, bool add_bos, bool add_eos) const {
  const SpecialTokens& s = impl_->special;
  if (add_bos && s.bos < 0)
    fail_input(impl_->path + ": the tokenizer has no BOS token, so it cannot be added",
               "set bos_token in tokenizer_config.json or turn off adding BOS");
  if (add_eos && s.eos < 0)
    fail_input(impl_->path + ": the tokenizer has no EOS token, so it cannot be added",
               "set eos_token in tokenizer_config.json or turn off adding EOS");
  std::vector<int> ids;
  std::string error;
  if (!impl_->sp->encode(text, &ids, &error)) fail_runtime(impl_->path + ": encoding failed: " + error);
  if (add_bos) ids.insert(ids.begin(), s.bos);
  if (add_eos) ids.push_back(s.eos);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::vector<int> kept;
  kept.reserve(ids.size());
  for (int id : ids) {
    impl_->check_id(id);
    if (impl_->pieces[id].type != PieceType::Control) kept.push_back(id);
  }
  std::string text;
  std::string error;
  if (!impl_->sp->decode(kept, &text, &error)) fail_runtime(impl_->path + ": decoding failed: " + error);
  return text;
}

std::string Tokenizer::decode_piece(int id) const {
  impl_->check_id(id);
  const ProtoPiece& p = impl_->pieces[id];
  switch (p.type) {
    case PieceType::Control: return {};
    case PieceType::Byte: {
      const int b = parse_byte_piece(p.piece);
      return b >= 0 ? std::string(1, static_cast<char>(b)) : p.piece;
    }
    case PieceType::Unknown: {
      std::string text, error;
      if (!impl_->sp->decode({id}, &text, &error)) fail_runtime(impl_->path + ": decoding failed: " + error);
      return text;
    }
    default: return replace_all(p.piece, kSpaceMarker, " ");
  }
}

int Tokenizer::vocab_size() const { return static_cast<int>(impl_->pieces.size()); }

std::string Tokenizer::piece(int id) const {
  impl_->check_id(id);
  return impl_->pieces[id].piece;
}

float Tokenizer::score(int id) const {
  impl_->check_id(id);
  return impl_->pieces[id].score;
}

PieceType Tokenizer::type(int id) const {
  impl_->check_id(id);
  return impl_->pieces[id].type;
}

int Tokenizer::piece_to_id(const std::string& piece) const { return impl_->sp->piece_to_id(piece); }

bool Tokenizer::has_piece(const std::string& piece) const {
  const int id = impl_->sp->piece_to_id(piece);
  return id >= 0 && id < vocab_size() && impl_->pieces[id].piece == piece;
}

bool Tokenizer::has_byte_fallback() const { return impl_->byte_fallback; }
const SpecialTokens& Tokenizer::special() const { return impl_->special; }

bool Tokenizer::is_eos(int id) const {
  const auto& ids = impl_->special.eos_ids;
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }
const std::string& Tokenizer::fingerprint() const { return impl_->fingerprint; }
const std::string& Tokenizer::model_path() const { return impl_->path; }
std::string Tokenizer::serialized_model() const { return impl_->bytes; }

// -----------------------------------------------------------------------------------------------------

void train_tokenizer(const TokenizerTrainOptions& opts, const std::string& out_model_path) {
  validate_train_options(opts, out_model_path);
  spm::TrainOutcome out;
  spm::api().train(trainer_args(opts), opts.corpus_files, sentencepiece_seed(opts.seed), &out);
  if (!out.corpus_error.empty()) fail_input(out.corpus_error, "check the corpus file paths");
  if (!out.ok) fail_training(out.message, opts, out.text_lines);
  std::string error;
  std::unique_ptr<spm::Processor> check(spm::api().load(out.model, &error));
  LT_CHECK(check != nullptr, "SentencePiece produced a model it cannot load: " + error);
  write_file_atomic(out_model_path, out.model);
}

}  // namespace loratune
