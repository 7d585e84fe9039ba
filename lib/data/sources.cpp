#include "data/sources.h"

#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"

namespace loratune::data {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kSkipHint =
    "fix or remove it, or pass --on-error skip to skip invalid records (they are counted and listed in the "
    "report)";
const std::vector<std::string> kRoles = {"system", "user", "assistant"};
const std::vector<std::string> kSplitModes = {"none", "blank-line", "delimiter"};
// Bytes inspected for NUL when deciding whether a .jsonl file is binary (the heuristic git uses).
constexpr size_t kBinaryProbeBytes = 8000;

// ---------------------------------------------------------------------------------------------------------
// Small text helpers

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool is_blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), is_space);
}

std::string_view strip_bom(std::string_view s) {
  if (s.size() >= 3 && s.compare(0, 3, "\xEF\xBB\xBF") == 0) s.remove_prefix(3);
  return s;
}

// Offset of the first byte that does not start a well-formed UTF-8 sequence (overlong forms, surrogates
// and code points above U+10FFFF are ill-formed), or npos when the whole string is valid.
size_t invalid_utf8_at(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
    else return i;
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return i;
    i += len;
  }
  return std::string_view::npos;
}

// Shortens s to at most max bytes without cutting a UTF-8 sequence (messages end up in report.json).
std::string clip(std::string_view s, size_t max = 160) {
  if (s.size() <= max) return std::string(s);
  size_t end = max - 3;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end)) + "...";
}

std::string hex_byte(unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", c);
  return buf;
}

// 1-based line and column of a byte offset in a buffer.
std::pair<int64_t, int64_t> line_col(std::string_view s, size_t off) {
  int64_t line = 1 + std::count(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(off), '\n');
  size_t nl = s.rfind('\n', off == 0 ? 0 : off - 1);
  size_t col = (nl == std::string_view::npos || nl >= off) ? off + 1 : off - nl;
  return {line, static_cast<int64_t>(col)};
}

std::string extension_of(const std::string& path) { return lower(fs::path(path).extension().string()); }

bool is_supported(const std::string& path) {
  const auto& exts = supported_extensions();
  return std::find(exts.begin(), exts.end(), extension_of(path)) != exts.end();
}

bool is_text_file(const std::string& path) {
  auto ext = extension_of(path);
  return ext == ".txt" || ext == ".md";
}

// ---------------------------------------------------------------------------------------------------------
// Record shapes

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
                                         : std::string("(--format ") + format_name(fmt) + ")");
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

std::string parse_message(const json& m, const std::string& where, Message& out) {
  if (!m.is_object()) return where + " must be a {\"role\": ..., \"content\": ...} object, got " + m.type_name();
  std::string p = read_string(m, "role", false, out.role, where + ".");
  if (!p.empty()) return p;
  if (std::find(kRoles.begin(), kRoles.end(), out.role) == kRoles.end())
    return where + ".role: unknown role \"" + clip(out.role, 40) + "\"" + did_you_mean(out.role, kRoles) +
           "; expected system, user or assistant";
  return read_string(m, "content", out.role == "assistant", out.content, where + ".");
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
    std::string p = parse_message(msgs[i], "messages[" + std::to_string(i) + "]", r.messages[i]);
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

// ---------------------------------------------------------------------------------------------------------
// Text documents

// The next line of s from pos: [begin, end) without its terminator; pos moves past the terminator.
std::string_view next_line(std::string_view s, size_t& pos, size_t& begin) {
  begin = pos;
  size_t nl = s.find('\n', pos);
  size_t end = nl == std::string_view::npos ? s.size() : nl;
  pos = nl == std::string_view::npos ? s.size() : nl + 1;
  std::string_view line = s.substr(begin, end - begin);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// A document without leading blank lines and trailing whitespace (indentation of its first line is kept).
std::string_view trim_document(std::string_view d) {
  size_t first = 0;
  while (first < d.size() && is_space(d[first])) ++first;
  if (first == d.size()) return {};
  size_t line_start = d.rfind('\n', first);
  size_t begin = line_start == std::string_view::npos ? 0 : line_start + 1;
  size_t end = d.size();
  while (end > begin && is_space(d[end - 1])) --end;
  return d.substr(begin, end - begin);
}

// The next raw document of s from pos (before trimming), or nullopt at the end.
std::optional<std::string_view> next_document(std::string_view s, size_t& pos, const SourceOptions& o) {
  if (pos >= s.size()) return std::nullopt;
  const size_t start = pos;
  size_t begin = 0;
  if (o.text_split == "none") {
    pos = s.size();
    return s.substr(start);
  }
  if (o.text_split == "blank-line") {
    size_t doc_begin = std::string_view::npos, doc_end = 0;
    while (pos < s.size()) {
      const size_t before = pos;
      std::string_view line = next_line(s, pos, begin);
      if (!is_blank(line)) {
        if (doc_begin == std::string_view::npos) doc_begin = begin;
        doc_end = begin + line.size();
      } else if (doc_begin != std::string_view::npos) {
        pos = before;  // leave the separator; it is skipped on the next call
        break;
      }
    }
    if (doc_begin == std::string_view::npos) return std::nullopt;
    return s.substr(doc_begin, doc_end - doc_begin);
  }
  // delimiter
  while (pos < s.size()) {
    std::string_view line = next_line(s, pos, begin);
    if (line == o.delimiter) return s.substr(start, begin - start);
  }
  return s.substr(start);
}

std::string file_problem_prefix(const std::string& source, int64_t line) {
  return line > 0 ? source + ":" + std::to_string(line) : source;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

const std::vector<std::string>& supported_extensions() {
  static const std::vector<std::string> exts = {".txt", ".md", ".jsonl"};
  return exts;
}

// -----------------------------------------------------------------------------------------------------------
// expand_inputs

namespace {

bool is_glob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// Usable files under dir, recursively, sorted by path. Hidden files and directories (".git", editor
// backups) are skipped.
std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code entry_ec;  // a broken symlink is just not a usable file, not a listing failure
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(entry_ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(entry_ec) && is_supported(name)) out.push_back(it->path().string());
  }
  if (ec) fail_input(dir + ": cannot list directory (" + ec.message() + ")", "check that it is readable");
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> glob_matches(const std::string& pattern) {
  glob_t g{};
  int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> out;
  if (rc == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  if (rc == GLOB_NOSPACE) fail_runtime(pattern + ": out of memory expanding the pattern");
  if (rc == GLOB_ABORTED) fail_input(pattern + ": a directory could not be read while expanding the pattern");
  std::sort(out.begin(), out.end());  // byte order, independent of the locale
  return out;
}

std::string usable_list() { return join(supported_extensions(), ", "); }

void expand_path(const std::string& path, bool from_glob, std::vector<std::string>& out) {
  if (is_directory(path)) {
    auto files = files_under(path);
    if (files.empty() && !from_glob)
      fail_input(path + ": directory contains no " + usable_list() + " files",
                 "prepare reads raw text from .txt/.md and records from .jsonl files");
    out.insert(out.end(), files.begin(), files.end());
    return;
  }
  if (is_supported(path)) {
    out.push_back(path);
  } else if (!from_glob) {
    fail_input(path + ": unsupported file type \"" + extension_of(path) + "\"; expected " + usable_list(),
               "a file with one JSON object per line should be named .jsonl");
  }
}

}  // namespace

std::vector<std::string> expand_inputs(const std::vector<std::string>& specs) {
  if (specs.empty()) fail_input("no input files given", "pass files, directories or glob patterns");
  std::vector<std::string> all;
  for (const auto& spec : specs) {
    if (is_glob(spec) && !path_exists(spec)) {
      auto matches = glob_matches(spec);
      if (matches.empty())
        fail_input(spec + ": no files match this pattern", "check the pattern and the working directory");
      const size_t before = all.size();
      for (const auto& m : matches) expand_path(m, true, all);
      if (all.size() == before)
        fail_input(spec + ": the pattern matches no " + usable_list() + " files");
      continue;
    }
    if (!path_exists(spec))
      fail_input(spec + ": no such file or directory", "check the path (relative paths start at the working directory)");
    expand_path(spec, false, all);
  }
  // The same file reached twice (a file inside a given directory, "./a.jsonl" and "a.jsonl") is read once.
  std::set<std::string> seen;
  std::vector<std::string> unique;
  for (auto& f : all) {
    std::error_code ec;
    fs::path canon = fs::weakly_canonical(f, ec);
    std::string key = ec ? fs::path(f).lexically_normal().string() : canon.string();
    if (seen.insert(key).second) unique.push_back(std::move(f));
  }
  return unique;
}

// -----------------------------------------------------------------------------------------------------------
// RecordReader

struct RecordReader::OpenFile {
  bool is_text = false;
  bool done = false;  // the rest of the file is not read (rejected whole, or finished)
  // Text files: the whole (validated) content and the read position.
  std::string content;
  size_t pos = 0;
  int64_t documents = 0;
  // JSONL files: the stream and the current line.
  std::unique_ptr<std::FILE, FileCloser> fp;
  char* buf = nullptr;  // getline(3) buffer, reused for every line
  size_t cap = 0;
  int64_t line_no = 0;
  bool saw_content = false;
  std::optional<Format> format;  // forced, or locked by the first valid record
  int64_t format_line = 0;       // the line that locked it (0 when forced)

  ~OpenFile() { std::free(buf); }
};

RecordReader::RecordReader(std::vector<std::string> files, SourceOptions opts)
    : files_(std::move(files)), opts_(std::move(opts)) {
  if (std::find(kSplitModes.begin(), kSplitModes.end(), opts_.text_split) == kSplitModes.end())
    fail_input("unknown text split mode \"" + opts_.text_split + "\"" + did_you_mean(opts_.text_split, kSplitModes),
               "use none, blank-line or delimiter");
  if (opts_.text_split == "delimiter" && (opts_.delimiter.empty() || opts_.delimiter.find('\n') != std::string::npos))
    fail_input("text split \"delimiter\" needs a one-line delimiter",
               "give the line that separates documents, e.g. ---");
  if (opts_.vocab_size < 0) fail_input("vocabulary size must not be negative");
  for (const auto& f : files_) {
    struct stat st;
    if (::stat(f.c_str(), &st) != 0)
      fail_input(f + ": cannot read (" + std::strerror(errno) + ")", "check that the path exists and is readable");
    if (!S_ISREG(st.st_mode)) fail_input(f + ": not a regular file");
    if (!is_supported(f))
      fail_input(f + ": unsupported file type \"" + extension_of(f) + "\"; expected " + usable_list());
    const bool text = is_text_file(f);
    if (text && opts_.forced_format && *opts_.forced_format != Format::Text)
      fail_input(f + ": .txt/.md files hold raw text, but --format " + format_name(*opts_.forced_format) + " was given",
                 "pass --format text, or leave out --format to detect the format of each .jsonl file");
    SourceStats s;
    s.source = f;
    s.format = text ? Format::Text : opts_.forced_format.value_or(Format::Text);
    s.bytes = static_cast<uint64_t>(st.st_size);
    stats_.push_back(std::move(s));
  }
}

RecordReader::~RecordReader() = default;
RecordReader::RecordReader(RecordReader&&) noexcept = default;
RecordReader& RecordReader::operator=(RecordReader&&) noexcept = default;

void RecordReader::reject(int64_t line, const std::string& problem) {
  SourceStats& s = stats_[index_];
  if (!opts_.skip_invalid) fail_input(file_problem_prefix(s.source, line) + ": " + problem, kSkipHint);
  ++s.invalid;
  if (invalid_.size() < kMaxListedInvalid) invalid_.push_back({s.source, line, problem});
}

bool RecordReader::next(Record& out) {
  while (index_ < files_.size()) {
    if (!cur_) open_current();
    if (!cur_->done && (cur_->is_text ? next_text(out) : next_jsonl(out))) {
      ++stats_[index_].records;
      return true;
    }
    finish_current();
  }
  return false;
}

void RecordReader::open_current() {
  const std::string& path = files_[index_];
  cur_ = std::make_unique<OpenFile>();
  OpenFile& f = *cur_;
  f.is_text = is_text_file(path);
  if (f.is_text) {
    f.content = read_text_file(path);
    std::string_view body = strip_bom(f.content);
    f.pos = f.content.size() - body.size();
    // A text file is checked whole before any document is returned, so that a rejected file yields nothing.
    if (is_blank(body)) {
      reject(0, "file is empty");
      f.done = true;
    } else if (size_t nul = f.content.find('\0'); nul != std::string::npos) {
      reject(line_col(f.content, nul).first, "binary file (NUL byte): expected UTF-8 text");
      f.done = true;
    } else if (size_t bad = invalid_utf8_at(f.content); bad != std::string_view::npos) {
      auto [line, col] = line_col(f.content, bad);
      reject(line, "invalid UTF-8 (byte " + hex_byte(static_cast<unsigned char>(f.content[bad])) + " at column " +
                       std::to_string(col) + "): expected UTF-8 text");
      f.done = true;
    }
    if (f.done) f.content.clear();
    return;
  }
  f.fp.reset(std::fopen(path.c_str(), "rb"));
  if (!f.fp)
    fail_input(path + ": cannot open (" + std::strerror(errno) + ")", "check that the file exists and is readable");
  f.format = opts_.forced_format;
  // A NUL byte near the start means a binary file (not a damaged line): reject it whole.
  char probe[kBinaryProbeBytes];
  size_t n = std::fread(probe, 1, sizeof probe, f.fp.get());
  if (std::ferror(f.fp.get()) || std::fseek(f.fp.get(), 0, SEEK_SET) != 0)
    fail_runtime(path + ": read error (" + std::strerror(errno) + ")");
  if (const void* nul = std::memchr(probe, 0, n)) {
    size_t off = static_cast<size_t>(static_cast<const char*>(nul) - probe);
    reject(line_col(std::string_view(probe, n), off).first, "binary file (NUL byte): expected UTF-8 JSON lines");
    f.done = true;
  }
}

void RecordReader::finish_current() {
  OpenFile& f = *cur_;
  if (!f.is_text && !f.done && !f.saw_content) reject(0, "file is empty");
  cur_.reset();
  ++index_;
}

bool RecordReader::next_text(Record& out) {
  OpenFile& f = *cur_;
  while (auto raw = next_document(f.content, f.pos, opts_)) {
    std::string_view doc = trim_document(*raw);
    if (doc.empty()) continue;  // whitespace-only documents carry nothing to train on
    out = Record{};
    out.source = files_[index_];
    out.line = ++f.documents;
    out.format = Format::Text;
    out.text.assign(doc.data(), doc.size());
    return true;
  }
  return false;
}

bool RecordReader::next_jsonl(Record& out) {
  OpenFile& f = *cur_;
  for (;;) {
    errno = 0;
    ssize_t n = ::getline(&f.buf, &f.cap, f.fp.get());
    if (n < 0) {
      if (std::ferror(f.fp.get())) fail_runtime(files_[index_] + ": read error (" + std::strerror(errno) + ")");
      return false;
    }
    ++f.line_no;
    std::string_view line(f.buf, static_cast<size_t>(n));
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (f.line_no == 1) line = strip_bom(line);
    if (is_blank(line)) continue;
    f.saw_content = true;
    if (handle_jsonl_line(line, out)) return true;
  }
}

bool RecordReader::handle_jsonl_line(std::string_view line, Record& out) {
  OpenFile& f = *cur_;
  const int64_t ln = f.line_no;
  if (size_t nul = line.find('\0'); nul != std::string::npos) {
    reject(ln, "NUL byte at column " + std::to_string(nul + 1) + " (binary data in a text file?)");
    return false;
  }
  // Checked before parsing so that the message points at the byte, not at a JSON string escape.
  if (size_t bad = invalid_utf8_at(line); bad != std::string_view::npos) {
    reject(ln, "invalid UTF-8 (byte " + hex_byte(static_cast<unsigned char>(line[bad])) + " at column " +
                   std::to_string(bad + 1) + ")");
    return false;
  }
  json obj;
  try {
    obj = json::parse(line.begin(), line.end());
  } catch (const json::parse_error& e) {
    reject(ln, json_problem(e));
    return false;
  }
  if (!obj.is_object()) {
    reject(ln, std::string("expected a JSON object, got ") + obj.type_name());
    return false;
  }
  Format fmt;
  if (f.format) {
    fmt = *f.format;
    if (!has_required(fmt, obj)) {
      reject(ln, mismatch_problem(fmt, f.format_line, obj));
      return false;
    }
  } else if (auto shape = shape_of(obj)) {
    fmt = *shape;
  } else {
    reject(ln, unknown_shape_problem(obj));
    return false;
  }
  out = Record{};
  std::string problem = parse_as(fmt, obj, opts_.vocab_size, out);
  if (!problem.empty()) {
    reject(ln, problem);
    return false;
  }
  if (!f.format) {  // the first valid record decides the format of the whole file
    f.format = fmt;
    f.format_line = ln;
    stats_[index_].format = fmt;
  }
  out.source = files_[index_];
  out.line = ln;
  out.format = fmt;
  return true;
}

}  // namespace loratune::data
