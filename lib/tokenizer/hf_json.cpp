#include "tokenizer/hf_json.h"

#include "core/error.h"

namespace loratune::hf {

namespace {
const char* kHint =
    "the file is not a tokenizer.json that loratune can read: check it loads with the "
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
  if (!j_->is_array() && !j_->is_object())
    fail(std::string("expected a list or an object, got ") + type_name());
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
int64_t JsonAt::get_int(const char* key, int64_t def) const {
  return has(key) ? (*this)[key].integer() : def;
}

namespace {

using nlohmann::json;

// SAX handler: builds the DOM through nlohmann's own DOM builder, except for model.vocab / model.merges.
class DocSax {
 public:
  explicit DocSax(TokenizerDoc& d) : doc_(d), dom_(d.json) {}

  bool null() {
    return scalar([&] { return dom_.null(); }, "null");
  }
  bool boolean(bool v) {
    return scalar([&] { return dom_.boolean(v); }, v ? "true" : "false");
  }
  bool number_integer(json::number_integer_t v) {
    return integer(v, [&] { return dom_.number_integer(v); });
  }
  bool number_unsigned(json::number_unsigned_t v) {
    return integer(v > static_cast<json::number_unsigned_t>(INT64_MAX) ? -1 : static_cast<int64_t>(v),
                   [&] { return dom_.number_unsigned(v); });
  }
  bool number_float(json::number_float_t v, const std::string& s) {
    return scalar([&] { return dom_.number_float(v, s); }, s);
  }
  bool string(std::string& v) {
    if (mode_ == Mode::Merges) {
      doc_.merges.push_back({std::move(v), std::string(), true});
      ++merge_index_;
      return true;
    }
    if (mode_ == Mode::Pair) {
      pair_.push_back(std::move(v));
      return true;
    }
    return scalar([&] { return dom_.string(v); }, json(v).dump());
  }
  bool binary(json::binary_t& v) {
    return scalar([&] { return dom_.binary(v); }, "binary");
  }

  bool start_object(std::size_t n) {
    return container(true, [&] { return dom_.start_object(n); });
  }
  bool start_array(std::size_t n) {
    return container(false, [&] { return dom_.start_array(n); });
  }
  bool key(std::string& k) {
    if (mode_ == Mode::Skip) return true;
    if (mode_ == Mode::Vocab) {
      vocab_key_ = std::move(k);
      return true;
    }
    frames_.back().key = k;
    return dom_.key(k);
  }
  bool end_object() { return end(); }
  bool end_array() { return end(); }
  template <class Exception>
  bool parse_error(std::size_t pos, const std::string& tok, const Exception& ex) {
    return dom_.parse_error(pos, tok, ex);
  }

 private:
  enum class Mode { Dom, Vocab, Merges, Pair, Skip };
  struct Frame {
    bool object;
    std::string key;
  };

  bool at_model_key(const char* k) const {
    return frames_.size() == 2 && frames_[0].object && frames_[0].key == "model" && frames_[1].object &&
           frames_[1].key == k;
  }
  void bad_merge(const std::string& what) {
    if (doc_.bad_merge < 0) {
      doc_.bad_merge = merge_index_;
      doc_.bad_merge_text = what;
    }
  }
  void bad_vocab(const std::string& what) {
    if (doc_.bad_vocab.empty())
      doc_.bad_vocab = "token '" + vocab_key_ + "' needs a non-negative integer id, got " + what;
  }

  template <typename F>
  bool scalar(F forward, const std::string& text) {
    switch (mode_) {
      case Mode::Dom:
        return forward();
      case Mode::Vocab:
        bad_vocab(text);
        return true;
      case Mode::Merges:
        bad_merge(text);
        ++merge_index_;
        return true;
      case Mode::Pair:
        pair_bad_ = true;
        return true;
      case Mode::Skip:
        return true;
    }
    return true;
  }
  template <typename F>
  bool integer(int64_t v, F forward) {
    if (mode_ == Mode::Vocab) {
      if (v < 0)
        bad_vocab(std::to_string(v));
      else
        doc_.vocab.emplace_back(vocab_key_, v);
      return true;
    }
    return scalar(forward, std::to_string(v));
  }
  template <typename F>
  bool container(bool object, F forward) {
    switch (mode_) {
      case Mode::Dom:
        if (object && at_model_key("vocab")) {
          mode_ = Mode::Vocab;
          doc_.has_vocab = true;
          return dom_.null();
        }
        if (!object && at_model_key("merges")) {
          mode_ = Mode::Merges;
          doc_.has_merges = true;
          return dom_.null();
        }
        frames_.push_back({object, std::string()});
        return forward();
      case Mode::Vocab:
        bad_vocab(object ? "an object" : "a list");
        return skip(Mode::Vocab);
      case Mode::Merges:
        if (object) {
          bad_merge("an object");
          ++merge_index_;
          return skip(Mode::Merges);
        }
        mode_ = Mode::Pair;
        pair_.clear();
        pair_bad_ = false;
        return true;
      case Mode::Pair:
        pair_bad_ = true;
        return skip(Mode::Pair);
      case Mode::Skip:
        ++skip_depth_;
        return true;
    }
    return true;
  }
  bool skip(Mode back) {
    skip_back_ = back;
    skip_depth_ = 1;
    mode_ = Mode::Skip;
    return true;
  }
  bool end() {
    switch (mode_) {
      case Mode::Skip:
        if (--skip_depth_ == 0) mode_ = skip_back_;
        return true;
      case Mode::Pair:
        if (pair_bad_ || pair_.size() != 2)
          bad_merge("a list of " + std::to_string(pair_.size()) + " items");
        else
          doc_.merges.push_back({std::move(pair_[0]), std::move(pair_[1]), false});
        ++merge_index_;
        mode_ = Mode::Merges;
        return true;
      case Mode::Vocab:
      case Mode::Merges:
        mode_ = Mode::Dom;
        return true;
      case Mode::Dom: {
        const bool object = frames_.back().object;
        frames_.pop_back();
        return object ? dom_.end_object() : dom_.end_array();
      }
    }
    return true;
  }

  TokenizerDoc& doc_;
  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::vector<Frame> frames_;
  Mode mode_ = Mode::Dom, skip_back_ = Mode::Dom;
  int skip_depth_ = 0;
  long merge_index_ = 0;
  std::string vocab_key_;
  std::vector<std::string> pair_;
  bool pair_bad_ = false;
};

}  // namespace

TokenizerDoc parse_tokenizer_json(const std::string& text, const std::string& file) {
  TokenizerDoc doc;
  DocSax sax(doc);
  try {
    json::sax_parse(text, &sax);
  } catch (const nlohmann::json::parse_error& e) {
    fail_input(file + ": malformed JSON (" + e.what() + ")", "fix the file, or fetch it again");
  }
  return doc;
}

}  // namespace loratune::hf
