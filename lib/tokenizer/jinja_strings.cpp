// The str methods chat templates call, with Python's semantics on UTF-8 text (indices count code points,
// whitespace is Unicode whitespace, case mapping as Python's full mappings: utf8proc plus SpecialCasing).
#include <algorithm>
#include <cmath>
#include <cctype>
#include <cstdio>
#include <iterator>
#include <set>

#include "tokenizer/jinja_builtins.h"

namespace loratune::jinja {

namespace {

// The characters whose full case mapping (Unicode SpecialCasing.txt, unconditional part) has more than one
// character, as Python's str.upper/lower/title apply them (generated from Python's unicodedata 15):
// {code point, upper, lower, title}; nullptr = the simple mapping (utf8proc) applies.
struct SpecialCase {
  char32_t c;
  const char32_t* upper;
  const char32_t* lower;
  const char32_t* title;
};
const SpecialCase kSpecialCases[] = {
    {0x00DF, U"\U00000053\U00000053", nullptr, U"\U00000053\U00000073"},
    {0x0130, nullptr, U"\U00000069\U00000307", nullptr},
    {0x0149, U"\U000002bc\U0000004e", nullptr, U"\U000002bc\U0000004e"},
    {0x01F0, U"\U0000004a\U0000030c", nullptr, U"\U0000004a\U0000030c"},
    {0x0390, U"\U00000399\U00000308\U00000301", nullptr, U"\U00000399\U00000308\U00000301"},
    {0x03B0, U"\U000003a5\U00000308\U00000301", nullptr, U"\U000003a5\U00000308\U00000301"},
    {0x0587, U"\U00000535\U00000552", nullptr, U"\U00000535\U00000582"},
    {0x1E96, U"\U00000048\U00000331", nullptr, U"\U00000048\U00000331"},
    {0x1E97, U"\U00000054\U00000308", nullptr, U"\U00000054\U00000308"},
    {0x1E98, U"\U00000057\U0000030a", nullptr, U"\U00000057\U0000030a"},
    {0x1E99, U"\U00000059\U0000030a", nullptr, U"\U00000059\U0000030a"},
    {0x1E9A, U"\U00000041\U000002be", nullptr, U"\U00000041\U000002be"},
    {0x1F50, U"\U000003a5\U00000313", nullptr, U"\U000003a5\U00000313"},
    {0x1F52, U"\U000003a5\U00000313\U00000300", nullptr, U"\U000003a5\U00000313\U00000300"},
    {0x1F54, U"\U000003a5\U00000313\U00000301", nullptr, U"\U000003a5\U00000313\U00000301"},
    {0x1F56, U"\U000003a5\U00000313\U00000342", nullptr, U"\U000003a5\U00000313\U00000342"},
    {0x1F80, U"\U00001f08\U00000399", nullptr, nullptr},
    {0x1F81, U"\U00001f09\U00000399", nullptr, nullptr},
    {0x1F82, U"\U00001f0a\U00000399", nullptr, nullptr},
    {0x1F83, U"\U00001f0b\U00000399", nullptr, nullptr},
    {0x1F84, U"\U00001f0c\U00000399", nullptr, nullptr},
    {0x1F85, U"\U00001f0d\U00000399", nullptr, nullptr},
    {0x1F86, U"\U00001f0e\U00000399", nullptr, nullptr},
    {0x1F87, U"\U00001f0f\U00000399", nullptr, nullptr},
    {0x1F88, U"\U00001f08\U00000399", nullptr, nullptr},
    {0x1F89, U"\U00001f09\U00000399", nullptr, nullptr},
    {0x1F8A, U"\U00001f0a\U00000399", nullptr, nullptr},
    {0x1F8B, U"\U00001f0b\U00000399", nullptr, nullptr},
    {0x1F8C, U"\U00001f0c\U00000399", nullptr, nullptr},
    {0x1F8D, U"\U00001f0d\U00000399", nullptr, nullptr},
    {0x1F8E, U"\U00001f0e\U00000399", nullptr, nullptr},
    {0x1F8F, U"\U00001f0f\U00000399", nullptr, nullptr},
    {0x1F90, U"\U00001f28\U00000399", nullptr, nullptr},
    {0x1F91, U"\U00001f29\U00000399", nullptr, nullptr},
    {0x1F92, U"\U00001f2a\U00000399", nullptr, nullptr},
    {0x1F93, U"\U00001f2b\U00000399", nullptr, nullptr},
    {0x1F94, U"\U00001f2c\U00000399", nullptr, nullptr},
    {0x1F95, U"\U00001f2d\U00000399", nullptr, nullptr},
    {0x1F96, U"\U00001f2e\U00000399", nullptr, nullptr},
    {0x1F97, U"\U00001f2f\U00000399", nullptr, nullptr},
    {0x1F98, U"\U00001f28\U00000399", nullptr, nullptr},
    {0x1F99, U"\U00001f29\U00000399", nullptr, nullptr},
    {0x1F9A, U"\U00001f2a\U00000399", nullptr, nullptr},
    {0x1F9B, U"\U00001f2b\U00000399", nullptr, nullptr},
    {0x1F9C, U"\U00001f2c\U00000399", nullptr, nullptr},
    {0x1F9D, U"\U00001f2d\U00000399", nullptr, nullptr},
    {0x1F9E, U"\U00001f2e\U00000399", nullptr, nullptr},
    {0x1F9F, U"\U00001f2f\U00000399", nullptr, nullptr},
    {0x1FA0, U"\U00001f68\U00000399", nullptr, nullptr},
    {0x1FA1, U"\U00001f69\U00000399", nullptr, nullptr},
    {0x1FA2, U"\U00001f6a\U00000399", nullptr, nullptr},
    {0x1FA3, U"\U00001f6b\U00000399", nullptr, nullptr},
    {0x1FA4, U"\U00001f6c\U00000399", nullptr, nullptr},
    {0x1FA5, U"\U00001f6d\U00000399", nullptr, nullptr},
    {0x1FA6, U"\U00001f6e\U00000399", nullptr, nullptr},
    {0x1FA7, U"\U00001f6f\U00000399", nullptr, nullptr},
    {0x1FA8, U"\U00001f68\U00000399", nullptr, nullptr},
    {0x1FA9, U"\U00001f69\U00000399", nullptr, nullptr},
    {0x1FAA, U"\U00001f6a\U00000399", nullptr, nullptr},
    {0x1FAB, U"\U00001f6b\U00000399", nullptr, nullptr},
    {0x1FAC, U"\U00001f6c\U00000399", nullptr, nullptr},
    {0x1FAD, U"\U00001f6d\U00000399", nullptr, nullptr},
    {0x1FAE, U"\U00001f6e\U00000399", nullptr, nullptr},
    {0x1FAF, U"\U00001f6f\U00000399", nullptr, nullptr},
    {0x1FB2, U"\U00001fba\U00000399", nullptr, U"\U00001fba\U00000345"},
    {0x1FB3, U"\U00000391\U00000399", nullptr, nullptr},
    {0x1FB4, U"\U00000386\U00000399", nullptr, U"\U00000386\U00000345"},
    {0x1FB6, U"\U00000391\U00000342", nullptr, U"\U00000391\U00000342"},
    {0x1FB7, U"\U00000391\U00000342\U00000399", nullptr, U"\U00000391\U00000342\U00000345"},
    {0x1FBC, U"\U00000391\U00000399", nullptr, nullptr},
    {0x1FC2, U"\U00001fca\U00000399", nullptr, U"\U00001fca\U00000345"},
    {0x1FC3, U"\U00000397\U00000399", nullptr, nullptr},
    {0x1FC4, U"\U00000389\U00000399", nullptr, U"\U00000389\U00000345"},
    {0x1FC6, U"\U00000397\U00000342", nullptr, U"\U00000397\U00000342"},
    {0x1FC7, U"\U00000397\U00000342\U00000399", nullptr, U"\U00000397\U00000342\U00000345"},
    {0x1FCC, U"\U00000397\U00000399", nullptr, nullptr},
    {0x1FD2, U"\U00000399\U00000308\U00000300", nullptr, U"\U00000399\U00000308\U00000300"},
    {0x1FD3, U"\U00000399\U00000308\U00000301", nullptr, U"\U00000399\U00000308\U00000301"},
    {0x1FD6, U"\U00000399\U00000342", nullptr, U"\U00000399\U00000342"},
    {0x1FD7, U"\U00000399\U00000308\U00000342", nullptr, U"\U00000399\U00000308\U00000342"},
    {0x1FE2, U"\U000003a5\U00000308\U00000300", nullptr, U"\U000003a5\U00000308\U00000300"},
    {0x1FE3, U"\U000003a5\U00000308\U00000301", nullptr, U"\U000003a5\U00000308\U00000301"},
    {0x1FE4, U"\U000003a1\U00000313", nullptr, U"\U000003a1\U00000313"},
    {0x1FE6, U"\U000003a5\U00000342", nullptr, U"\U000003a5\U00000342"},
    {0x1FE7, U"\U000003a5\U00000308\U00000342", nullptr, U"\U000003a5\U00000308\U00000342"},
    {0x1FF2, U"\U00001ffa\U00000399", nullptr, U"\U00001ffa\U00000345"},
    {0x1FF3, U"\U000003a9\U00000399", nullptr, nullptr},
    {0x1FF4, U"\U0000038f\U00000399", nullptr, U"\U0000038f\U00000345"},
    {0x1FF6, U"\U000003a9\U00000342", nullptr, U"\U000003a9\U00000342"},
    {0x1FF7, U"\U000003a9\U00000342\U00000399", nullptr, U"\U000003a9\U00000342\U00000345"},
    {0x1FFC, U"\U000003a9\U00000399", nullptr, nullptr},
    {0xFB00, U"\U00000046\U00000046", nullptr, U"\U00000046\U00000066"},
    {0xFB01, U"\U00000046\U00000049", nullptr, U"\U00000046\U00000069"},
    {0xFB02, U"\U00000046\U0000004c", nullptr, U"\U00000046\U0000006c"},
    {0xFB03, U"\U00000046\U00000046\U00000049", nullptr, U"\U00000046\U00000066\U00000069"},
    {0xFB04, U"\U00000046\U00000046\U0000004c", nullptr, U"\U00000046\U00000066\U0000006c"},
    {0xFB05, U"\U00000053\U00000054", nullptr, U"\U00000053\U00000074"},
    {0xFB06, U"\U00000053\U00000054", nullptr, U"\U00000053\U00000074"},
    {0xFB13, U"\U00000544\U00000546", nullptr, U"\U00000544\U00000576"},
    {0xFB14, U"\U00000544\U00000535", nullptr, U"\U00000544\U00000565"},
    {0xFB15, U"\U00000544\U0000053b", nullptr, U"\U00000544\U0000056b"},
    {0xFB16, U"\U0000054e\U00000546", nullptr, U"\U0000054e\U00000576"},
    {0xFB17, U"\U00000544\U0000053d", nullptr, U"\U00000544\U0000056d"},
};

const SpecialCase* special_case(char32_t c) {
  const auto* end = std::end(kSpecialCases);
  const auto* it = std::lower_bound(std::begin(kSpecialCases), end, c,
                                    [](const SpecialCase& sc, char32_t x) { return sc.c < x; });
  return it != end && it->c == c ? it : nullptr;
}

enum class Case { Upper, Lower, Title };

void append_case(std::u32string& out, char32_t c, Case how) {
  if (const SpecialCase* sc = special_case(c)) {
    const char32_t* m = how == Case::Upper ? sc->upper : how == Case::Lower ? sc->lower : sc->title;
    if (m) {
      out += m;
      return;
    }
  }
  out.push_back(how == Case::Upper ? py_upper(c) : how == Case::Lower ? py_lower(c) : py_title(c));
}

bool in_chars(char32_t c, const std::u32string* chars) {
  return chars ? chars->find(c) != std::u32string::npos : is_py_space(c);
}

std::string strip(const std::string& s, const Value* chars_v, bool left, bool right) {
  std::u32string chars;
  const std::u32string* cs = nullptr;
  if (chars_v && !chars_v->is_none()) {
    chars = utf8_decode(need_str(*chars_v, "strip argument"));
    cs = &chars;
  }
  const std::u32string u = utf8_decode(s);
  size_t b = 0, e = u.size();
  if (left)
    while (b < e && in_chars(u[b], cs)) ++b;
  if (right)
    while (e > b && in_chars(u[e - 1], cs)) --e;
  return utf8_encode(u.substr(b, e - b));
}

Value split(const std::string& s, const Value* sep_v, int64_t maxsplit, bool from_right) {
  List parts;
  if (!sep_v || sep_v->is_none()) {
    // Runs of whitespace separate; no empty strings.
    const std::u32string u = utf8_decode(s);
    if (!from_right) {
      size_t k = 0;
      while (true) {
        while (k < u.size() && is_py_space(u[k])) ++k;
        if (k >= u.size()) break;
        if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
          size_t e = u.size();
          while (e > k && is_py_space(u[e - 1])) --e;
          parts.push_back(Value::string(utf8_encode(u.substr(k, e - k))));
          break;
        }
        size_t e = k;
        while (e < u.size() && !is_py_space(u[e])) ++e;
        parts.push_back(Value::string(utf8_encode(u.substr(k, e - k))));
        k = e;
      }
    } else {
      int64_t k = static_cast<int64_t>(u.size());
      while (true) {
        while (k > 0 && is_py_space(u[k - 1])) --k;
        if (k <= 0) break;
        if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
          size_t b = 0;
          while (b < static_cast<size_t>(k) && is_py_space(u[b])) ++b;
          parts.push_back(Value::string(utf8_encode(u.substr(b, k - b))));
          break;
        }
        int64_t b = k;
        while (b > 0 && !is_py_space(u[b - 1])) --b;
        parts.push_back(Value::string(utf8_encode(u.substr(b, k - b))));
        k = b;
      }
      std::reverse(parts.begin(), parts.end());
    }
    return Value::make_list(std::move(parts));
  }
  const std::string& sep = need_str(*sep_v, "separator");
  if (sep.empty()) throw EvalError("empty separator");
  if (!from_right) {
    size_t k = 0;
    while (true) {
      const size_t f = s.find(sep, k);
      if (f == std::string::npos || (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit)) {
        parts.push_back(Value::string(s.substr(k)));
        break;
      }
      parts.push_back(Value::string(s.substr(k, f - k)));
      k = f + sep.size();
    }
  } else {
    size_t end = s.size();
    while (true) {
      const size_t f = end >= sep.size() ? s.rfind(sep, end - sep.size()) : std::string::npos;
      if (f == std::string::npos || (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit)) {
        parts.push_back(Value::string(s.substr(0, end)));
        break;
      }
      parts.push_back(Value::string(s.substr(f + sep.size(), end - f - sep.size())));
      end = f;
    }
    std::reverse(parts.begin(), parts.end());
  }
  return Value::make_list(std::move(parts));
}

std::string replace(const std::string& s, const std::string& old, const std::string& rep, int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts the replacement before every character and at the end.
    const std::u32string u = utf8_decode(s);
    int64_t n = 0;
    for (char32_t c : u) {
      if (count < 0 || n < count) {
        out += rep;
        ++n;
      }
      utf8_append(out, c);
    }
    if (count < 0 || n < count) out += rep;
    return out;
  }
  size_t k = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    const size_t f = s.find(old, k);
    if (f == std::string::npos) break;
    out += s.substr(k, f - k) + rep;
    k = f + old.size();
    ++n;
  }
  return out + s.substr(k);
}

// Code-point index of a byte offset.
int64_t cp_index(const std::string& s, size_t byte) {
  return static_cast<int64_t>(utf8_length(s.substr(0, byte)));
}

Value str_method_impl(const Value& self, const std::string& name, CallArgs& a) {
  const std::string& s = self.s;
  static const Value kNone = Value::none();
  if (name == "startswith" || name == "endswith") {
    const Value* p = a.get(0, "prefix");
    if (!p) throw EvalError(name + "() takes at least 1 argument");
    no_extra(a, name);
    std::vector<std::string> cands;
    if (p->is_sequence() && p->kind == Kind::Tuple)
      for (const auto& x : *p->list) cands.push_back(need_str(x, name + " argument"));
    else
      cands.push_back(need_str(*p, name + " first arg"));
    for (const auto& c : cands) {
      if (name == "startswith" ? s.compare(0, c.size(), c) == 0
                               : s.size() >= c.size() && s.compare(s.size() - c.size(), c.size(), c) == 0)
        return Value::boolean(true);
    }
    return Value::boolean(false);
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Value* c = a.get(0, "chars");
    no_extra(a, name);
    return Value::string(strip(s, c, name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    const Value* sep = a.get(0, "sep");
    const Value& ms = arg_or(a, 1, "maxsplit", Value::integer(-1));
    no_extra(a, name);
    return split(s, sep, need_int(ms, "maxsplit"), name == "rsplit");
  }
  if (name == "splitlines") {
    no_extra(a, name);
    List parts;
    const std::u32string u = utf8_decode(s);
    size_t b = 0;
    for (size_t k = 0; k < u.size(); ++k) {
      const char32_t c = u[k];
      if (c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) || c == 0x85 ||
          c == 0x2028 || c == 0x2029) {
        parts.push_back(Value::string(utf8_encode(u.substr(b, k - b))));
        if (c == '\r' && k + 1 < u.size() && u[k + 1] == '\n') ++k;
        b = k + 1;
      }
    }
    if (b < u.size()) parts.push_back(Value::string(utf8_encode(u.substr(b))));
    return Value::make_list(std::move(parts));
  }
  if (name == "replace") {
    const Value* o = a.get(0, "old");
    const Value* n = a.get(1, "new");
    const Value& c = arg_or(a, 2, "count", Value::integer(-1));
    no_extra(a, name);
    if (!o || !n) throw EvalError("replace() takes at least 2 arguments");
    return Value::string(
        replace(s, need_str(*o, "replace old"), need_str(*n, "replace new"), need_int(c, "count")));
  }
  if (name == "lower" || name == "upper" || name == "title" || name == "capitalize" || name == "swapcase") {
    no_extra(a, name);
    return Value::string(case_map(s, name));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    const Value* sub = a.get(0, "sub");
    no_extra(a, name);
    if (!sub) throw EvalError(name + "() takes at least 1 argument");
    const std::string& t = need_str(*sub, name + " argument");
    if (name == "count") {
      if (t.empty()) return Value::integer(static_cast<int64_t>(utf8_length(s)) + 1);
      int64_t n = 0;
      for (size_t k = s.find(t); k != std::string::npos; k = s.find(t, k + t.size())) ++n;
      return Value::integer(n);
    }
    const size_t f = name[0] == 'r' ? s.rfind(t) : s.find(t);
    if (f == std::string::npos) {
      if (name == "index" || name == "rindex") throw EvalError("substring not found");
      return Value::integer(-1);
    }
    return Value::integer(cp_index(s, f));
  }
  if (name == "join") {
    const Value* it = a.get(0, "iterable");
    no_extra(a, name);
    if (!it) throw EvalError("join() takes exactly one argument");
    std::string out;
    size_t k = 0;
    for (const auto& x : iterate(*it)) {
      if (x.kind != Kind::String)
        throw EvalError("sequence item " + std::to_string(k) + ": expected str instance, " + type_name(x) +
                        " found");
      out += (k++ ? s : "") + x.s;
    }
    return Value::string(out);
  }
  if (name == "removeprefix" || name == "removesuffix") {
    const Value* p = a.get(0, "prefix");
    no_extra(a, name);
    if (!p) throw EvalError(name + "() takes exactly one argument");
    const std::string& t = need_str(*p, name + " argument");
    if (name == "removeprefix") return Value::string(s.compare(0, t.size(), t) == 0 ? s.substr(t.size()) : s);
    const bool ends = s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
    return Value::string(ends ? s.substr(0, s.size() - t.size()) : s);
  }
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" || name == "isupper" ||
      name == "islower") {
    no_extra(a, name);
    const std::u32string u = utf8_decode(s);
    if (u.empty()) return Value::boolean(false);
    if (name == "isupper" || name == "islower") {
      bool any = false;
      for (char32_t c : u) {
        if (py_is_lower(c)) {
          if (name == "isupper") return Value::boolean(false);
          any = true;
        } else if (py_is_upper(c)) {
          if (name == "islower") return Value::boolean(false);
          any = true;
        }
      }
      return Value::boolean(any);
    }
    for (char32_t c : u) {
      const bool digit = c >= '0' && c <= '9';
      const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      const bool ok = name == "isdigit"   ? digit
                      : name == "isalpha" ? alpha
                      : name == "isalnum" ? digit || alpha
                                          : is_py_space(c);
      if (!ok) return Value::boolean(false);
    }
    return Value::boolean(true);
  }
  if (name == "format") return str_format(s, a);
  throw EvalError("str." + name + " is not supported");
}

const std::set<std::string>& str_method_names() {
  static const std::set<std::string> m = {
      "startswith", "endswith", "strip",   "lstrip",  "rstrip",       "split",        "rsplit",  "splitlines",
      "replace",    "lower",    "upper",   "title",   "capitalize",   "swapcase",     "find",    "rfind",
      "index",      "rindex",   "count",   "join",    "removeprefix", "removesuffix", "isdigit", "isalpha",
      "isalnum",    "isspace",  "isupper", "islower", "format"};
  return m;
}

}  // namespace

std::string case_map(const std::string& s, const std::string& method) {
  const std::u32string u = utf8_decode(s);
  std::u32string out;
  out.reserve(u.size());
  auto lower = [&](size_t k) {
    // Final sigma: a capital sigma after a cased letter and not before one lowers to U+03C2.
    if (u[k] == 0x03A3 && k > 0 && py_cased(u[k - 1]) && (k + 1 >= u.size() || !py_cased(u[k + 1])))
      out.push_back(0x03C2);
    else
      append_case(out, u[k], Case::Lower);
  };
  bool prev_cased = false;
  for (size_t k = 0; k < u.size(); ++k) {
    const char32_t c = u[k];
    if (method == "lower" || (method == "capitalize" && k > 0) || (method == "swapcase" && py_is_upper(c))) {
      lower(k);
    } else if (method == "swapcase" && !py_is_lower(c)) {
      out.push_back(c);  // neither upper nor lower case (digits, titlecase letters) stays
    } else if (method == "upper" || method == "swapcase") {
      append_case(out, c, Case::Upper);
    } else if (method == "capitalize") {
      append_case(out, c, Case::Title);
    } else {  // title
      if (prev_cased)
        lower(k);
      else
        append_case(out, c, Case::Title);
      prev_cased = py_cased(c);
    }
  }
  return utf8_encode(out);
}

bool is_str_method(const std::string& name) { return str_method_names().count(name) > 0; }

Value str_method(const Value& self, const std::string& name, CallArgs& args) {
  return str_method_impl(self, name, args);
}

}  // namespace loratune::jinja
