#include "tokenizer/hf_json.h"

#include "core/error.h"

namespace loratune::hf {

namespace {
const char* kHint = "the file is not a tokenizer.json that loratune can read: check it loads with the "
                    "Hugging Face `tokenizers` library, or use the model's tokenizer.model instead";
}

const char* JsonAt::type_name() const { return j_->type_name(); }

void JsonAt::fail(const std::string& what, const std::string& hint) const {
  fail_input(*file_ + ": " + (path_.empty() ? std::string("top level") : path_) + ": " + what,
             hint.empty() ? kHint : hint);
}

void JsonAt::unsupported(const std::string& what) const {
  fail(what + " is not supported by loratune's tokenizer.json reader",
       "loratune reads BPE tokenizer.json files (ByteLevel, Metaspace, SentencePiece-style); convert the "
       "tokenizer or use its tokenizer.model (SentencePiece) instead");
}

bool JsonAt::has(const char* key) const {
  if (!j_->is_object()) fail(std::string("expected an object, got ") + type_name());
  auto it = j_->find(key);
  return it != j_->end() && !it->is_null();
}

JsonAt JsonAt::operator[](const char* key) const {
  if (!j_->is_object()) fail(std::string("expected an object, got ") + type_name());
  auto it = j_->find(key);
  if (it == j_->end()) fail(std::string("required key '") + key + "' is missing");
  return JsonAt(*it, *file_, child_path(key));
}

JsonAt JsonAt::at(size_t i) const {
  if (!j_->is_array()) fail(std::string("expected a list, got ") + type_name());
  if (i >= j_->size()) fail("index " + std::to_string(i) + " out of range");
  return JsonAt((*j_)[i], *file_, path_ + "[" + std::to_string(i) + "]");
}

size_t JsonAt::size() const {
  if (!j_->is_array() && !j_->is_object()) fail(std::string("expected a list or an object, got ") + type_name());
  return j_->size();
}

std::string JsonAt::str() const {
  if (!j_->is_string()) fail(std::string("expected a string, got ") + j_->dump());
  return j_->get<std::string>();
}

bool JsonAt::boolean() const {
  if (!j_->is_boolean()) fail(std::string("expected true or false, got ") + j_->dump());
  return j_->get<bool>();
}

int64_t JsonAt::integer() const {
  if (!j_->is_number_integer()) fail(std::string("expected an integer, got ") + j_->dump());
  return j_->get<int64_t>();
}

double JsonAt::number() const {
  if (!j_->is_number()) fail(std::string("expected a number, got ") + j_->dump());
  return j_->get<double>();
}

bool JsonAt::get_bool(const char* key, bool def) const { return has(key) ? (*this)[key].boolean() : def; }
std::string JsonAt::get_str(const char* key, const std::string& def) const {
  return has(key) ? (*this)[key].str() : def;
}
int64_t JsonAt::get_int(const char* key, int64_t def) const { return has(key) ? (*this)[key].integer() : def; }

nlohmann::json parse_json(const std::string& text, const std::string& file) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail_input(file + ": malformed JSON (" + e.what() + ")", "fix the file, or fetch it again");
  }
}

}  // namespace loratune::hf
