#include "tokenizer/special_tokens.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "core/error.h"
#include "core/fs.h"

namespace loratune {

namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------------
// HF JSON files.

std::optional<json> read_json_object(const std::string& path) {
  if (!path_exists(path)) return std::nullopt;
  const std::string text = read_text_file(path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail_input(path + ": invalid JSON (" + e.what() + ")", "fix the file or remove it");
  }
  if (!j.is_object()) fail_input(path + ": expected a JSON object at the top level", "fix the file or remove it");
  return j;
}

std::string key_ref(const std::string& file, const std::string& key) {
  return file + ": key '" + key + "'";
}

// A JSON value that is present and not null.
const json* find_key(const json& obj, const std::string& key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<bool> bool_key(const json& obj, const std::string& file, const std::string& key) {
  const json* v = find_key(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) fail_input(key_ref(file, key) + " must be true or false, got " + v->dump(), "fix the value or remove the key");
  return v->get<bool>();
}

// tokenizer_config.json chat_template: a string, or a list of {"name", "template"} of which the one
// named "default" is the tokenizer's template (as in transformers).
std::optional<std::string> chat_template_value(const json& v, const std::string& file) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) fail_input(key_ref(file, "chat_template") + " must be a string or a list of templates",
               "fix the value or remove the key");
  for (const auto& entry : v) {
    if (entry.is_object() && entry.value("name", json()) == "default" && entry.contains("template") &&
        entry["template"].is_string())
      return entry["template"].get<std::string>();
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------
// Special-token resolution.

struct Resolution {
  SpecialTokens special;
  std::string chat_template;
  std::string add_bos_source;  // file that explicitly set add_bos_token, "" if defaulted
  std::string add_eos_source;
};

class SpecialResolver {
 public:
  SpecialResolver(const VocabLookup& vocab, const std::string& model_path) : vocab_(vocab), model_path_(model_path) {}

  // tokenizer_config.json: token names, add_*_token flags, chat_template.
  void apply_tokenizer_config(const json& cfg, const std::string& file, Resolution* r) const {
    set_by_name(cfg, file, "bos_token", &r->special.bos);
    set_by_name(cfg, file, "pad_token", &r->special.pad);
    set_by_name(cfg, file, "unk_token", &r->special.unk);
    if (set_by_name(cfg, file, "eos_token", &r->special.eos)) r->special.eos_ids = {r->special.eos};
    if (auto b = bool_key(cfg, file, "add_bos_token")) {
      r->special.add_bos = *b;
      r->add_bos_source = file;
    }
    if (auto b = bool_key(cfg, file, "add_eos_token")) {
      r->special.add_eos = *b;
      r->add_eos_source = file;
    }
    if (const json* t = find_key(cfg, "chat_template")) {
      if (auto tmpl = chat_template_value(*t, file)) r->chat_template = *tmpl;
    }
  }

  // config.json / generation_config.json: bos_token_id, eos_token_id (int or list), pad_token_id.
  void apply_id_config(const json& cfg, const std::string& file, Resolution* r) const {
    if (const json* v = find_key(cfg, "bos_token_id")) r->special.bos = checked_id(*v, file, "bos_token_id");
    if (const json* v = find_key(cfg, "pad_token_id")) r->special.pad = checked_id(*v, file, "pad_token_id");
    if (const json* v = find_key(cfg, "eos_token_id")) {
      r->special.eos_ids = id_list(*v, file, "eos_token_id");
      r->special.eos = r->special.eos_ids.front();
    }
  }

 private:
  // Sets *id from a token given as "text" or {"content": "text"}; returns whether the key was set.
  bool set_by_name(const json& cfg, const std::string& file, const std::string& key, int* id) const {
    const json* v = find_key(cfg, key);
    if (!v) return false;
    const json* content = v->is_object() ? find_key(*v, "content") : v;
    if (!content || !content->is_string())
      fail_input(key_ref(file, key) + " must be a string or an object with a string \"content\", got " +
                     v->dump(),
                 "fix the value or remove the key");
    *id = id_of_token(content->get<std::string>(), file, key);
    return true;
  }

  int id_of_token(const std::string& token, const std::string& file, const std::string& key) const {
    const int id = vocab_.id_of(token);
    if (id < 0 || id >= vocab_.size)
      fail_input(key_ref(file, key) + " names the token \"" + token + "\", which is not " + vocab_.token_kind +
                     " (" + model_path_ + ")",
                 "set the key to " + vocab_.token_kind + " or remove it; is " + model_path_ +
                     " the tokenizer of this model?");
    return id;
  }

  int checked_id(const json& v, const std::string& file, const std::string& key) const {
    if (!v.is_number_integer())
      fail_input(key_ref(file, key) + " must be an integer token id, got " + v.dump(),
                 "fix the value or remove the key");
    const auto id = v.get<int64_t>();
    if (id < 0 || id >= vocab_.size)
      fail_input(key_ref(file, key) + " is " + std::to_string(id) + ", outside the vocabulary of " +
                     model_path_ + " (" + std::to_string(vocab_.size) + " tokens)",
                 "check that " + model_path_ + " belongs to this model");
    return static_cast<int>(id);
  }

  std::vector<int> id_list(const json& v, const std::string& file, const std::string& key) const {
    if (!v.is_array()) return {checked_id(v, file, key)};
    if (v.empty()) fail_input(key_ref(file, key) + " is an empty list", "give at least one token id or remove the key");
    std::vector<int> ids;
    for (const auto& item : v) ids.push_back(checked_id(item, file, key));
    return ids;
  }

  const VocabLookup& vocab_;
  const std::string& model_path_;
};


// eos_ids defaults to {eos}; add_bos/add_eos without the token: an error when a file asked for it,
// otherwise off.
void finalize_specials(Resolution* r) {
  SpecialTokens& s = r->special;
  if (s.eos_ids.empty() && s.eos >= 0) s.eos_ids = {s.eos};
  if (s.add_bos && s.bos < 0) {
    if (!r->add_bos_source.empty())
      fail_input(key_ref(r->add_bos_source, "add_bos_token") + " is true but the tokenizer has no BOS token",
                 "set bos_token (or bos_token_id in config.json), or set add_bos_token to false");
    s.add_bos = false;
  }
  if (s.add_eos && s.eos < 0)
    fail_input(key_ref(r->add_eos_source, "add_eos_token") + " is true but the tokenizer has no EOS token",
               "set eos_token (or eos_token_id in config.json), or set add_eos_token to false");
}

std::optional<std::string> chat_template_override(const std::string& dir) {
  const std::string jinja = join_path(dir, "chat_template.jinja");
  if (path_exists(jinja)) return read_text_file(jinja);
  const std::string file = join_path(dir, "chat_template.json");
  auto j = read_json_object(file);
  if (!j) return std::nullopt;
  const json* t = find_key(*j, "chat_template");
  if (!t) fail_input(key_ref(file, "chat_template") + " is missing", "add the template or remove the file");
  return chat_template_value(*t, file);
}

}  // namespace

SpecialTokens model_special_tokens(const spm::Processor& sp) {
  SpecialTokens s;
  s.bos = sp.bos_id();
  s.eos = sp.eos_id();
  s.pad = sp.pad_id();
  s.unk = sp.unk_id();
  if (s.eos >= 0) s.eos_ids = {s.eos};
  s.add_bos = s.bos >= 0;
  return s;
}

SpecialResolution resolve_special_tokens(const std::string& dir, const VocabLookup& vocab,
                                         const std::string& model_path, const SpecialTokens& model_defaults) {
  Resolution r{model_defaults, {}, {}, {}};
  const SpecialResolver resolver(vocab, model_path);
  const std::string tc = join_path(dir, "tokenizer_config.json");
  if (auto j = read_json_object(tc)) resolver.apply_tokenizer_config(*j, tc, &r);
  for (const char* name : {"config.json", "generation_config.json"}) {
    const std::string file = join_path(dir, name);
    if (auto j = read_json_object(file)) resolver.apply_id_config(*j, file, &r);
  }
  if (auto tmpl = chat_template_override(dir)) r.chat_template = *tmpl;
  finalize_specials(&r);
  return {std::move(r.special), std::move(r.chat_template)};
}

}  // namespace loratune
