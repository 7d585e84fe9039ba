// Typed access to the fields of a JSON object read from a file (config.json, adapter_config.json), with
// errors that name the file, the key and the expected type:
//   "<path>: key 'hidden_size' must be an integer, got \"64\"" (+ the reader's hint).
// A key holding null counts as absent. Torch-free; nlohmann::json is only forward-declared here.
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace loratune::io {

class JsonFields {
 public:
  // How integer fields treat numbers such as 8.0.
  enum class Integers {
    Strict,        // only JSON integers
    AllowIntegral, // also floats with an integral value (what Python's json.dump writes for 8.0)
  };

  // `j` must outlive the reader. `hint` goes with every type error ("fix config.json ...").
  JsonFields(const nlohmann::json& j, std::string path, std::string hint, Integers ints = Integers::Strict);

  const std::string& path() const { return path_; }
  const nlohmann::json& raw() const { return *j_; }
  // Present and not null.
  bool has(const std::string& key) const;
  // True when the key holds something other than null / false / "" / [] / {}.
  bool is_set(const std::string& key) const;
  // The raw value (an internal error when absent; check has() first).
  const nlohmann::json& at(const std::string& key) const;
  // The value's JSON text, for messages ("null" when absent).
  std::string dump(const std::string& key) const;

  // The field as T (int64_t, double, bool, std::string), or `def` when absent; the wrong type is an input
  // error naming the file, the key and the type.
  template <typename T>
  T get(const std::string& key, const T& def) const;
  // The field as T, or nullopt when absent.
  template <typename T>
  std::optional<T> optional(const std::string& key) const;
  // The field as T; absent is an input error "<path>: required key '<key>' is missing" with `missing_hint`.
  template <typename T>
  T require(const std::string& key, const std::string& missing_hint) const;
  // A list of T; a single T is accepted as a one-element list when `scalar_ok`. Absent: empty. `want`
  // describes the accepted shape in errors ("an integer or a list of integers").
  template <typename T>
  std::vector<T> list(const std::string& key, const std::string& want, bool scalar_ok = false) const;
  // A reader over a nested object (absent: nullopt; not an object: an error with `want`).
  std::optional<JsonFields> object(const std::string& key, const std::string& want = "an object") const;

  // "<path>: key '<key>' must be <want>, got <value>" with the reader's hint.
  [[noreturn]] void bad(const std::string& key, const std::string& want) const;

 private:
  template <typename T>
  T convert(const std::string& key, const nlohmann::json& v) const;

  const nlohmann::json* j_;
  std::string path_, hint_;
  Integers ints_;
};

}  // namespace loratune::io
