#include "io/json_fields.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace loratune::io {
namespace {
using nlohmann::json;

template <typename T>
const char* type_words();
template <>
const char* type_words<int64_t>() { return "an integer"; }
template <>
const char* type_words<double>() { return "a number"; }
template <>
const char* type_words<bool>() { return "true or false"; }
template <>
const char* type_words<std::string>() { return "a string"; }

}  // namespace

JsonFields::JsonFields(const nlohmann::json& j, std::string path, std::string hint, Integers ints)
    : j_(&j), path_(std::move(path)), hint_(std::move(hint)), ints_(ints) {}

bool JsonFields::has(const std::string& key) const { return j_->is_object() && j_->contains(key) && !j_->at(key).is_null(); }

bool JsonFields::is_set(const std::string& key) const {
  if (!has(key)) return false;
  const json& v = j_->at(key);
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string() || v.is_array() || v.is_object()) return !v.empty() && v != json("");
  return true;
}

const nlohmann::json& JsonFields::at(const std::string& key) const {
  LT_CHECK(has(key), path_ + ": JsonFields::at('" + key + "') on an absent key");
  return j_->at(key);
}

std::string JsonFields::dump(const std::string& key) const { return has(key) ? j_->at(key).dump() : "null"; }

void JsonFields::bad(const std::string& key, const std::string& want) const {
  fail_input(path_ + ": key '" + key + "' must be " + want + ", got " + dump(key), hint_);
}

template <>
int64_t JsonFields::convert<int64_t>(const std::string& key, const json& v) const {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (ints_ == Integers::AllowIntegral && v.is_number_float() && v.get<double>() == std::floor(v.get<double>()))
    return static_cast<int64_t>(v.get<double>());
  bad(key, type_words<int64_t>());
}
template <>
double JsonFields::convert<double>(const std::string& key, const json& v) const {
  if (!v.is_number()) bad(key, type_words<double>());
  return v.get<double>();
}
template <>
bool JsonFields::convert<bool>(const std::string& key, const json& v) const {
  if (!v.is_boolean()) bad(key, type_words<bool>());
  return v.get<bool>();
}
template <>
std::string JsonFields::convert<std::string>(const std::string& key, const json& v) const {
  if (!v.is_string()) bad(key, type_words<std::string>());
  return v.get<std::string>();
}

template <typename T>
T JsonFields::get(const std::string& key, const T& def) const {
  return has(key) ? convert<T>(key, j_->at(key)) : def;
}

template <typename T>
std::optional<T> JsonFields::optional(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return convert<T>(key, j_->at(key));
}

template <typename T>
T JsonFields::require(const std::string& key, const std::string& missing_hint) const {
  if (!has(key)) fail_input(path_ + ": required key '" + key + "' is missing", missing_hint);
  return convert<T>(key, j_->at(key));
}

template <typename T>
std::vector<T> JsonFields::list(const std::string& key, const std::string& want, bool scalar_ok) const {
  std::vector<T> out;
  if (!has(key)) return out;
  const json& v = j_->at(key);
  if (!v.is_array()) {
    if (!scalar_ok) bad(key, want);
    // A lone value must have the element type; its error names the whole accepted shape.
    try {
      out.push_back(convert<T>(key, v));
    } catch (const Error&) {
      bad(key, want);
    }
    return out;
  }
  for (const auto& e : v) {
    try {
      out.push_back(convert<T>(key, e));
    } catch (const Error&) {
      bad(key, want);
    }
  }
  return out;
}

std::optional<JsonFields> JsonFields::object(const std::string& key, const std::string& want) const {
  if (!has(key)) return std::nullopt;
  if (!j_->at(key).is_object()) bad(key, want);
  return JsonFields(j_->at(key), path_, hint_, ints_);
}

#define LORATUNE_JSON_FIELDS(T)                                                                   \
  template T JsonFields::get<T>(const std::string&, const T&) const;                              \
  template std::optional<T> JsonFields::optional<T>(const std::string&) const;                    \
  template T JsonFields::require<T>(const std::string&, const std::string&) const;                \
  template std::vector<T> JsonFields::list<T>(const std::string&, const std::string&, bool) const;
LORATUNE_JSON_FIELDS(int64_t)
LORATUNE_JSON_FIELDS(double)
LORATUNE_JSON_FIELDS(bool)
LORATUNE_JSON_FIELDS(std::string)
#undef LORATUNE_JSON_FIELDS

}  // namespace loratune::io
