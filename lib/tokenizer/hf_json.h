// Reading tokenizer.json: typed access to a JSON value that remembers the file and the JSON path it came
// from, so that every error names both ("tokenizer.json: pre_tokenizer.pretokenizers[1].type: ...").
// Internal to the tokenizer layer (includes nlohmann/json); the public header is hf_tokenizer.h.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace loratune::hf {

class JsonAt {
 public:
  JsonAt(const nlohmann::json& j, const std::string& file, std::string path)
      : j_(&j), file_(&file), path_(std::move(path)) {}

  const nlohmann::json& raw() const { return *j_; }
  const std::string& file() const { return *file_; }
  const std::string& path() const { return path_; }
  bool is_null() const { return j_->is_null(); }

  // Present and not null (this value must be an object).
  bool has(const char* key) const;
  // A required member of an object: absent (or this not an object) is an error naming the key.
  JsonAt operator[](const char* key) const;
  // An array element.
  JsonAt at(size_t i) const;
  size_t size() const;  // array / object size (an error for other types)

  std::string str() const;
  bool boolean() const;
  int64_t integer() const;
  double number() const;
  // Optional members: `def` when absent or null.
  bool get_bool(const char* key, bool def) const;
  std::string get_str(const char* key, const std::string& def) const;
  int64_t get_int(const char* key, int64_t def) const;

  // The "type" member of a component object.
  std::string type() const { return (*this)["type"].str(); }

  // "<file>: <path>: <what>" as an input error.
  [[noreturn]] void fail(const std::string& what, const std::string& hint = {}) const;
  // "<file>: <path>: <component> '<name>' is not supported by loratune" (never approximated).
  [[noreturn]] void unsupported(const std::string& what) const;
  std::string child_path(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

 private:
  const char* type_name() const;
  const nlohmann::json* j_;
  const std::string* file_;
  std::string path_;
};

// A tokenizer.json read in one pass, with model.vocab and model.merges taken straight from the parser
// into flat lists (as a DOM they would cost several times the rest: 150k+ map nodes and small arrays).
// Where they were taken, the DOM holds null under those keys.
struct TokenizerDoc {
  nlohmann::json json;
  bool has_vocab = false, has_merges = false;
  std::vector<std::pair<std::string, int64_t>> vocab;  // in file order; a later duplicate key wins
  std::string bad_vocab;  // the first entry whose id is not an integer: "token 'x' ... got V"
  struct Merge {
    std::string a, b;
    bool legacy;  // "a b" in a (b empty) rather than ["a", "b"]
  };
  std::vector<Merge> merges;
  long bad_merge = -1;  // index of the first entry that is neither "a b" nor ["a", "b"]
  std::string bad_merge_text;
};
// Malformed JSON is an error naming `file` and nlohmann's line/column.
TokenizerDoc parse_tokenizer_json(const std::string& text, const std::string& file);

}  // namespace loratune::hf
