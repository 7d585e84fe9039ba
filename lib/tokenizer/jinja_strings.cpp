// The str methods chat templates call, with Python's semantics on UTF-8 text (indices count code points,
// whitespace is Unicode whitespace, case mapping per code point through utf8proc), and printf-style formatting.
#include <algorithm>
#include <cmath>
#include <cctype>
#include <cstdio>
#include <set>

#include "tokenizer/jinja_builtins.h"

namespace loratune::jinja {

namespace {

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
int64_t cp_index(const std::string& s, size_t byte) { return static_cast<int64_t>(utf8_length(s.substr(0, byte))); }

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
    return Value::string(replace(s, need_str(*o, "replace old"), need_str(*n, "replace new"), need_int(c, "count")));
  }
  if (name == "lower" || name == "upper" || name == "title" || name == "capitalize" || name == "swapcase") {
    no_extra(a, name);
    std::u32string u = utf8_decode(s);
    bool prev_cased = false;
    for (size_t k = 0; k < u.size(); ++k) {
      char32_t& c = u[k];
      if (name == "lower") c = py_lower(c);
      else if (name == "upper") c = py_upper(c);
      else if (name == "capitalize") c = k == 0 ? py_title(c) : py_lower(c);
      else if (name == "swapcase") c = py_is_upper(c) ? py_lower(c) : py_upper(c);
      else {
        const bool cs = py_cased(c);
        c = prev_cased ? py_lower(c) : py_title(c);
        prev_cased = cs;
      }
    }
    return Value::string(utf8_encode(u));
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
        throw EvalError("sequence item " + std::to_string(k) + ": expected str instance, " + type_name(x) + " found");
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
      const bool ok = name == "isdigit" ? digit : name == "isalpha" ? alpha : name == "isalnum" ? digit || alpha
                                                                                               : is_py_space(c);
      if (!ok) return Value::boolean(false);
    }
    return Value::boolean(true);
  }
  throw EvalError("str." + name + " is not supported");
}

const std::set<std::string>& str_method_names() {
  static const std::set<std::string> m = {
      "startswith", "endswith", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "replace", "lower",
      "upper", "title", "capitalize", "swapcase", "find", "rfind", "index", "rindex", "count", "join",
      "removeprefix", "removesuffix", "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "format"};
  return m;
}


}  // namespace

Value percent_format(const std::string& fmt, const Value& args) {
  List positional;
  const Value* mapping = nullptr;
  if (args.kind == Kind::Tuple) positional = *args.list;
  else if (args.kind == Kind::Dict) mapping = &args;
  else positional.push_back(args);
  size_t next = 0;
  auto take = [&]() -> const Value& {
    if (next >= positional.size()) throw EvalError("not enough arguments for format string");
    return positional[next++];
  };
  std::string out;
  size_t k = 0;
  while (k < fmt.size()) {
    if (fmt[k] != '%') {
      out.push_back(fmt[k++]);
      continue;
    }
    ++k;
    if (k >= fmt.size()) throw EvalError("incomplete format");
    const Value* named = nullptr;
    if (fmt[k] == '(') {
      const size_t close = fmt.find(')', k);
      if (close == std::string::npos) throw EvalError("incomplete format key");
      if (!mapping) throw EvalError("format requires a mapping");
      const std::string key = fmt.substr(k + 1, close - k - 1);
      named = mapping->find(key);
      if (!named) throw EvalError("KeyError: '" + key + "'");
      k = close + 1;
    }
    std::string flags;
    while (k < fmt.size() && std::string("-+ #0").find(fmt[k]) != std::string::npos) flags.push_back(fmt[k++]);
    auto number = [&](int64_t dflt) -> int64_t {
      if (k < fmt.size() && fmt[k] == '*') {
        ++k;
        return need_int(take(), "* width");
      }
      if (k >= fmt.size() || !std::isdigit(static_cast<unsigned char>(fmt[k]))) return dflt;
      int64_t n = 0;
      while (k < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[k]))) n = n * 10 + (fmt[k++] - '0');
      return n;
    };
    const int64_t width = number(-1);
    int64_t prec = -1;
    if (k < fmt.size() && fmt[k] == '.') {
      ++k;
      prec = number(0);
    }
    while (k < fmt.size() && (fmt[k] == 'l' || fmt[k] == 'h' || fmt[k] == 'L')) ++k;
    if (k >= fmt.size()) throw EvalError("incomplete format");
    const char conv = fmt[k++];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    const Value& v = named ? *named : take();
    std::string piece;
    const std::string cflags = flags;
    char spec[64];
    auto cfmt = [&](const char* len, char c) {
      std::snprintf(spec, sizeof spec, "%%%s%s%s%s%c", cflags.c_str(),
                    width >= 0 ? std::to_string(width).c_str() : "",
                    prec >= 0 ? ("." + std::to_string(prec)).c_str() : "", len, c);
      return spec;
    };
    char buf[512];
    switch (conv) {
      case 's':
      case 'r':
      case 'a': {
        std::u32string u = utf8_decode(conv == 's' ? to_str(v) : to_repr(v));
        if (prec >= 0 && static_cast<int64_t>(u.size()) > prec) u.resize(prec);
        piece = utf8_encode(u);
        const int64_t pad = width - static_cast<int64_t>(u.size());
        if (pad > 0) piece = flags.find('-') != std::string::npos ? piece + std::string(pad, ' ') : std::string(pad, ' ') + piece;
        break;
      }
      case 'd':
      case 'i':
      case 'u': {
        if (!v.is_number()) throw EvalError(std::string("%") + conv + " format: a real number is required, not " + type_name(v));
        const long long x = v.kind == Kind::Float ? static_cast<long long>(v.f) : (v.kind == Kind::Bool ? v.b : v.i);
        std::snprintf(buf, sizeof buf, cfmt("ll", 'd'), x);
        piece = buf;
        break;
      }
      case 'x':
      case 'X':
      case 'o': {
        if (v.kind != Kind::Int && v.kind != Kind::Bool)
          throw EvalError(std::string("%") + conv + " format: an integer is required, not " + type_name(v));
        const long long x = v.kind == Kind::Bool ? v.b : v.i;
        std::string f = cflags;
        const bool alt = f.find('#') != std::string::npos;
        f.erase(std::remove(f.begin(), f.end(), '#'), f.end());
        const unsigned long long mag = x < 0 ? 0ULL - static_cast<unsigned long long>(x) : static_cast<unsigned long long>(x);
        std::snprintf(buf, sizeof buf, conv == 'o' ? "%llo" : conv == 'x' ? "%llx" : "%llX", mag);
        std::string digits = buf;
        if (prec >= 0 && static_cast<int64_t>(digits.size()) < prec) digits.insert(0, prec - digits.size(), '0');
        std::string sign = x < 0 ? "-" : f.find('+') != std::string::npos ? "+" : f.find(' ') != std::string::npos ? " " : "";
        if (alt) sign += conv == 'o' ? "0o" : conv == 'x' ? "0x" : "0X";
        const int64_t pad = width - static_cast<int64_t>(sign.size() + digits.size());
        if (pad > 0 && f.find('-') != std::string::npos) piece = sign + digits + std::string(pad, ' ');
        else if (pad > 0 && f.find('0') != std::string::npos) piece = sign + std::string(pad, '0') + digits;
        else piece = (pad > 0 ? std::string(pad, ' ') : "") + sign + digits;
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        if (!v.is_number()) throw EvalError("must be real number, not " + type_name(v));
        std::snprintf(buf, sizeof buf, cfmt("", conv), v.as_double());
        piece = buf;
        break;
      }
      case 'c': {
        if (v.kind == Kind::String && utf8_length(v.s) == 1) piece = v.s;
        else if (v.kind == Kind::Int) utf8_append(piece, static_cast<char32_t>(v.i));
        else throw EvalError("%c requires an int or a unicode character");
        break;
      }
      default: throw EvalError(std::string("unsupported format character '") + conv + "'");
    }
    out += piece;
  }
  if (!mapping && next < positional.size()) throw EvalError("not all arguments converted during string formatting");
  return Value::string(out);
}

namespace {

}  // namespace

bool is_str_method(const std::string& name) { return str_method_names().count(name) > 0; }

Value str_method(const Value& self, const std::string& name, CallArgs& args) { return str_method_impl(self, name, args); }

}  // namespace loratune::jinja
