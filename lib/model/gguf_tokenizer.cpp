#include "model/gguf_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "io/gguf_reader.h"
#include "model/arch.h"
#include "tokenizer/spm_model_proto.h"

namespace loratune {
namespace {

using nlohmann::ordered_json;

// llama.cpp's token types (llama_token_type / gguf-py's TokenType).
constexpr int64_t kControl = 3, kUserDefined = 4;

// The pre-tokenizer of each family, as its tokenizer.json writes it (facts of the public files: GPT-2's and
// SmolLM2's ByteLevel with the GPT-2 regex; Llama 3's and Qwen2's Split patterns, which differ in \p{N}{1,3}).
ordered_json byte_level(bool use_regex) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", use_regex}};
}

ordered_json split_then_bytes(const std::string& pattern) {
  return {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}, {"invert", false}},
            byte_level(false)}}};
}

std::string key(GgufKey k) { return gguf_key(k); }

int optional_id(const io::GgufFile& f, GgufKey k) {
  const std::string name = key(k);
  return f.find(name) ? static_cast<int>(f.get_u32(name)) : -1;
}

bool optional_bool(const io::GgufFile& f, GgufKey k, bool dflt) {
  const std::string name = key(k);
  return f.find(name) ? f.get_bool(name) : dflt;
}

}  // namespace

const char* const kLlama3PreRegex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2PreRegex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

bool is_gguf_file(const std::string& path) {
  if (!path_exists(path) || is_directory(path)) return false;
  std::FILE* fp = std::fopen(path.c_str(), "rb");
  if (!fp) return false;
  char magic[4] = {};
  const size_t n = std::fread(magic, 1, 4, fp);
  std::fclose(fp);
  return n == 4 && magic[0] == 'G' && magic[1] == 'G' && magic[2] == 'U' && magic[3] == 'F';
}

const std::vector<std::string>& gguf_bpe_pre_names() {
  static const std::vector<std::string> names = {"gpt-2", "smollm", "llama-bpe", "qwen2"};
  return names;
}

std::string gguf_bpe_tokenizer_json(const io::GgufFile& f) {
  const std::string& file = f.path();
  const std::string model = f.get_string(key(GgufKey::TokenizerModel));
  if (model != "gpt2")
    fail_input(file + ": tokenizer.ggml.model '" + model + "' is not read (loratune reads byte-level BPE "
                      "'gpt2' and SentencePiece 'llama' vocabularies)",
               "use the model's Hugging Face directory (tokenizer.json or tokenizer.model) instead");
  const std::string pre = f.find(key(GgufKey::TokenizerPre)) ? f.get_string(key(GgufKey::TokenizerPre)) : "";
  const auto& names = gguf_bpe_pre_names();
  if (std::find(names.begin(), names.end(), pre) == names.end())
    fail_input(file + ": tokenizer.ggml.pre '" + pre + "' is a pre-tokenizer loratune does not know" +
                   did_you_mean(pre, names),
               "loratune reads the pre-tokenizers " + join(names, ", ") +
                   "; use the model's Hugging Face directory (tokenizer.json) for another");
  const auto& tokens = f.get_array(key(GgufKey::TokenizerTokens), io::GgufType::String);
  const auto& types = f.get_array(key(GgufKey::TokenizerTokenType), io::GgufType::I32);
  const auto& merges = f.get_array(key(GgufKey::TokenizerMerges), io::GgufType::String);
  if (types.size() != tokens.size())
    fail_input(file + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) + " entries for " +
                   std::to_string(tokens.size()) + " tokens",
               "the file is damaged or was written by a broken converter: convert the model again");
  ordered_json vocab = ordered_json::object();
  ordered_json added = ordered_json::array();
  for (size_t id = 0; id < tokens.size(); ++id) {
    const std::string& t = tokens[id].as_string();
    if (!vocab.contains(t)) vocab[t] = id;  // a repeated token keeps its first id (llama.cpp's lookup too)
    const int64_t type = types[id].as_int();
    if (type == kControl || type == kUserDefined)
      added.push_back({{"id", id}, {"content", t}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                       {"normalized", false}, {"special", type == kControl}});
  }
  ordered_json merge_list = ordered_json::array();
  for (const auto& m : merges) merge_list.push_back(m.as_string());
  ordered_json doc = {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added}};
  doc["normalizer"] = pre == "qwen2" ? ordered_json{{"type", "NFC"}} : ordered_json();
  if (pre == "llama-bpe")
    doc["pre_tokenizer"] = split_then_bytes(kLlama3PreRegex);
  else if (pre == "qwen2")
    doc["pre_tokenizer"] = split_then_bytes(kQwen2PreRegex);
  else if (pre == "smollm")
    doc["pre_tokenizer"] = {{"type", "Sequence"},
                            {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, byte_level(true)}}};
  else
    doc["pre_tokenizer"] = byte_level(true);
  doc["post_processor"] = nullptr;
  doc["decoder"] = byte_level(true);
  doc["model"] = {{"type", "BPE"},          {"dropout", nullptr},
                  {"unk_token", nullptr},   {"continuing_subword_prefix", nullptr},
                  {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
                  {"byte_fallback", false}, {"ignore_merges", pre == "llama-bpe"},
                  {"vocab", vocab},         {"merges", merge_list}};
  return doc.dump();
}

std::string gguf_spm_model_proto(const io::GgufFile& f) {
  const std::string& file = f.path();
  const std::string model = f.get_string(key(GgufKey::TokenizerModel));
  if (model != "llama")
    fail_input(file + ": gguf_spm_model_proto of tokenizer.ggml.model '" + model + "'", "this is a bug in loratune");
  const auto& tokens = f.get_array(key(GgufKey::TokenizerTokens), io::GgufType::String);
  const auto& types = f.get_array(key(GgufKey::TokenizerTokenType), io::GgufType::I32);
  const std::string scores_key = key(GgufKey::TokenizerScores);
  const std::vector<io::GgufValue> no_scores;
  const auto& scores = f.find(scores_key) ? f.get_array(scores_key, io::GgufType::F32) : no_scores;
  const char* const hint = "the file is damaged or was written by a broken converter: convert the model again";
  if (types.size() != tokens.size() || (!scores.empty() && scores.size() != tokens.size()))
    fail_input(file + ": tokenizer.ggml.token_type / tokenizer.ggml.scores have " + std::to_string(types.size()) +
                   " / " + std::to_string(scores.size()) + " entries for " + std::to_string(tokens.size()) + " tokens",
               hint);
  spm::BpeModelSpec spec;
  spec.unk_id = -1;
  int bytes = 0;
  for (size_t id = 0; id < tokens.size(); ++id) {
    const int64_t t = types[id].as_int();
    if (t < static_cast<int64_t>(PieceType::Normal) || t > static_cast<int64_t>(PieceType::Byte))
      fail_input(file + ": tokenizer.ggml.token_type[" + std::to_string(id) + "] is " + std::to_string(t) +
                     ", not a SentencePiece piece type (1 normal .. 6 byte)",
                 hint);
    const auto type = static_cast<PieceType>(t);
    spec.pieces.push_back({tokens[id].as_string(), scores.empty() ? 0.0f : static_cast<float>(scores[id].as_float()), type});
    if (type == PieceType::Unknown && spec.unk_id < 0) spec.unk_id = static_cast<int>(id);
    if (type == PieceType::Byte) ++bytes;
  }
  const int unk = optional_id(f, GgufKey::TokenizerUnknownId);
  if (unk >= 0) spec.unk_id = unk;
  if (spec.unk_id < 0 || spec.unk_id >= static_cast<int>(tokens.size()))
    fail_input(file + ": the SentencePiece vocabulary has no unknown token (no token of type 2 and no valid "
                      "tokenizer.ggml.unknown_token_id); SentencePiece cannot load a vocabulary without one",
               hint);
  // SentencePiece allows one UNKNOWN piece: the unknown id's. llama.cpp's converter also types padding
  // pieces UNKNOWN (Phi-3's [PAD32011]...); they become UNUSED, which SentencePiece never produces either.
  for (size_t id = 0; id < spec.pieces.size(); ++id)
    if (static_cast<int>(id) == spec.unk_id)
      spec.pieces[id].type = PieceType::Unknown;
    else if (spec.pieces[id].type == PieceType::Unknown)
      spec.pieces[id].type = PieceType::Unused;
  spec.bos_id = optional_id(f, GgufKey::TokenizerBosId);
  spec.eos_id = optional_id(f, GgufKey::TokenizerEosId);
  spec.pad_id = optional_id(f, GgufKey::TokenizerPaddingId);
  spec.byte_fallback = bytes == 256;
  spec.add_dummy_prefix = optional_bool(f, GgufKey::TokenizerAddSpacePrefix, true);
  spec.remove_extra_whitespaces = optional_bool(f, GgufKey::TokenizerRemoveExtraWhitespaces, false);
  return spm::serialize_bpe_model(spec);
}

Tokenizer tokenizer_from_gguf(const std::string& path) {
  const auto f = io::GgufFile::open(path);
  const bool spm_vocab = f->find(key(GgufKey::TokenizerModel)) &&
                         f->get_string(key(GgufKey::TokenizerModel)) == "llama";
  SpecialTokens sp;
  sp.bos = optional_id(*f, GgufKey::TokenizerBosId);
  sp.eos = optional_id(*f, GgufKey::TokenizerEosId);
  sp.unk = optional_id(*f, GgufKey::TokenizerUnknownId);
  sp.pad = optional_id(*f, GgufKey::TokenizerPaddingId);
  if (sp.eos >= 0) sp.eos_ids = {sp.eos};
  // llama.cpp's defaults when the key is absent: a SentencePiece vocabulary adds BOS, a BPE one does not.
  sp.add_bos = optional_bool(*f, GgufKey::TokenizerAddBos, spm_vocab) && sp.bos >= 0;
  sp.add_eos = optional_bool(*f, GgufKey::TokenizerAddEos, false) && sp.eos >= 0;
  const std::string tpl_key = key(GgufKey::TokenizerChatTemplate);
  const std::string tpl = f->find(tpl_key) ? f->get_string(tpl_key) : "";
  const std::string source = path + " (tokenizer.ggml.*)";
  if (spm_vocab) return Tokenizer::from_spm_bytes(gguf_spm_model_proto(*f), source, sp, tpl);
  return Tokenizer::from_json_text(gguf_bpe_tokenizer_json(*f), source, sp, tpl);
}

Tokenizer load_tokenizer(const std::string& model_path) {
  return is_gguf_file(model_path) ? tokenizer_from_gguf(model_path) : Tokenizer::from_model_dir(model_path);
}

}  // namespace loratune
