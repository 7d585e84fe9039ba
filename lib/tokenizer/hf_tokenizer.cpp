#include "tokenizer/hf_tokenizer.h"

#include <array>
#include <mutex>
#include <unordered_map>

#include "core/error.h"
#include "core/fs.h"
#include "core/sha256.h"
#include "tokenizer/hf_added_tokens.h"
#include "tokenizer/hf_bpe.h"
#include "tokenizer/hf_decoder.h"
#include "tokenizer/hf_json.h"
#include "tokenizer/hf_normalizer.h"
#include "tokenizer/hf_postprocessor.h"
#include "tokenizer/hf_pretokenizer.h"
#include "tokenizer/hf_unicode.h"

namespace loratune {

using namespace hf;

struct HfTokenizer::Impl {
  std::string raw, sha, file;
  Normalizer normalizer;
  PreTokenizer pre;
  Bpe bpe;
  AddedVocab added;
  PostProcessor post;
  Truncation truncation;
  Padding padding;
  Decoder decoder;
  int vocab_size = 0;

  // Pre-token -> ids, as tokenizers' BPE cache (same capacity and key-length limit semantics: pre-tokens
  // of 256 bytes or more, and any after the cache is full, are not stored). Sharded by the pre-token's hash,
  // each shard with its own lock, so that prepare's threads rarely wait for one another.
  static constexpr size_t kCacheCapacity = 1 << 17, kMaxKey = 256, kShards = 64;
  struct CacheShard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<int>> map;
  };
  mutable std::array<CacheShard, kShards> cache;

  void model_ids(const std::string& word, std::vector<int>& out) const;
  void encode_body(const std::string& text, std::vector<int>& out) const;
};

void HfTokenizer::Impl::model_ids(const std::string& word, std::vector<int>& out) const {
  CacheShard* shard = nullptr;
  if (word.size() < kMaxKey) {
    // The shard from a cheap mix of the length and the first and last bytes (the map hashes the word itself).
    const auto* b = reinterpret_cast<const unsigned char*>(word.data());
    const size_t n = word.size();
    const size_t mix = n == 0 ? 0 : (n * 0x9E3779B1u) ^ (b[0] * 0x85EBCA77u) ^ (b[n - 1] * 0xC2B2AE3Du) ^ (b[n / 2] << 7);
    shard = &cache[(mix ^ (mix >> 11)) % kShards];
    std::lock_guard<std::mutex> lock(shard->mu);
    auto it = shard->map.find(word);
    if (it != shard->map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t mark = out.size();
  bpe.tokenize(word, out);
  if (shard) {
    std::lock_guard<std::mutex> lock(shard->mu);
    if (shard->map.size() < kCacheCapacity / kShards)
      shard->map.emplace(word, std::vector<int>(out.begin() + static_cast<long>(mark), out.end()));
  }
}

void HfTokenizer::Impl::encode_body(const std::string& text, std::vector<int>& out) const {
  thread_local std::vector<Split> raw_splits, norm_splits;
  thread_local std::vector<Piece> pieces;
  added.find_raw(text, raw_splits);
  for (const Split& r : raw_splits) {
    if (r.id >= 0) {
      out.push_back(r.id);
      continue;
    }
    std::string part = text.substr(r.a, r.b - r.a);
    bool start_kept = true;
    if (!normalizer.empty()) part = normalizer.apply(part, &start_kept);
    added.find_normalized(part, norm_splits);
    for (const Split& n : norm_splits) {
      if (n.id >= 0) {
        out.push_back(n.id);
        continue;
      }
      pieces.clear();
      pre.run(Piece{part.substr(n.a, n.b - n.a), r.a == 0 && start_kept && n.a == 0}, pieces);
      for (const Piece& p : pieces) model_ids(p.text, out);
    }
  }
}

HfTokenizer::HfTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HfTokenizer::HfTokenizer(HfTokenizer&&) noexcept = default;
HfTokenizer& HfTokenizer::operator=(HfTokenizer&&) noexcept = default;
HfTokenizer::~HfTokenizer() = default;

HfTokenizer HfTokenizer::from_file(const std::string& path) {
  if (!path_exists(path))
    fail_input(path + ": no such file", "give the path of a Hugging Face tokenizer.json");
  return from_json(read_text_file(path), path);
}

HfTokenizer HfTokenizer::from_json(const std::string& text, const std::string& source) {
  auto impl = std::make_unique<Impl>();
  impl->raw = text;
  impl->file = source;
  impl->sha = sha256_hex(text);
  const TokenizerDoc doc = parse_tokenizer_json(text, source);
  const nlohmann::json& j = doc.json;
  const JsonAt top(j, impl->file, "");
  if (!j.is_object()) top.fail("expected a JSON object at the top level");
  impl->truncation = Truncation::parse(top.has("truncation") ? top["truncation"]
                                                             : JsonAt(nullptr, impl->file, "truncation"));
  impl->padding =
      Padding::parse(top.has("padding") ? top["padding"] : JsonAt(nullptr, impl->file, "padding"));
  const JsonAt model = top["model"];
  if (model.is_null()) model.fail("a model is required");
  const std::string mtype = model.has("type") ? model["type"].str() : "";
  if (mtype != "BPE") {
    if (mtype.empty()) model.fail("required key 'type' is missing (loratune reads BPE models)");
    model["type"].unsupported("model '" + mtype + "'");
  }
  impl->normalizer = Normalizer::parse(top.has("normalizer") ? top["normalizer"]
                                                             : JsonAt(nullptr, impl->file, "normalizer"));
  impl->pre = PreTokenizer::parse(top.has("pre_tokenizer") ? top["pre_tokenizer"]
                                                           : JsonAt(nullptr, impl->file, "pre_tokenizer"));
  impl->bpe = Bpe::parse(model, &doc);
  impl->post = PostProcessor::parse(
      top.has("post_processor") ? top["post_processor"] : JsonAt(nullptr, impl->file, "post_processor"));
  impl->decoder =
      Decoder::parse(top.has("decoder") ? top["decoder"] : JsonAt(nullptr, impl->file, "decoder"));
  static const nlohmann::json kEmpty = nlohmann::json::array();
  impl->added = AddedVocab::parse(
      top.has("added_tokens") ? top["added_tokens"] : JsonAt(kEmpty, impl->file, "added_tokens"), impl->bpe,
      impl->normalizer);
  impl->vocab_size = std::max(impl->bpe.max_id(), impl->added.max_id()) + 1;
  return HfTokenizer(std::move(impl));
}

std::vector<int> HfTokenizer::encode(const std::string& text, bool add_special_tokens) const {
  const Impl& m = *impl_;
  std::vector<int> body;
  body.reserve(text.size() / 3 + 8);
  if (is_valid_utf8(text))
    m.encode_body(text, body);
  else
    m.encode_body(utf8_lossy(text), body);
  // tokenizers' post_process: truncate (room left for the template's tokens), add them, pad.
  m.truncation.apply(body, add_special_tokens ? m.post.prefix.size() + m.post.suffix.size() : 0);
  std::vector<int> out;
  if (add_special_tokens) {
    out.reserve(body.size() + m.post.prefix.size() + m.post.suffix.size());
    out = m.post.prefix;
    out.insert(out.end(), body.begin(), body.end());
    out.insert(out.end(), m.post.suffix.begin(), m.post.suffix.end());
  } else {
    out = std::move(body);
  }
  m.padding.apply(out);
  return out;
}

void HfTokenizer::disable_truncation_and_padding() {
  impl_->truncation.on = false;
  impl_->padding.on = false;
}

bool HfTokenizer::truncates() const { return impl_->truncation.on; }
bool HfTokenizer::pads() const { return impl_->padding.on; }

std::vector<std::string> HfTokenizer::encode_pieces(const std::string& text, bool add_special_tokens) const {
  std::vector<std::string> out;
  for (int id : encode(text, add_special_tokens)) out.push_back(id_to_token(id));
  return out;
}

std::string HfTokenizer::decode(const std::vector<int>& ids, bool skip_special_tokens) const {
  std::vector<std::string> toks;
  toks.reserve(ids.size());
  for (int id : ids) {
    const std::string* s = impl_->added.decode_form(id);
    if (!s) s = impl_->bpe.id_to_token(id);
    if (!s) continue;
    if (skip_special_tokens && impl_->added.is_special_content(*s)) continue;
    toks.push_back(*s);
  }
  return impl_->decoder.decode(std::move(toks));
}

std::string HfTokenizer::decode_piece(int id) const {
  const std::string* s = impl_->added.decode_form(id);
  if (!s) s = impl_->bpe.id_to_token(id);
  return s ? impl_->decoder.piece_bytes(*s) : std::string();
}

int HfTokenizer::vocab_size() const { return impl_->vocab_size; }

std::string HfTokenizer::id_to_token(int id) const {
  if (const HfAddedToken* t = impl_->added.by_id(id)) return t->content;
  const std::string* s = impl_->bpe.id_to_token(id);
  return s ? *s : std::string();
}

int HfTokenizer::token_to_id(const std::string& token) const {
  const int a = impl_->added.token_to_id(token);
  return a >= 0 ? a : impl_->bpe.token_to_id(token);
}

bool HfTokenizer::is_special(int id) const {
  const HfAddedToken* t = impl_->added.by_id(id);
  return t && t->special;
}

const std::vector<HfAddedToken>& HfTokenizer::added_tokens() const { return impl_->added.tokens(); }
const std::vector<int>& HfTokenizer::template_prefix_ids() const { return impl_->post.prefix; }
const std::vector<int>& HfTokenizer::template_suffix_ids() const { return impl_->post.suffix; }
bool HfTokenizer::byte_fallback() const { return impl_->bpe.byte_fallback(); }
bool HfTokenizer::byte_level() const { return impl_->pre.has_byte_level(); }
const std::string& HfTokenizer::raw_json() const { return impl_->raw; }
const std::string& HfTokenizer::sha256() const { return impl_->sha; }

}  // namespace loratune
