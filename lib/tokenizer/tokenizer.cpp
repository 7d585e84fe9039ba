// The tokenizer: loading, encode/decode and vocabulary queries over one of two backends, a SentencePiece
// tokenizer.model (its pieces read by spm_model_proto.cpp) or a Hugging Face tokenizer.json (HfTokenizer,
// hf_tokenizer.h). The special tokens of a model directory are resolved by special_tokens.cpp; training
// lives in tokenizer_train.cpp.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <mutex>
#include <string_view>
#include <utility>

#include "core/error.h"
#include "core/fs.h"
#include "core/sha256.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/spm_backend.h"
#include "tokenizer/spm_model_proto.h"

namespace loratune {

namespace {

using spm::ProtoPiece;

constexpr const char* kSpaceMarker = "\xE2\x96\x81";  // U+2581 "▁", SentencePiece's space
constexpr const char* kModelHint =
    "use the base model's tokenizer.model (from its Hugging Face repository); if the file was "
    "downloaded, download it again";

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

}  // namespace

// -----------------------------------------------------------------------------------------------------

struct Tokenizer::Impl {
  std::unique_ptr<spm::Processor> sp;  // SentencePiece backend, or
  std::unique_ptr<HfTokenizer> hf;     // tokenizer.json backend (exactly one is set)
  std::string path;
  std::string bytes;
  std::string fingerprint;
  std::vector<ProtoPiece> pieces;
  SpecialTokens special;
  std::string chat_template;
  bool byte_fallback = false;
  // Per-id tables for tokenizer.json (type, surface), built on first use: the special tokens are resolved
  // after loading, and prepare asks for them once per token.
  mutable std::once_flag tables_once;
  mutable std::vector<PieceType> types;
  mutable std::vector<std::string> surfaces;

  void load(const std::string& model_path);
  void load_bytes();  // `bytes` (a serialized ModelProto) into the SentencePiece backend; errors name `path`
  void build_tables(const Tokenizer& self) const;
  void load_hf(const std::string& json_path);
  void check_id(int id) const;
  int size() const { return hf ? hf->vocab_size() : static_cast<int>(pieces.size()); }
  VocabLookup lookup() const;
  bool find_byte_pieces() const;
  // Special tokens and chat template given with an in-memory vocabulary (from_json_text, from_spm_bytes):
  // every id checked against the vocabulary; the fingerprint then covers the template too.
  void adopt(const SpecialTokens& given, const std::string& tpl) {
    for (int id : {given.bos, given.eos, given.pad, given.unk}) if (id >= 0) check_id(id);
    for (int id : given.eos_ids) check_id(id);
    special = given;
    chat_template = tpl;
    if (!chat_template.empty()) fingerprint = sha256_hex(bytes + std::string(1, '\0') + chat_template);
  }
  // Special tokens and chat template from the files in `dir` (see from_model_dir); the fingerprint then
  // covers the template the data is rendered with.
  void resolve_beside(const std::string& dir) {
    SpecialResolution r = resolve_special_tokens(dir, lookup(), path, special);
    special = std::move(r.special);
    chat_template = std::move(r.chat_template);
    if (!chat_template.empty()) fingerprint = sha256_hex(bytes + std::string(1, '\0') + chat_template);
  }
};

void Tokenizer::Impl::load(const std::string& model_path) {
  path = model_path;
  if (!path_exists(path)) fail_input(path + ": tokenizer model not found", kModelHint);
  bytes = read_text_file(path);
  if (bytes.empty()) fail_input(path + ": the file is empty, expected a SentencePiece model", kModelHint);
  load_bytes();
}

void Tokenizer::Impl::load_bytes() {
  auto parsed = spm::parse_model_pieces(bytes);
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
  special = model_special_tokens(*sp);
  byte_fallback = find_byte_pieces();
}

void Tokenizer::Impl::load_hf(const std::string& json_path) {
  path = json_path;
  hf = std::make_unique<HfTokenizer>(HfTokenizer::from_file(json_path));
  // transformers turns a tokenizer.json's truncation and padding off for every call it makes.
  hf->disable_truncation_and_padding();
  bytes = hf->raw_json();
  fingerprint = hf->sha256();
  // Defaults from the post-processor: a single-token prefix is the BOS it adds, a single-token suffix the EOS.
  const auto& pre = hf->template_prefix_ids();
  const auto& suf = hf->template_suffix_ids();
  if (pre.size() == 1) special.bos = pre[0];
  if (suf.size() == 1) special.eos = suf[0];
  if (special.eos >= 0) special.eos_ids = {special.eos};
  special.add_bos = pre.size() == 1;
  special.add_eos = suf.size() == 1;
  bool all_bytes = true;
  for (int b = 0; b < 256 && all_bytes; ++b) all_bytes = hf->token_to_id(spm::byte_piece_name(b)) >= 0;
  byte_fallback = hf->byte_fallback() && all_bytes;
}

VocabLookup Tokenizer::Impl::lookup() const {
  if (hf) return {size(), [this](const std::string& t) { return hf->token_to_id(t); }, "a token of tokenizer.json"};
  return {size(),
          [this](const std::string& t) {
            const int id = sp->piece_to_id(t);
            return id >= 0 && id < sp->piece_size() && sp->id_to_piece(id) == t ? id : -1;
          },
          "a piece of tokenizer.model"};
}

void Tokenizer::Impl::check_id(int id) const {
  if (id < 0 || id >= size())
    fail_input("token id " + std::to_string(id) + " is outside the vocabulary of " + path + " (" +
                   std::to_string(size()) + " tokens)",
               "check that the tokenizer belongs to the model (its vocab_size may be larger)");
}

bool Tokenizer::Impl::find_byte_pieces() const {
  for (int b = 0; b < 256; ++b) {
    const int id = sp->piece_to_id(spm::byte_piece_name(b));
    if (id < 0 || id >= static_cast<int>(pieces.size()) || pieces[id].type != PieceType::Byte ||
        pieces[id].piece != spm::byte_piece_name(b))
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
  const std::string& p = tokenizer_model_path;
  if (p.size() >= 5 && p.compare(p.size() - 5, 5, ".json") == 0) {
    // A tokenizer.json names no special tokens itself: take them from the files beside it, as from_model_dir.
    impl->load_hf(p);
    const size_t slash = p.find_last_of('/');
    impl->resolve_beside(slash == std::string::npos ? "." : p.substr(0, slash));
  } else {
    impl->load(p);
  }
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_json_text(const std::string& json_text, const std::string& source,
                                    const SpecialTokens& special, const std::string& chat_template) {
  auto impl = std::make_unique<Impl>();
  impl->path = source;
  impl->hf = std::make_unique<HfTokenizer>(HfTokenizer::from_json(json_text, source));
  impl->hf->disable_truncation_and_padding();
  impl->bytes = json_text;
  impl->fingerprint = impl->hf->sha256();
  impl->adopt(special, chat_template);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_spm_bytes(const std::string& model_proto, const std::string& source,
                                    const SpecialTokens& special, const std::string& chat_template) {
  auto impl = std::make_unique<Impl>();
  impl->path = source;
  impl->bytes = model_proto;
  impl->load_bytes();
  impl->adopt(special, chat_template);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_model_dir(const std::string& dir) {
  if (!path_exists(dir))
    fail_input(dir + ": model directory not found", "pass the directory that holds tokenizer.json or tokenizer.model");
  if (!is_directory(dir))
    fail_input(dir + ": not a directory", "pass the model directory that holds its tokenizer, not a file");
  const std::string json_path = join_path(dir, "tokenizer.json");
  const std::string model = join_path(dir, "tokenizer.model");
  auto impl = std::make_unique<Impl>();
  // As transformers' AutoTokenizer: the fast tokenizer (tokenizer.json) when there is one.
  if (path_exists(json_path))
    impl->load_hf(json_path);
  else if (path_exists(model))
    impl->load(model);
  else
    fail_input(dir + ": no tokenizer.json or tokenizer.model found",
               "put the base model's tokenizer.json (or SentencePiece tokenizer.model) into " + dir);
  impl->resolve_beside(dir);
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
  if (impl_->hf)
    ids = impl_->hf->encode(text, /*add_special_tokens=*/false);
  else if (!impl_->sp->encode(text, &ids, &error))
    fail_runtime(impl_->path + ": encoding failed: " + error);
  if (add_bos) ids.insert(ids.begin(), s.bos);
  if (add_eos) ids.push_back(s.eos);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  if (impl_->hf) {
    for (int id : ids) impl_->check_id(id);
    return impl_->hf->decode(ids, /*skip_special_tokens=*/true);
  }
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
  if (impl_->hf) return impl_->hf->is_special(id) ? std::string() : impl_->hf->decode_piece(id);
  const ProtoPiece& p = impl_->pieces[id];
  switch (p.type) {
    case PieceType::Control: return {};
    case PieceType::Byte: {
      const int b = spm::parse_byte_piece(p.piece);
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

int Tokenizer::vocab_size() const { return impl_->size(); }

std::string Tokenizer::piece(int id) const {
  impl_->check_id(id);
  return impl_->hf ? impl_->hf->id_to_token(id) : impl_->pieces[id].piece;
}

float Tokenizer::score(int id) const {
  impl_->check_id(id);
  return impl_->hf ? 0.0f : impl_->pieces[id].score;
}

PieceType Tokenizer::type(int id) const {
  impl_->check_id(id);
  if (!impl_->hf) return impl_->pieces[id].type;
  std::call_once(impl_->tables_once, [this] { impl_->build_tables(*this); });
  return impl_->types[static_cast<size_t>(id)];
}

const std::string& Tokenizer::surface(int id) const {
  impl_->check_id(id);
  std::call_once(impl_->tables_once, [this] { impl_->build_tables(*this); });
  return impl_->surfaces[static_cast<size_t>(id)];
}

void Tokenizer::Impl::build_tables(const Tokenizer& self) const {
  const int n = size();
  surfaces.resize(static_cast<size_t>(n));
  if (hf) {
    types.resize(static_cast<size_t>(n));
    std::vector<bool> added(static_cast<size_t>(n), false);
    for (const auto& a : hf->added_tokens())
      if (a.id >= 0 && a.id < n) added[static_cast<size_t>(a.id)] = true;
    for (int id = 0; id < n; ++id) {
      PieceType& t = types[static_cast<size_t>(id)];
      const std::string token = hf->id_to_token(id);
      if (hf->is_special(id)) t = PieceType::Control;
      else if (id == special.unk) t = PieceType::Unknown;
      else if (hf->byte_fallback() && spm::parse_byte_piece(token) >= 0) t = PieceType::Byte;
      else if (added[static_cast<size_t>(id)]) t = PieceType::UserDefined;
      else t = token.empty() ? PieceType::Unused : PieceType::Normal;
      // A tokenizer.json's special tokens written in the text (<|im_start|>) are matched literally: they
      // cover their own content (decode_piece gives "" for them, for streaming).
      surfaces[static_cast<size_t>(id)] = t == PieceType::Control ? token : self.decode_piece(id);
    }
  } else {
    for (int id = 0; id < n; ++id) surfaces[static_cast<size_t>(id)] = self.decode_piece(id);
  }
}

int Tokenizer::piece_to_id(const std::string& piece) const {
  if (impl_->hf) {
    const int id = impl_->hf->token_to_id(piece);
    return id >= 0 ? id : impl_->special.unk;
  }
  return impl_->sp->piece_to_id(piece);
}

TokenizerKind Tokenizer::kind() const { return impl_->hf ? TokenizerKind::HfJson : TokenizerKind::SentencePiece; }
const HfTokenizer* Tokenizer::hf() const { return impl_->hf.get(); }

bool Tokenizer::has_byte_fallback() const { return impl_->byte_fallback; }
const SpecialTokens& Tokenizer::special() const { return impl_->special; }

const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }
const std::string& Tokenizer::fingerprint() const { return impl_->fingerprint; }
const std::string& Tokenizer::model_path() const { return impl_->path; }
std::string Tokenizer::serialized_model() const { return impl_->bytes; }

}  // namespace loratune
