// Reading tokenizer.json: typed access to a JSON value that remembers the file and the JSON path it came
// from, so that every error names both ("tokenizer.json: pre_tokenizer.pretokenizers[1].type: ...").
// Internal to the tokenizer layer (includes nlohmann/json); the public header is hf_tokenizer.h.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace loratune::hf {

class JsonAt {
 public:
  JsonAt(const nlohmann::json& j, const std::string& file, std::string path) : j_(&j), file_(&file), path_(std::move(path)) {}

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

// Parses JSON text; malformed JSON is an error naming `file` and nlohmann's line/column.
nlohmann::json parse_json(const std::string& text, const std::string& file);

}  // namespace loratune::hf
