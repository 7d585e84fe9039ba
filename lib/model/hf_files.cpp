#include "model/hf_files.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"

namespace loratune {
namespace {
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

json piece_or_null(const Tokenizer& tok, int id) { return id >= 0 ? json(tok.piece(id)) : json(nullptr); }

// HF tokenizers' TemplateProcessing: `pre` before and `post` after each sequence (pairs get both around each).
ordered_json template_processing(const Tokenizer& tok, int pre, int post) {
  auto special = [&](int id) { return ordered_json{{"SpecialToken", {{"id", tok.piece(id)}, {"type_id", 0}}}}; };
  auto seq = [](const char* id, int type) { return ordered_json{{"Sequence", {{"id", id}, {"type_id", type}}}}; };
  ordered_json single = ordered_json::array(), pair = ordered_json::array(), specials = ordered_json::object();
  if (pre >= 0) single.push_back(special(pre));
  single.push_back(seq("A", 0));
  if (post >= 0) single.push_back(special(post));
  pair = single;
  if (pre >= 0) pair.push_back(special(pre));
  pair.push_back(seq("B", 1));
  if (post >= 0) pair.push_back(special(post));
  for (int id : {pre, post})
    if (id >= 0) specials[tok.piece(id)] = {{"id", tok.piece(id)}, {"ids", {id}}, {"tokens", {tok.piece(id)}}};
  return {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}};
}
}  // namespace

std::string hf_tokenizer_config_json(const Tokenizer& tok, const ModelHParams& hp) {
  json j;
  const bool spm = tok.kind() == TokenizerKind::SentencePiece;
  j["tokenizer_class"] = spm ? "LlamaTokenizer" : "PreTrainedTokenizerFast";
  j["bos_token"] = piece_or_null(tok, tok.special().bos);
  j["eos_token"] = piece_or_null(tok, tok.special().eos);
  j["unk_token"] = piece_or_null(tok, tok.special().unk);
  j["pad_token"] = piece_or_null(tok, tok.special().pad);
  j["add_bos_token"] = spm ? true : tok.special().add_bos;
  j["add_eos_token"] = spm ? false : tok.special().add_eos;
  j["clean_up_tokenization_spaces"] = false;
  j["model_max_length"] = hp.max_position_embeddings;
  if (spm) {
    j["legacy"] = false;
    j["sp_model_kwargs"] = json::object();
  }
  if (!tok.chat_template().empty()) j["chat_template"] = tok.chat_template();
  return j.dump(2) + "\n";
}

std::string hf_special_tokens_map_json(const Tokenizer& tok) {
  return json{{"bos_token", piece_or_null(tok, tok.special().bos)},
              {"eos_token", piece_or_null(tok, tok.special().eos)},
              {"unk_token", piece_or_null(tok, tok.special().unk)}}
             .dump(2) + "\n";
}

std::string hf_tokenizer_json(const Tokenizer& tok) {
  LT_CHECK(tok.kind() == TokenizerKind::HfJson, "hf_tokenizer_json of a SentencePiece tokenizer");
  ordered_json doc = ordered_json::parse(tok.serialized_model());
  const SpecialTokens& s = tok.special();
  const int pre = s.add_bos ? s.bos : -1, post = s.add_eos ? s.eos : -1;
  const bool has_post = doc.contains("post_processor") && !doc["post_processor"].is_null();
  if ((pre >= 0 || post >= 0) && !has_post) doc["post_processor"] = template_processing(tok, pre, post);
  return doc.dump(2) + "\n";
}

std::vector<std::string> write_hf_tokenizer_files(const Tokenizer& tok, const ModelHParams& hp, const std::string& dir) {
  const bool spm = tok.kind() == TokenizerKind::SentencePiece;
  const std::string model_file = spm ? "tokenizer.model" : "tokenizer.json";
  write_file_atomic(join_path(dir, model_file), spm ? tok.serialized_model() : hf_tokenizer_json(tok));
  write_file_atomic(join_path(dir, "tokenizer_config.json"), hf_tokenizer_config_json(tok, hp));
  write_file_atomic(join_path(dir, "special_tokens_map.json"), hf_special_tokens_map_json(tok));
  return {model_file, "tokenizer_config.json", "special_tokens_map.json"};
}

}  // namespace loratune
