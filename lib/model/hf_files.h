// The Hugging Face tokenizer files of a model directory, written from loratune's own tokenizer: `init`'s new
// models and merged exports of a GGUF base (which has no such files to copy). Torch-free.
#pragma once
#include <string>
#include <vector>

#include "model/hparams.h"
#include "tokenizer/tokenizer.h"

namespace loratune {

// tokenizer_config.json: tokenizer_class, the special tokens' pieces, add_bos/add_eos, model_max_length and
// the chat template.
std::string hf_tokenizer_config_json(const Tokenizer& tok, const ModelHParams& hp);
// special_tokens_map.json: bos, eos and unk pieces (null when undefined).
std::string hf_special_tokens_map_json(const Tokenizer& tok);
// The tokenizer.json of a tokenizer.json tokenizer, its post-processor set to add BOS / EOS when loratune
// adds them (a GGUF's add_bos_token / add_eos_token), so that transformers and HF tokenizers add them too.
std::string hf_tokenizer_json(const Tokenizer& tok);

// Writes tokenizer.json (or tokenizer.model for SentencePiece), tokenizer_config.json and
// special_tokens_map.json into `dir`; returns the file names written.
std::vector<std::string> write_hf_tokenizer_files(const Tokenizer& tok, const ModelHParams& hp, const std::string& dir);

}  // namespace loratune
