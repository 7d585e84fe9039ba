#include "data/shaping.h"

#include <array>
#include <cmath>
#include <utility>

#include "core/error.h"
#include "core/sha256.h"

namespace loratune::data {

namespace {

void check_sample(const TokenizedSample& s) {
  LT_CHECK(s.ids.size() == s.trained.size(), "tokenized sample: ids and mask differ in length");
}

TokenizedSample slice(const TokenizedSample& s, size_t begin, size_t end) {
  TokenizedSample out;
  out.ids.assign(s.ids.begin() + static_cast<std::ptrdiff_t>(begin),
                 s.ids.begin() + static_cast<std::ptrdiff_t>(end));
  out.trained.assign(s.trained.begin() + static_cast<std::ptrdiff_t>(begin),
                     s.trained.begin() + static_cast<std::ptrdiff_t>(end));
  out.source = s.source;
  out.line = s.line;
  out.truncated = s.truncated;
  out.source_index = s.source_index;
  return out;
}

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

uint64_t be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

std::array<uint8_t, 32> content_digest(const std::string& content) {
  Sha256 h;
  h.update(normalise_content(content));
  return h.digest();
}

// Field encoding for record_content: fields are separated by kSep; kSep and kEsc inside a field are
// written as kEsc followed by '1' / '0' (neither whitespace nor an upper-case letter, so the escape is
// stable under normalise_content and the encoding stays injective).
constexpr char kSep = '\x1f';
constexpr char kEsc = '\x1c';

void append_field(std::string& out, const std::string& field) {
  out.push_back(kSep);
  for (char c : field) {
    if (c == kSep) {
      out.push_back(kEsc);
      out.push_back('1');
    } else if (c == kEsc) {
      out.push_back(kEsc);
      out.push_back('0');
    } else {
      out.push_back(c);
    }
  }
}

}  // namespace

std::vector<TokenizedSample> chunk(const TokenizedSample& s, int64_t seq_len, int64_t stride) {
  check_sample(s);
  if (seq_len < 1) fail_input("{opt:seq_len} must be at least 1 (got " + std::to_string(seq_len) + ")");
  if (stride < 0 || stride >= seq_len)
    fail_input("{opt:stride} must be at least 0 and less than {opt:seq_len} (got stride " + std::to_string(stride) +
                   ", seq-len " + std::to_string(seq_len) + ")",
               "pick a stride smaller than the sequence length, e.g. seq-len / 8");
  const size_t n = s.ids.size();
  const auto len = static_cast<size_t>(seq_len);
  if (n <= len) return {s};

  const auto step = static_cast<size_t>(seq_len - stride);
  const auto overlap = static_cast<size_t>(stride);
  std::vector<TokenizedSample> out;
  out.reserve((n - overlap + step - 1) / step);
  for (size_t begin = 0;; begin += step) {
    const size_t end = std::min(begin + len, n);
    TokenizedSample c = slice(s, begin, end);
    // The overlap was already trained (or deliberately not) in the previous chunk: here it only gives
    // the new tokens their context.
    if (begin > 0)
      for (size_t i = 0; i < overlap; ++i) c.trained[i] = 0;
    out.push_back(std::move(c));
    if (end == n) break;
  }
  return out;
}

bool truncate(TokenizedSample& s, int64_t seq_len, Side side) {
  check_sample(s);
  if (seq_len < 1) fail_input("{opt:seq_len} must be at least 1 (got " + std::to_string(seq_len) + ")");
  const auto len = static_cast<size_t>(seq_len);
  if (s.ids.size() <= len) return false;
  const auto cut = static_cast<std::ptrdiff_t>(s.ids.size() - len);
  if (side == Side::Left) {
    s.ids.erase(s.ids.begin(), s.ids.begin() + cut);
    s.trained.erase(s.trained.begin(), s.trained.begin() + cut);
  } else {
    s.ids.resize(len);
    s.trained.resize(len);
  }
  s.truncated = true;
  return true;
}

Packer::Packer(int64_t seq_len, bool pack, std::function<void(Row&&)> emit, size_t window)
    : seq_len_(seq_len), pack_(pack), emit_(std::move(emit)), window_(window) {
  if (seq_len_ < 1) fail_input("{opt:seq_len} must be at least 1 (got " + std::to_string(seq_len_) + ")");
  LT_CHECK(window_ >= 1, "Packer: the window must hold at least one row");
  LT_CHECK(static_cast<bool>(emit_), "Packer: no emit callback");
  open_.reserve(pack_ ? window_ : 0);
}

void Packer::emit_open(size_t index) {
  Row r = std::move(open_[index]);
  open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(index));
  emit_(std::move(r));
}

void Packer::add(TokenizedSample&& s) {
  LT_CHECK(!finished_, "Packer::add after finish");
  check_sample(s);
  if (s.ids.empty()) return;
  LT_CHECK(static_cast<int64_t>(s.ids.size()) <= seq_len_,
           "Packer: a sample of " + std::to_string(s.ids.size()) + " tokens exceeds seq_len " +
               std::to_string(seq_len_) + " (chunk or truncate first)");
  if (!pack_) {
    Row r;
    r.ids = std::move(s.ids);
    r.trained = std::move(s.trained);
    r.starts = {0};
    r.sources = {s.source_index};
    emit_(std::move(r));
    return;
  }
  const size_t need = s.ids.size();
  const auto cap = static_cast<size_t>(seq_len_);
  size_t target = open_.size();
  for (size_t i = 0; i < open_.size(); ++i) {
    if (cap - open_[i].ids.size() >= need) {
      target = i;
      break;
    }
  }
  if (target == open_.size()) {
    if (open_.size() == window_) {
      emit_open(0);  // the oldest open row has waited longest for a fitting sample
      target = open_.size();
    }
    open_.emplace_back();
  }
  Row& r = open_[target];
  r.starts.push_back(static_cast<uint32_t>(r.ids.size()));
  r.sources.push_back(s.source_index);
  r.ids.insert(r.ids.end(), s.ids.begin(), s.ids.end());
  r.trained.insert(r.trained.end(), s.trained.begin(), s.trained.end());
  if (r.ids.size() == cap) emit_open(target);
}

void Packer::finish() {
  if (finished_) return;
  finished_ = true;
  while (!open_.empty()) emit_open(0);
}

std::string normalise_content(const std::string& content) {
  std::string out;
  out.reserve(content.size());
  bool pending_space = false;
  for (char c : content) {
    if (is_ascii_space(c)) {
      // Whitespace at the start, or right after a record_content field separator, is dropped.
      pending_space = !out.empty() && out.back() != kSep;
      continue;
    }
    if (pending_space && c != kSep) out.push_back(' ');  // ... and so is whitespace before a separator
    pending_space = false;
    out.push_back(ascii_lower(c));
  }
  return out;  // a trailing whitespace run is never written
}

ContentKeys content_keys(const std::string& content) {
  const std::array<uint8_t, 32> d = content_digest(content);
  return ContentKeys{be64(d.data()), be64(d.data() + 8)};
}

uint64_t dedup_key(const std::string& content) { return content_keys(content).dedup; }

bool is_val_key(uint64_t split_key, double val_fraction) {
  if (!(val_fraction >= 0.0 && val_fraction <= 1.0))
    fail_input("{opt:val_fraction} must be between 0 and 1 (got " + std::to_string(val_fraction) + ")");
  constexpr uint64_t kBuckets = 1000000;
  const auto threshold = static_cast<uint64_t>(std::llround(val_fraction * static_cast<double>(kBuckets)));
  return split_key % kBuckets < threshold;
}

bool is_val(const std::string& content, double val_fraction) {
  return is_val_key(content_keys(content).split, val_fraction);
}

std::string record_content(const Record& r) {
  std::string out = format_name(r.format);
  switch (r.format) {
    case Format::Text:
      append_field(out, r.text);
      break;
    case Format::PromptCompletion:
      append_field(out, r.prompt);
      append_field(out, r.completion);
      break;
    case Format::Alpaca:
      append_field(out, r.instruction);
      append_field(out, r.input);
      append_field(out, r.output);
      break;
    case Format::Chat:
      for (const Message& m : r.messages) {
        append_field(out, m.role);
        append_field(out, m.content);
        if (!m.extra.empty()) append_field(out, m.extra);  // a JSON object: never a role, so unambiguous
      }
      break;
    case Format::Tokens: {
      std::string ids, mask;
      for (size_t i = 0; i < r.input_ids.size(); ++i) {
        if (i) ids.push_back(',');
        ids += std::to_string(r.input_ids[i]);
      }
      for (uint8_t t : r.trained) mask.push_back(t ? '1' : '0');
      append_field(out, ids);
      append_field(out, mask);
      break;
    }
  }
  return out;
}

}  // namespace loratune::data
