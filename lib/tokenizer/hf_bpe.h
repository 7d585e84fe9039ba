// tokenizer.json "model" of type BPE: vocab {token: id}, merges ("a b" strings or ["a", "b"] pairs; rank =
// position, a later duplicate pair overrides an earlier one as in tokenizers' HashMap), unk_token,
// fuse_unk, byte_fallback ("<0xNN>" tokens for unknown characters), ignore_merges (a pre-token found in
// the vocabulary is one token), continuing_subword_prefix, end_of_word_suffix. dropout must be null or 0.
// Each pre-token is split into characters, then the adjacent pair with the lowest rank (leftmost first)
// is merged until none is left (tokenizers' Word::merge_all).
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/hf_json.h"

namespace loratune::hf {

class Bpe {
 public:
  // `doc`: where model.vocab / model.merges were taken from the parser (else they are read from `model`).
  static Bpe parse(const JsonAt& model, const TokenizerDoc* doc = nullptr);
  // Appends the ids of one pre-token (not cached; the tokenizer caches per pre-token).
  void tokenize(const std::string& word, std::vector<int>& out) const;

  int token_to_id(const std::string& token) const { return token_to_id(token.data(), token.size()); }
  int token_to_id(const char* p, size_t n) const;    // -1 if absent
  const std::string* id_to_token(int id) const;      // nullptr if absent
  size_t vocab_len() const { return vocab_count_; }  // tokenizers' BPE::get_vocab_size
  int max_id() const { return static_cast<int>(vocab_r_.size()) - 1; }
  bool byte_fallback() const { return byte_fallback_; }

 private:
  struct MergeTarget {
    uint32_t rank;
    int id;
  };
  static uint64_t key(int a, int b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void merge(std::vector<int>& ids) const;

  // token -> id: open addressing over vocab_r_ (slots hold id + 1; 0 is empty). A token whose id another
  // token already holds (a malformed but loadable vocabulary) goes to extra_.
  int find_slot(const char* p, size_t n) const;
  std::vector<uint32_t> slots_;
  size_t mask_ = 0, vocab_count_ = 0;
  std::unordered_map<std::string, int> extra_;
  std::vector<std::string> vocab_r_;
  std::vector<char> has_id_;
  std::unordered_map<uint64_t, MergeTarget> merges_;
  std::string unk_token_, prefix_, suffix_;
  bool has_unk_ = false, has_prefix_ = false, has_suffix_ = false;
  int unk_id_ = -1;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  int byte_ids_[256];
};

}  // namespace loratune::hf
