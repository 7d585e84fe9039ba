#include "tokenizer/hf_pretokenizer.h"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "tokenizer/hf_normalizer.h"
#include "tokenizer/hf_unicode.h"

namespace loratune::hf {

namespace {

struct ByteTables {
  std::array<std::string, 256> to_char;
  std::array<int, 324> to_byte;  // code points 0..323 cover every mapped character
  ByteTables() {
    to_byte.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const uint32_t cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
      append_utf8(to_char[static_cast<size_t>(b)], cp);
      to_byte[cp] = b;
    }
  }
};
const ByteTables& tables() {
  static const ByteTables t;
  return t;
}

// GPT-2's pre-tokenizer pattern (tokenizers' ByteLevel with use_regex).
const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
// tokenizers' Whitespace: \w+|[^\w\s]+ in the Rust regex crate's Unicode classes.
const char* kRustWord = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}";

struct Seg {
  size_t a, b;
  bool match;
};

void regex_segs(const std::string& s, const Regex& re, bool invert, std::vector<Seg>& segs) {
  segs.clear();
  if (s.empty()) {
    segs.push_back({0, 0, invert});
    return;
  }
  thread_local std::vector<std::pair<size_t, size_t>> m;
  re.find_all(s, m);
  size_t prev = 0;
  for (const auto& [a, b] : m) {
    if (prev != a) segs.push_back({prev, a, invert});
    segs.push_back({a, b, !invert});
    prev = b;
  }
  if (prev != s.size()) segs.push_back({prev, s.size(), invert});
}

template <typename Pred>
void pred_segs(const std::string& s, Pred pred, std::vector<Seg>& segs) {
  segs.clear();
  if (s.empty()) {
    segs.push_back({0, 0, false});
    return;
  }
  size_t last = 0, i = 0;
  while (i < s.size()) {
    const size_t b = i;
    const uint32_t cp = next_char(s, i);
    if (pred(cp)) {
      if (last < b) segs.push_back({last, b, false});
      segs.push_back({b, i, true});
      last = i;
    }
  }
  if (s.size() > last) segs.push_back({last, s.size(), false});
}

// Applies `behavior` to segments covering `p.text` and appends the non-empty pieces.
void emit(const Piece& p, std::vector<Seg>& segs, SplitBehavior behavior, std::vector<Piece>& out) {
  thread_local std::vector<Seg> res;
  res.clear();
  bool prev_match = false;
  switch (behavior) {
    case SplitBehavior::Removed:
      for (const Seg& s : segs)
        if (!s.match) res.push_back(s);
      break;
    case SplitBehavior::Isolated:
      res = segs;
      break;
    case SplitBehavior::MergedWithPrevious:
      for (const Seg& s : segs) {
        if (s.match && !prev_match && !res.empty())
          res.back().b = s.b;
        else
          res.push_back(s);
        prev_match = s.match;
      }
      break;
    case SplitBehavior::MergedWithNext:
      for (size_t k = segs.size(); k-- > 0;) {
        const Seg& s = segs[k];
        if (s.match && !prev_match && !res.empty())
          res.back().a = s.a;
        else
          res.push_back(s);
        prev_match = s.match;
      }
      std::reverse(res.begin(), res.end());
      break;
    case SplitBehavior::Contiguous:
      for (const Seg& s : segs) {
        if (s.match == prev_match && !res.empty())
          res.back().b = s.b;
        else
          res.push_back(s);
        prev_match = s.match;
      }
      break;
  }
  for (const Seg& s : res)
    if (s.b > s.a) out.push_back(Piece{p.text.substr(s.a, s.b - s.a), p.at_start && s.a == 0});
}

SplitBehavior parse_behavior(const JsonAt& j) {
  const std::string b = j.str();
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  j.unsupported("split behavior '" + b + "'");
}

}  // namespace

const std::string& byte_to_char(unsigned char b) { return tables().to_char[b]; }
int char_to_byte(uint32_t cp) { return cp < 324 ? tables().to_byte[cp] : -1; }

PreTokenizer PreTokenizer::parse(const JsonAt& j) {
  PreTokenizer p;
  if (!j.is_null()) p.add(j);
  return p;
}

void PreTokenizer::add(const JsonAt& j) {
  const std::string type = j.type();
  Step st;
  st.kind = Kind::ByteLevel;
  if (type == "Sequence") {
    const JsonAt list = j["pretokenizers"];
    for (size_t i = 0; i < list.size(); ++i) add(list.at(i));
    return;
  } else if (type == "ByteLevel") {
    st.prefix_space = j.get_bool("add_prefix_space", true);
    st.use_regex = j.get_bool("use_regex", true);
    if (st.use_regex) st.re = Regex::onig(kGpt2Pattern);
    byte_level_ = true;
  } else if (type == "Split") {
    st.kind = Kind::Split;
    st.re = parse_pattern(j["pattern"]);
    st.behavior = parse_behavior(j["behavior"]);
    st.invert = j.get_bool("invert", false);
  } else if (type == "Digits") {
    st.kind = Kind::Digits;
    st.individual = j.get_bool("individual_digits", false);
  } else if (type == "Metaspace") {
    st.kind = Kind::Metaspace;
    st.replacement = j["replacement"].str();
    size_t i = 0;
    if (st.replacement.empty() ||
        (st.replacement_cp = next_char(st.replacement, i), i != st.replacement.size()))
      j["replacement"].fail("expected one character, got \"" + st.replacement + "\"");
    const std::string scheme = j.get_str("prepend_scheme", "always");
    if (scheme == "always")
      st.prepend = 0;
    else if (scheme == "first")
      st.prepend = 1;
    else if (scheme == "never")
      st.prepend = 2;
    else
      j["prepend_scheme"].unsupported("prepend_scheme '" + scheme + "'");
    if (j.has("add_prefix_space") && !j["add_prefix_space"].boolean()) {
      if (st.prepend != 2)
        j.fail("add_prefix_space does not match declared prepend_scheme");  // as tokenizers
      st.prepend = 2;
    }
    st.split = j.get_bool("split", true);
  } else if (type == "Punctuation") {
    st.kind = Kind::Punctuation;
    st.behavior = j.has("behavior") ? parse_behavior(j["behavior"]) : SplitBehavior::Isolated;
  } else if (type == "Whitespace") {
    st.kind = Kind::Whitespace;
    st.re = Regex::pcre(std::string("[") + kRustWord + "]+|[^" + kRustWord + "\\p{White_Space}]+");
  } else if (type == "WhitespaceSplit") {
    st.kind = Kind::WhitespaceSplit;
  } else {
    JsonAt(j["type"].raw(), j.file(), j.child_path("type")).unsupported("pre_tokenizer '" + type + "'");
  }
  steps_.push_back(std::move(st));
}

void PreTokenizer::apply(const Step& st, std::vector<Piece>& in, std::vector<Piece>& out) const {
  thread_local std::vector<Seg> segs;
  for (Piece& p : in) {
    switch (st.kind) {
      case Kind::ByteLevel: {
        if (st.prefix_space && !p.text.empty() && p.text[0] != ' ') p.text.insert(p.text.begin(), ' ');
        const size_t first = out.size();
        if (st.use_regex) {
          regex_segs(p.text, st.re, false, segs);
          emit(p, segs, SplitBehavior::Isolated, out);
        } else if (!p.text.empty()) {
          out.push_back(std::move(p));
        }
        const auto& t = tables().to_char;
        for (size_t k = first; k < out.size(); ++k) {
          std::string mapped;
          mapped.reserve(out[k].text.size() * 2);
          for (unsigned char c : out[k].text) mapped += t[c];
          out[k].text = std::move(mapped);
        }
        break;
      }
      case Kind::Split:
        regex_segs(p.text, st.re, st.invert, segs);
        emit(p, segs, st.behavior, out);
        break;
      case Kind::Digits:
        pred_segs(p.text, is_numeric, segs);
        emit(p, segs, st.individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous, out);
        break;
      case Kind::Metaspace: {
        std::string s;
        s.reserve(p.text.size() + 8);
        for (char c : p.text) {
          if (c == ' ')
            s += st.replacement;
          else
            s += c;
        }
        const bool starts = s.compare(0, st.replacement.size(), st.replacement) == 0;
        if (!s.empty() && !starts && (st.prepend == 0 || (st.prepend == 1 && p.at_start)))
          s = st.replacement + s;
        Piece q{std::move(s), p.at_start};
        if (st.split) {
          const uint32_t r = st.replacement_cp;
          pred_segs(
              q.text, [r](uint32_t cp) { return cp == r; }, segs);
          emit(q, segs, SplitBehavior::MergedWithNext, out);
        } else if (!q.text.empty()) {
          out.push_back(std::move(q));
        }
        break;
      }
      case Kind::Punctuation:
        pred_segs(p.text, is_punctuation, segs);
        emit(p, segs, st.behavior, out);
        break;
      case Kind::Whitespace:
        regex_segs(p.text, st.re, true, segs);
        emit(p, segs, SplitBehavior::Removed, out);
        break;
      case Kind::WhitespaceSplit:
        pred_segs(p.text, is_white_space, segs);
        emit(p, segs, SplitBehavior::Removed, out);
        break;
    }
  }
}

void PreTokenizer::run(Piece piece, std::vector<Piece>& out) const {
  if (steps_.empty()) {
    if (!piece.text.empty()) out.push_back(std::move(piece));
    return;
  }
  if (steps_.size() == 1) {
    thread_local std::vector<Piece> one;
    one.clear();
    one.push_back(std::move(piece));
    apply(steps_[0], one, out);
    return;
  }
  thread_local std::vector<Piece> a, b;
  a.clear();
  a.push_back(std::move(piece));
  for (const Step& st : steps_) {
    b.clear();
    apply(st, a, b);
    std::swap(a, b);
  }
  for (Piece& p : a) out.push_back(std::move(p));
}

}  // namespace loratune::hf
