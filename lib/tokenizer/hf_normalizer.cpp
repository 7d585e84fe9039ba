#include "tokenizer/hf_normalizer.h"

#include <stdexcept>

namespace loratune::hf {

Regex parse_pattern(const JsonAt& j) {
  if (!j.raw().is_object() || j.raw().size() != 1)
    j.fail("expected {\"String\": ...} or {\"Regex\": ...}, got " + j.raw().dump());
  try {
    if (j.has("String")) return Regex::literal(j["String"].str());
    if (j.has("Regex")) return Regex::onig(j["Regex"].str());
  } catch (const std::invalid_argument& e) {
    j.fail(e.what(), "fix the pattern; loratune runs tokenizer.json regexes on PCRE2");
  }
  j.unsupported("pattern kind " + j.raw().begin().key());
}

std::string replace_all(const std::string& s, const Regex& re, const std::string& content) {
  std::vector<std::pair<size_t, size_t>> m;
  re.find_all(s, m);
  if (m.empty()) return s;
  std::string out;
  out.reserve(s.size() + m.size() * content.size());
  size_t prev = 0;
  for (const auto& [a, b] : m) {
    out.append(s, prev, a - prev);
    out += content;
    prev = b;
  }
  out.append(s, prev, std::string::npos);
  return out;
}

std::string strip_white_space(const std::string& s, bool left, bool right) {
  size_t a = 0, b = s.size();
  if (left) {
    while (a < b) {
      size_t i = a;
      if (!is_white_space(next_char(s, i))) break;
      a = i;
    }
  }
  if (right) {
    while (b > a) {
      size_t start = b - 1;
      while (start > a && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
      size_t i = start;
      if (!is_white_space(next_char(s, i))) break;
      b = start;
    }
  }
  return s.substr(a, b - a);
}

Normalizer Normalizer::parse(const JsonAt& j) {
  Normalizer n;
  if (!j.is_null()) n.add(j);
  return n;
}

void Normalizer::add(const JsonAt& j) {
  const std::string type = j.type();
  Step st;
  st.kind = Kind::Form;
  if (type == "Sequence") {
    const JsonAt list = j["normalizers"];
    for (size_t i = 0; i < list.size(); ++i) add(list.at(i));
    return;
  } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    st.form = type == "NFC"    ? NormForm::NFC
              : type == "NFD"  ? NormForm::NFD
              : type == "NFKC" ? NormForm::NFKC
                               : NormForm::NFKD;
  } else if (type == "Lowercase") {
    st.kind = Kind::Lowercase;
  } else if (type == "Prepend") {
    st.kind = Kind::Prepend;
    st.text = j["prepend"].str();
  } else if (type == "Replace") {
    st.kind = Kind::Replace;
    st.pattern = parse_pattern(j["pattern"]);
    st.text = j["content"].str();
  } else if (type == "Strip") {
    st.kind = Kind::Strip;
    st.left = j.get_bool("strip_left", true);
    st.right = j.get_bool("strip_right", true);
  } else {
    JsonAt(j["type"].raw(), j.file(), j.child_path("type")).unsupported("normalizer '" + type + "'");
  }
  steps_.push_back(std::move(st));
}

std::string Normalizer::apply(const std::string& in, bool* start_kept) const {
  std::string s = in;
  for (const Step& st : steps_) {
    switch (st.kind) {
      case Kind::Form:
        s = normalize_form(s, st.form);
        break;
      case Kind::Lowercase:
        s = to_lowercase(s);
        break;
      case Kind::Prepend:
        if (!s.empty()) s = st.text + s;
        break;
      case Kind::Replace:
        if (start_kept && st.text.empty()) {
          size_t a, b;
          if (st.pattern.search(s, 0, a, b) && a == 0 && b > 0) *start_kept = false;
        }
        s = replace_all(s, st.pattern, st.text);
        break;
      case Kind::Strip: {
        std::string t = strip_white_space(s, st.left, st.right);
        if (start_kept && st.left && !t.empty() && s.compare(0, t.size(), t) != 0) *start_kept = false;
        s = std::move(t);
        break;
      }
    }
  }
  return s;
}

}  // namespace loratune::hf
