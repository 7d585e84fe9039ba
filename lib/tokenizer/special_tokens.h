// Internal to lib/tokenizer: the special ids, add_bos/add_eos flags and chat template of a Hugging Face
// model directory (tokenizer_config.json, config.json, generation_config.json, chat_template.json,
// chat_template.jinja), on top of the defaults the vocabulary implies (a SentencePiece model's ids, or a
// tokenizer.json's post-processor). Tokenizer::from_model_dir documents the precedence.
#pragma once
#include <functional>
#include <string>

#include "tokenizer/spm_backend.h"
#include "tokenizer/tokenizer.h"

namespace loratune {

// The vocabulary the special tokens are looked up in: its size, the id of a token string (-1 when absent),
// and how messages call a token of it ("a piece of tokenizer.model", "a token of tokenizer.json").
struct VocabLookup {
  int size = 0;
  std::function<int(const std::string& token)> id_of;
  std::string token_kind;
};

struct SpecialResolution {
  SpecialTokens special;
  std::string chat_template;  // "" when none
};

// The defaults a bare SentencePiece model implies: its bos/eos/pad/unk ids, eos_ids = {eos}, add_bos when
// it has a BOS piece, no add_eos.
SpecialTokens model_special_tokens(const spm::Processor& sp);

// Applies the JSON files found in `dir` over `model_defaults`. Every bad file, key or token is an input
// error naming the file and key. model_path names the vocabulary in messages.
SpecialResolution resolve_special_tokens(const std::string& dir, const VocabLookup& vocab,
                                         const std::string& model_path, const SpecialTokens& model_defaults);

}  // namespace loratune
