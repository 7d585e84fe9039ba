// The typed options of `loratune prepare` (the app converts its [data] config section into these once).
// Torch-free.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "data/sample.h"
#include "data/shaping.h"
#include "data/text_split.h"

namespace loratune::data {

// Whether samples are packed into full rows.
enum class Pack {
  Auto,  // pack when the inputs include raw text (.txt/.md or {"text"} records)
  On,
  Off,   // one sample per row, padded
};
// What an invalid record does.
enum class OnError {
  Fail,  // an input error naming file:line
  Skip,  // counted and listed in the report
};

struct DataOptions {
  std::optional<Format> format;         // nullopt = detected per file
  TextSplit text_split = TextSplit::None;
  std::string delimiter;                // the separator line when text_split is Delimiter
  std::string template_name;            // "" = from the model's chat template, else plain
  std::map<std::string, std::string> template_vars;  // the model's template: name -> JSON value text
  bool train_on_inputs = false;         // also train on prompts / user turns
  int64_t seq_len = 512;                // tokens per row (>= 2)
  int64_t stride = 0;                   // overlap between chunks of long documents, < seq_len
  Side truncation = Side::Right;        // side cut from over-long prompt/completion samples
  Pack pack = Pack::Auto;
  double val_fraction = 0.05;           // share of samples held out (by content hash), in [0, 1)
  bool dedup = true;                    // drop exact duplicates (normalised text)
  OnError on_error = OnError::Fail;
  bool strict = false;                  // warnings become errors
};

// The names used in files (manifest.json "options") and in the config (text splits: data/text_split.h):
// "auto" | "on" | "off", "fail" | "skip", "left" | "right". parse_* return nullopt for other names; *_names
// list the choices (for the app's error messages).
const char* pack_name(Pack p);
std::optional<Pack> parse_pack(const std::string& name);
std::vector<std::string> pack_names();
const char* on_error_name(OnError e);
std::optional<OnError> parse_on_error(const std::string& name);
std::vector<std::string> on_error_names();
const char* side_name(Side s);
std::optional<Side> parse_side(const std::string& name);
std::vector<std::string> side_names();

// The options as recorded in manifest.json ("format": "auto" when detected, enum names as above).
nlohmann::json data_options_json(const DataOptions& d);
// Template variables as a JSON object of their values (each text parsed).
nlohmann::json template_vars_json(const std::map<std::string, std::string>& vars);

}  // namespace loratune::data
