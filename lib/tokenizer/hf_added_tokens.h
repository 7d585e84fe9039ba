// tokenizer.json "added_tokens" (tokenizers' AddedVocabulary). Ids are assigned as tokenizers does on
// load: a content already in the model vocabulary (or added before) keeps that id, others get the next
// id after the model's vocabulary size. Matching is leftmost-longest; single_word drops a match touching
// a word character (Rust regex \w); lstrip / rstrip take in the neighbouring White_Space. Tokens with
// normalized=false are matched on the raw text, normalized=true ones on each normalized piece (their
// content normalized the same way; decode() uses that normalized form).
#pragma once
#include <algorithm>
#include <iterator>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/hf_bpe.h"
#include "tokenizer/hf_json.h"
#include "tokenizer/hf_normalizer.h"
#include "tokenizer/hf_tokenizer.h"

namespace loratune::hf {

struct Split {
  size_t a, b;
  int id;  // an added token's id, or -1 for text left to the model
};

class AddedVocab {
 public:
  static AddedVocab parse(const JsonAt& list, const Bpe& model, const Normalizer& normalizer);

  // tokenizers' find_matches: splits covering `s` (one (0, 0, -1) split for an empty s).
  void find_raw(const std::string& s, std::vector<Split>& out) const { find(s, raw_, out); }
  void find_normalized(const std::string& s, std::vector<Split>& out) const { find(s, norm_, out); }
  bool has_normalized() const { return !norm_.empty; }

  const std::vector<HfAddedToken>& tokens() const { return sorted_; }  // ascending id
  int token_to_id(const std::string& content) const;                   // -1 if absent
  const HfAddedToken* by_id(int id) const;
  // The string decode() hands to the decoder: a normalized token's normalized form (tokenizers'
  // simple_id_to_token), else its content; nullptr when `id` is not an added token.
  const std::string* decode_form(int id) const;
  bool is_special_content(const std::string& content) const { return specials_.count(content) > 0; }
  int max_id() const;

 private:
  // Leftmost-longest matcher: a byte trie (the root indexed by byte, deeper nodes with sorted children).
  struct Matcher {
    struct Node {
      std::vector<std::pair<unsigned char, int>> kids;  // sorted by byte
      int id = -1;                                      // the token ending here
    };
    int root[256];
    std::vector<Node> nodes;
    bool empty = true;
    Matcher() { std::fill(std::begin(root), std::end(root), -1); }
    // Length of the longest token starting at s[p], 0 when none; its id in `id`.
    size_t longest(const std::string& s, size_t p, int& id) const;
  };
  void find(const std::string& s, const Matcher& m, std::vector<Split>& out) const;
  static void build(Matcher& m, const std::vector<std::pair<std::string, int>>& pats);

  std::unordered_map<std::string, int> content_to_id_;
  std::unordered_map<int, HfAddedToken> by_id_;
  std::unordered_map<std::string, char> specials_;
  std::unordered_map<int, std::string> normalized_form_;  // only where it differs from the content
  std::vector<HfAddedToken> sorted_;
  Matcher raw_, norm_;
};

}  // namespace loratune::hf
