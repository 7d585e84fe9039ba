#include "data/records.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/strings.h"
#include "data/utf8.h"

namespace loratune::data {
using json = nlohmann::json;

namespace {

const std::vector<std::string> kRoles = {"system", "user", "assistant"};

// How formats are named in messages (format_name() is the --format spelling).
const char* human_name(Format f) {
  switch (f) {
    case Format::Text: return "text";
    case Format::PromptCompletion: return "prompt/completion";
    case Format::Alpaca: return "alpaca";
    case Format::Chat: return "chat";
    case Format::Tokens: return "pre-tokenized";
  }
  return "?";
}

std::string with_article(const std::string& noun) {
  return (std::string("aeiou").find(noun[0]) != std::string::npos ? "an " : "a ") + noun;
}

std::vector<const char*> required_keys(Format f) {
  switch (f) {
    case Format::Text: return {"text"};
    case Format::PromptCompletion: return {"prompt", "completion"};
    case Format::Alpaca: return {"instruction", "output"};
    case Format::Chat: return {"messages"};
    case Format::Tokens: return {"input_ids"};
  }
  return {};
}

bool has_required(Format f, const json& obj) {
  for (const char* k : required_keys(f))
    if (!obj.contains(k)) return false;
  return true;
}

// The format a record's keys point to, in order of precedence (extra keys are ignored).
std::optional<Format> shape_of(const json& obj) {
  for (Format f : {Format::Chat, Format::Tokens, Format::Alpaca, Format::PromptCompletion, Format::Text})
    if (has_required(f, obj)) return f;
  return std::nullopt;
}

std::string quoted_keys(const json& obj, size_t max = 8) {
  std::vector<std::string> keys;
  for (auto it = obj.begin(); it != obj.end() && keys.size() < max; ++it) keys.push_back("\"" + clip(it.key(), 40) + "\"");
  std::string s = join(keys, ", ");
  if (obj.size() > max) s += ", ...";
  return s;
}

// "no known record shape" with the accepted shapes and, when a key looks like a misspelt known key, a hint.
std::string unknown_shape_problem(const json& obj) {
  static const std::vector<std::string> known = {"text",   "prompt",   "completion", "instruction", "input",
                                                 "output", "messages", "input_ids",  "labels",      "mask"};
  std::string msg =
      "not a known record shape: expected {\"text\": ...}, {\"prompt\": ..., \"completion\": ...}, "
      "{\"instruction\": ..., \"input\": ..., \"output\": ...}, {\"messages\": [...]} or {\"input_ids\": [...]}";
  if (obj.empty()) return msg + "; got an empty object";
  msg += "; got keys " + quoted_keys(obj);
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
    std::string m = closest_match(it.key(), known);
    if (!m.empty()) return msg + " (did you mean \"" + m + "\" for \"" + clip(it.key(), 40) + "\"?)";
  }
  return msg;
}

// A record without the keys of its file's format. format_line: the line that set the format, 0 if forced.
std::string mismatch_problem(Format fmt, int64_t format_line, const json& obj) {
  std::string problem = "expected " + with_article(human_name(fmt)) + " record " +
                        (format_line > 0 ? "like line " + std::to_string(format_line)
                                         : std::string("({opt:format} ") + format_name(fmt) + ")");
  std::vector<std::string> missing;
  for (const char* k : required_keys(fmt))
    if (!obj.contains(k)) missing.push_back(std::string("\"") + k + "\"");
  problem += (missing.size() == 1 ? ": missing field " : ": missing fields ") + join(missing, ", ");
  if (auto shape = shape_of(obj)) problem += "; this looks like " + with_article(human_name(*shape)) + " record";
  return problem;
}

std::string describe(const json& v) {
  if (v.is_number()) return clip(v.dump(), 40);
  return v.type_name();
}

// Reads obj[key] as a string into out. "" when valid, else the problem.
// `where` prefixes the key in messages ("messages[2]." for a chat message).
std::string read_string(const json& obj, const std::string& key, bool nonempty, std::string& out,
                        const std::string& where = "") {
  auto it = obj.find(key);
  if (it == obj.end()) return "missing field \"" + where + key + "\"";
  if (!it->is_string()) return where + key + " must be a string, got " + it->type_name();
  out = it->get<std::string>();
  if (nonempty && is_blank(out)) return where + key + " is empty";
  return "";
}

std::string parse_text(const json& obj, Record& r) { return read_string(obj, "text", true, r.text); }

std::string parse_prompt_completion(const json& obj, Record& r) {
  std::string p = read_string(obj, "prompt", false, r.prompt);
  return p.empty() ? read_string(obj, "completion", true, r.completion) : p;
}

std::string parse_alpaca(const json& obj, Record& r) {
  std::string p = read_string(obj, "instruction", false, r.instruction);
  if (p.empty() && obj.contains("input")) p = read_string(obj, "input", false, r.input);
  if (p.empty()) p = read_string(obj, "output", true, r.output);
  return p;
}

std::string parse_chat(const json& obj, Record& r) {
  const json& msgs = obj.at("messages");
  if (!msgs.is_array())
    return "messages must be an array of {\"role\": ..., \"content\": ...} objects, got " +
           std::string(msgs.type_name());
  if (msgs.empty()) return "messages is empty: expected at least one user and one assistant message";
  r.messages.resize(msgs.size());
  bool has_assistant = false;
  for (size_t i = 0; i < msgs.size(); ++i) {
    std::string p = parse_chat_message(msgs[i], "messages[" + std::to_string(i) + "]", r.messages[i]);
    if (!p.empty()) return p;
    has_assistant = has_assistant || r.messages[i].role == "assistant";
  }
  if (!has_assistant) return "messages has no assistant message: nothing to train on";
  return "";
}

// A JSON integer as int64 (huge unsigned values saturate; they are out of every range checked below).
std::optional<int64_t> as_int(const json& v) {
  if (v.is_number_unsigned()) {
    auto u = v.get<uint64_t>();
    return u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                           : static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}

std::string parse_ids(const json& arr, int64_t vocab_size, std::vector<int32_t>& ids) {
  if (!arr.is_array()) return "input_ids must be an array of token ids, got " + std::string(arr.type_name());
  if (arr.empty()) return "input_ids is empty";
  ids.resize(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string at = "input_ids[" + std::to_string(i) + "]";
    auto v = as_int(arr[i]);
    if (!v) return at + " must be a non-negative integer, got " + describe(arr[i]);
    if (*v < 0) return at + " = " + std::to_string(*v) + " is negative";
    if (*v > std::numeric_limits<int32_t>::max()) return at + " = " + describe(arr[i]) + " is out of range";
    if (vocab_size > 0 && *v >= vocab_size)
      return at + " = " + std::to_string(*v) + " is not below the vocabulary size " + std::to_string(vocab_size) +
             " (was it tokenized with another tokenizer?)";
    ids[i] = static_cast<int32_t>(*v);
  }
  return "";
}

std::string check_same_length(const json& arr, const char* key, size_t n) {
  if (!arr.is_array())
    return std::string(key) + " must be an array of integers, got " + std::string(arr.type_name());
  if (arr.size() != n)
    return std::string(key) + " has " + std::to_string(arr.size()) + " entries but input_ids has " +
           std::to_string(n) + " (they must be the same length)";
  return "";
}

std::string parse_labels(const json& arr, const std::vector<int32_t>& ids, std::vector<uint8_t>& trained) {
  std::string p = check_same_length(arr, "labels", ids.size());
  if (!p.empty()) return p;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto v = as_int(arr[i]);
    const std::string at = "labels[" + std::to_string(i) + "]";
    if (!v) return at + " must be an integer, got " + describe(arr[i]);
    if (*v == -100) trained[i] = 0;
    else if (*v == ids[i]) trained[i] = 1;
    else
      // Hugging Face style labels are unshifted copies of input_ids; the shift happens in the loss.
      return at + " = " + std::to_string(*v) + " must be -100 or equal to input_ids[" + std::to_string(i) +
             "] = " + std::to_string(ids[i]) + " (labels must not be shifted; or give a 0/1 \"mask\" instead)";
  }
  return "";
}

std::string parse_mask(const json& arr, size_t n, std::vector<uint8_t>& trained) {
  std::string p = check_same_length(arr, "mask", n);
  if (!p.empty()) return p;
  for (size_t i = 0; i < n; ++i) {
    auto v = arr[i].is_boolean() ? std::optional<int64_t>(arr[i].get<bool>() ? 1 : 0) : as_int(arr[i]);
    if (!v || (*v != 0 && *v != 1))
      return "mask[" + std::to_string(i) + "] must be 0 or 1, got " + describe(arr[i]);
    trained[i] = static_cast<uint8_t>(*v);
  }
  return "";
}

std::string parse_tokens(const json& obj, int64_t vocab_size, Record& r) {
  std::string p = parse_ids(obj.at("input_ids"), vocab_size, r.input_ids);
  if (!p.empty()) return p;
  auto labels = obj.find("labels");
  auto mask = obj.find("mask");
  r.trained.assign(r.input_ids.size(), 1);
  if (labels != obj.end() && mask != obj.end()) return "give either \"labels\" or \"mask\", not both";
  if (labels != obj.end()) p = parse_labels(*labels, r.input_ids, r.trained);
  if (mask != obj.end()) p = parse_mask(*mask, r.input_ids.size(), r.trained);
  if (!p.empty()) return p;
  if (std::find(r.trained.begin(), r.trained.end(), 1) == r.trained.end())
    return "every token is masked out (labels all -100 or mask all 0): nothing to train on";
  return "";
}

// Fills r from obj as format f. "" when valid, else the problem. The required keys must be present.
std::string parse_as(Format f, const json& obj, int64_t vocab_size, Record& r) {
  switch (f) {
    case Format::Text: return parse_text(obj, r);
    case Format::PromptCompletion: return parse_prompt_completion(obj, r);
    case Format::Alpaca: return parse_alpaca(obj, r);
    case Format::Chat: return parse_chat(obj, r);
    case Format::Tokens: return parse_tokens(obj, vocab_size, r);
  }
  return "unsupported format";
}

// "invalid JSON at column C: <nlohmann's reason without its prefix>".
std::string json_problem(const json::parse_error& e) {
  std::string s = e.what();
  size_t col = s.find("column ");
  size_t colon = s.find(": ", col == std::string::npos ? 0 : col);
  std::string reason = colon == std::string::npos ? s : s.substr(colon + 2);
  return "invalid JSON at column " + std::to_string(e.byte) + ": " + clip(reason);
}

}  // namespace

std::string parse_jsonl_record(std::string_view line, std::optional<Format> format, int64_t format_line,
                               int64_t vocab_size, Record& out) {
  if (size_t nul = line.find('\0'); nul != std::string::npos)
    return "NUL byte at column " + std::to_string(nul + 1) + " (binary data in a text file?)";
  // Checked before parsing so that the message points at the byte, not at a JSON string escape.
  if (size_t bad = invalid_utf8_at(line); bad != std::string_view::npos) return invalid_utf8_problem(line, bad, bad + 1);
  json obj;
  try {
    obj = json::parse(line.begin(), line.end());
  } catch (const json::parse_error& e) {
    return json_problem(e);
  }
  if (!obj.is_object()) return std::string("expected a JSON object, got ") + obj.type_name();
  Format fmt;
  if (format) {
    fmt = *format;
    if (!has_required(fmt, obj)) return mismatch_problem(fmt, format_line, obj);
  } else if (auto shape = shape_of(obj)) {
    fmt = *shape;
  } else {
    return unknown_shape_problem(obj);
  }
  out = Record{};
  std::string problem = parse_as(fmt, obj, vocab_size, out);
  out.format = fmt;
  return problem;
}

std::string parse_chat_message(const json& m, const std::string& where, Message& out) {
  if (!m.is_object()) return where + " must be a {\"role\": ..., \"content\": ...} object, got " + m.type_name();
  std::string p = read_string(m, "role", false, out.role, where + ".");
  if (!p.empty()) return p;
  if (std::find(kRoles.begin(), kRoles.end(), out.role) == kRoles.end())
    return where + ".role: unknown role \"" + clip(out.role, 40) + "\"" + did_you_mean(out.role, kRoles) +
           "; expected system, user or assistant";
  p = read_string(m, "content", out.role == "assistant", out.content, where + ".");
  if (!p.empty()) return p;
  json extra = json::object();
  for (const auto& [k, v] : m.items())
    if (k != "role" && k != "content") extra[k] = v;
  out.extra = extra.empty() ? std::string() : extra.dump();
  return "";
}

}  // namespace loratune::data
