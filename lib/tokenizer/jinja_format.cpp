// Python's printf-style `fmt % args` (and the format filter), and str.format as jinja2's sandbox runs it
// (SandboxedFormatter: field lookups go through the sandboxed getattr and getitem) with Python's format-spec
// mini-language for str, int, float, bool and None:
//   "{}" "{0}" "{name}" "{name.attr}" "{name[key]}" "{!r}"
//   "{:[[fill]align][sign][#][0][width][,|_][.prec][type]}"
// Nested replacement fields inside a spec are refused.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "tokenizer/jinja_builtins.h"

namespace loratune::jinja {

namespace {

struct Spec {
  char32_t fill = U' ';
  char align = 0;  // < > = ^
  char sign = '-';
  bool explicit_sign = false;
  bool alt = false, zero = false;
  int64_t width = -1, prec = -1;
  char grouping = 0;
  char type = 0;
};

Spec parse_spec(const std::string& text) {
  const std::u32string s = utf8_decode(text);
  Spec sp;
  size_t k = 0;
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '=' || c == '^'; };
  if (s.size() >= 2 && is_align(s[1])) {
    sp.fill = s[0];
    sp.align = static_cast<char>(s[1]);
    k = 2;
  } else if (!s.empty() && is_align(s[0])) {
    sp.align = static_cast<char>(s[0]);
    k = 1;
  }
  if (k < s.size() && (s[k] == '+' || s[k] == '-' || s[k] == ' ')) {
    sp.sign = static_cast<char>(s[k++]);
    sp.explicit_sign = true;
  }
  if (k < s.size() && s[k] == '#') sp.alt = true, ++k;
  if (k < s.size() && s[k] == '0') sp.zero = true, ++k;
  auto digits = [&]() {
    int64_t n = -1;
    while (k < s.size() && s[k] >= '0' && s[k] <= '9')
      n = std::min<int64_t>((n < 0 ? 0 : n * 10) + (s[k++] - '0'), kMaxWidth + 1);
    return checked_width(n);
  };
  sp.width = digits();
  if (k < s.size() && (s[k] == ',' || s[k] == '_')) sp.grouping = static_cast<char>(s[k++]);
  if (k < s.size() && s[k] == '.') {
    ++k;
    sp.prec = digits();
    if (sp.prec < 0) throw EvalError("Format specifier missing precision");
  }
  if (k < s.size()) sp.type = static_cast<char>(s[k++]);
  if (k < s.size()) throw EvalError("Invalid format specifier '" + text + "'");
  return sp;
}

std::string group_digits(const std::string& digits, char sep, size_t every = 3) {
  if (!sep) return digits;
  std::string out;
  const size_t n = digits.size();
  for (size_t k = 0; k < n; ++k) {
    if (k && (n - k) % every == 0) out.push_back(sep);
    out.push_back(digits[k]);
  }
  return out;
}

// Pads `body` (the sign already split off into `sign`) to the spec's width.
std::string pad(const std::string& sign, const std::string& body, const Spec& sp, char default_align) {
  char align = sp.align ? sp.align : default_align;
  char32_t fill = sp.fill;
  if (sp.zero && !sp.align) {
    align = '=';
    fill = U'0';
  }
  const int64_t len = static_cast<int64_t>(utf8_length(sign) + utf8_length(body));
  const int64_t n = sp.width > len ? sp.width - len : 0;
  auto fills = [&](int64_t count) {
    std::string f;
    for (int64_t k = 0; k < count; ++k) utf8_append(f, fill);
    return f;
  };
  switch (align) {
    case '<': return sign + body + fills(n);
    case '^': return fills(n / 2) + sign + body + fills(n - n / 2);
    case '=': return sign + fills(n) + body;
    default: return fills(n) + sign + body;
  }
}

std::string format_value(const Value& v, const std::string& spec_text) {
  if (spec_text.empty()) return to_str(v);
  const Spec sp = parse_spec(spec_text);
  if (v.kind == Kind::String || (v.kind == Kind::None && !sp.type)) {
    if (sp.type && sp.type != 's')
      throw EvalError(std::string("Unknown format code '") + sp.type + "' for object of type 'str'");
    if (v.kind == Kind::None) throw EvalError("unsupported format string passed to NoneType.__format__");
    if (sp.explicit_sign)
      throw EvalError(std::string(sp.sign == ' ' ? "Space" : "Sign") +
                      " not allowed in string format specifier");
    if (sp.alt) throw EvalError("Alternate form (#) not allowed in string format specifier");
    if (sp.align == '=') throw EvalError("'=' alignment not allowed in string format specifier");
    if (sp.grouping) throw EvalError(std::string("Cannot specify '") + sp.grouping + "' with 's'.");
    std::u32string u = utf8_decode(to_str(v));
    if (sp.prec >= 0 && static_cast<int64_t>(u.size()) > sp.prec) u.resize(sp.prec);
    return pad("", utf8_encode(u), sp, '<');
  }
  const bool is_int = v.kind == Kind::Int || v.kind == Kind::Bool;
  if (!is_int && v.kind != Kind::Float)
    throw EvalError("unsupported format string passed to " + type_name(v) + ".__format__");
  char buf[512];
  if (is_int && (!sp.type || sp.type == 'd' || sp.type == 'n' || sp.type == 'x' || sp.type == 'X' ||
                 sp.type == 'o' || sp.type == 'b' || sp.type == 'c')) {
    if (sp.prec >= 0) throw EvalError("Precision not allowed in integer format specifier");
    const int64_t x = v.kind == Kind::Bool ? v.b : v.i;
    if (sp.type == 'c') {
      if (sp.grouping) throw EvalError(std::string("Cannot specify '") + sp.grouping + "' with 'c'.");
      if (x < 0 || x > 0x10FFFF) throw EvalError("%c arg not in range(0x110000)");
      std::string c;
      utf8_append(c, static_cast<char32_t>(x));
      return pad("", c, sp, '>');
    }
    const bool radix = sp.type == 'x' || sp.type == 'X' || sp.type == 'o' || sp.type == 'b';
    if (sp.grouping && (sp.type == 'n' || (radix && sp.grouping == ',')))
      throw EvalError(std::string("Cannot specify '") + sp.grouping + "' with '" + sp.type + "'.");
    const unsigned long long mag = x < 0 ? 0ULL - static_cast<unsigned long long>(x) : x;
    std::string digits;
    if (sp.type == 'b') {
      for (unsigned long long m = mag; m; m >>= 1)
        digits.insert(digits.begin(), static_cast<char>('0' + (m & 1)));
      if (digits.empty()) digits = "0";
    } else {
      std::snprintf(buf, sizeof buf,
                    sp.type == 'x'   ? "%llx"
                    : sp.type == 'X' ? "%llX"
                    : sp.type == 'o' ? "%llo"
                                     : "%llu",
                    mag);
      digits = buf;
    }
    std::string sign = x < 0 ? "-" : sp.sign == '+' ? "+" : sp.sign == ' ' ? " " : "";
    if (sp.alt && sp.type && sp.type != 'd' && sp.type != 'n')
      sign += sp.type == 'x' ? "0x" : sp.type == 'X' ? "0X" : sp.type == 'o' ? "0o" : "0b";
    return pad(sign, group_digits(digits, sp.grouping, radix ? 4 : 3), sp, '>');
  }
  if (!(sp.type == 0 || sp.type == 'f' || sp.type == 'F' || sp.type == 'e' || sp.type == 'E' ||
        sp.type == 'g' || sp.type == 'G' || sp.type == '%' || sp.type == 'n'))
    throw EvalError(std::string("Unknown format code '") + sp.type + "' for object of type '" + type_name(v) +
                    "'");
  if (sp.type == 'n' && sp.grouping)
    throw EvalError(std::string("Cannot specify '") + sp.grouping + "' with 'n'.");
  double d = v.as_double();
  const bool neg = std::signbit(d) && !std::isnan(d);
  d = std::fabs(d);
  std::string body;
  if (!sp.type && sp.prec < 0) {
    body = float_repr(d);
  } else {
    const int prec = static_cast<int>(sp.prec < 0 ? 6 : sp.prec);
    const char t = sp.type == '%' ? 'f' : sp.type && sp.type != 'n' ? sp.type : 'g';
    char fmt[16];
    std::snprintf(fmt, sizeof fmt, "%%%s.%d%c", sp.alt ? "#" : "", sp.type == 0 && prec == 0 ? 1 : prec, t);
    std::snprintf(buf, sizeof buf, fmt, sp.type == '%' ? d * 100 : d);
    body = buf;
    if (sp.type == 0 && body.find_first_of(".en") == std::string::npos) {
      // No type: 'g' that keeps a digit after the point, or switches to exponent form when that digit would
      // exceed the precision (Python: format(3.1, '.1') == '3e+00', format(1.0, '.3') == '1.0').
      const int p = std::max(prec, 1);
      if (static_cast<int>(body.size()) + 1 > p) {
        std::snprintf(fmt, sizeof fmt, "%%.%de", p - 1);
        std::snprintf(buf, sizeof buf, fmt, d);
        body = buf;
      } else {
        body += ".0";
      }
    }
    if (sp.type == '%') body += "%";
  }
  if (sp.grouping) {
    const size_t e = body.find_first_not_of("0123456789");
    body = group_digits(body.substr(0, e), sp.grouping) + (e == std::string::npos ? "" : body.substr(e));
  }
  const std::string sign = neg ? "-" : sp.sign == '+' ? "+" : sp.sign == ' ' ? " " : "";
  return pad(sign, body, sp, '>');
}

// "name.attr[key]..." of a replacement field.
Value resolve_field(const std::string& field, size_t& auto_index, int& numbering, const CallArgs& a) {
  size_t k = 0;
  while (k < field.size() && field[k] != '.' && field[k] != '[') ++k;
  const std::string head = field.substr(0, k);
  Value cur;
  if (head.empty() || head.find_first_not_of("0123456789") == std::string::npos) {
    size_t index;
    if (head.empty()) {
      if (numbering == 2)
        throw EvalError("cannot switch from manual field specification to automatic field numbering");
      numbering = 1;
      index = auto_index++;
    } else {
      if (numbering == 1)
        throw EvalError("cannot switch from automatic field numbering to manual field specification");
      numbering = 2;
      if (head.size() > 9)
        throw EvalError("Replacement index " + head + " out of range for positional args tuple");
      index = std::stoul(head);
    }
    if (index >= a.positional.size())
      throw EvalError("Replacement index " + std::to_string(index) +
                      " out of range for positional args tuple");
    cur = a.positional[index];
  } else {
    const Value* kw = nullptr;
    for (const auto& kv : a.keyword)
      if (kv.first == head) kw = &kv.second;
    if (!kw) throw EvalError("KeyError: '" + head + "'");
    cur = *kw;
  }
  while (k < field.size()) {
    if (field[k] == '.') {
      size_t e = k + 1;
      while (e < field.size() && field[e] != '.' && field[e] != '[') ++e;
      cur = get_attr(cur, field.substr(k + 1, e - k - 1));
      k = e;
    } else {
      const size_t e = field.find(']', k);
      if (e == std::string::npos) throw EvalError("Missing ']' in format string");
      const std::string key = field.substr(k + 1, e - k - 1);
      const bool digits = !key.empty() && key.find_first_not_of("0123456789") == std::string::npos;
      const bool index = digits && key.size() <= 18;  // longer digit strings stay string keys
      cur = get_item(cur, index ? Value::integer(std::stoll(key)) : Value::string(key));
      k = e + 1;
    }
  }
  return cur;
}

}  // namespace

Value percent_format(const std::string& fmt, const Value& args) {
  List positional;
  const Value* mapping = nullptr;
  if (args.kind == Kind::Tuple)
    positional = *args.list;
  else if (args.kind == Kind::Dict)
    mapping = &args;
  else
    positional.push_back(args);
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
    while (k < fmt.size() && std::string("-+ #0").find(fmt[k]) != std::string::npos)
      flags.push_back(fmt[k++]);
    auto number = [&](int64_t dflt) -> int64_t {
      if (k < fmt.size() && fmt[k] == '*') {
        ++k;
        return need_int(take(), "* width");
      }
      if (k >= fmt.size() || !std::isdigit(static_cast<unsigned char>(fmt[k]))) return dflt;
      int64_t n = 0;
      while (k < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[k])))
        n = n * 10 + (fmt[k++] - '0');
      return n;
    };
    const int64_t width = checked_width(number(-1));
    int64_t prec = -1;
    if (k < fmt.size() && fmt[k] == '.') {
      ++k;
      prec = checked_width(number(0));
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
        if (pad > 0)
          piece = flags.find('-') != std::string::npos ? piece + std::string(pad, ' ')
                                                       : std::string(pad, ' ') + piece;
        break;
      }
      case 'd':
      case 'i':
      case 'u': {
        if (!v.is_number())
          throw EvalError(std::string("%") + conv + " format: a real number is required, not " +
                          type_name(v));
        const long long x =
            v.kind == Kind::Float ? static_cast<long long>(v.f) : (v.kind == Kind::Bool ? v.b : v.i);
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
        const unsigned long long mag =
            x < 0 ? 0ULL - static_cast<unsigned long long>(x) : static_cast<unsigned long long>(x);
        std::snprintf(buf, sizeof buf, conv == 'o' ? "%llo" : conv == 'x' ? "%llx" : "%llX", mag);
        std::string digits = buf;
        if (prec >= 0 && static_cast<int64_t>(digits.size()) < prec)
          digits.insert(0, prec - digits.size(), '0');
        std::string sign = x < 0                              ? "-"
                           : f.find('+') != std::string::npos ? "+"
                           : f.find(' ') != std::string::npos ? " "
                                                              : "";
        if (alt) sign += conv == 'o' ? "0o" : conv == 'x' ? "0x" : "0X";
        const int64_t pad = width - static_cast<int64_t>(sign.size() + digits.size());
        if (pad > 0 && f.find('-') != std::string::npos)
          piece = sign + digits + std::string(pad, ' ');
        else if (pad > 0 && f.find('0') != std::string::npos)
          piece = sign + std::string(pad, '0') + digits;
        else
          piece = (pad > 0 ? std::string(pad, ' ') : "") + sign + digits;
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
        if (v.kind == Kind::String && utf8_length(v.s) == 1)
          piece = v.s;
        else if (v.kind == Kind::Int)
          utf8_append(piece, static_cast<char32_t>(v.i));
        else
          throw EvalError("%c requires an int or a unicode character");
        break;
      }
      default: throw EvalError(std::string("unsupported format character '") + conv + "'");
    }
    out += piece;
  }
  // CPython skips this check when the argument supports item access (a list or dict given alone).
  const bool item_access = args.kind == Kind::List || args.kind == Kind::Dict;
  if (!item_access && next < positional.size())
    throw EvalError("not all arguments converted during string formatting");
  return Value::string(out);
}

Value str_format(const std::string& fmt, const CallArgs& a) {
  std::string out;
  size_t auto_index = 0;
  int numbering = 0;  // 1 automatic, 2 manual
  for (size_t k = 0; k < fmt.size();) {
    const char c = fmt[k];
    if (c == '}') {
      if (k + 1 < fmt.size() && fmt[k + 1] == '}') {
        out.push_back('}');
        k += 2;
        continue;
      }
      throw EvalError("Single '}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      ++k;
      continue;
    }
    if (k + 1 < fmt.size() && fmt[k + 1] == '{') {
      out.push_back('{');
      k += 2;
      continue;
    }
    const size_t close = fmt.find('}', k);
    if (close == std::string::npos) throw EvalError("Single '{' encountered in format string");
    const std::string inner = fmt.substr(k + 1, close - k - 1);
    if (inner.find('{') != std::string::npos)
      throw EvalError("nested replacement fields in a format spec are not supported");
    size_t colon = inner.find(':'), bang = inner.find('!');
    if (bang != std::string::npos && colon != std::string::npos && bang > colon) bang = std::string::npos;
    const std::string field = inner.substr(0, std::min(bang, colon));
    const std::string spec = colon == std::string::npos ? "" : inner.substr(colon + 1);
    Value v = resolve_field(field, auto_index, numbering, a);
    if (bang != std::string::npos) {
      const std::string conv =
          inner.substr(bang + 1, (colon == std::string::npos ? inner.size() : colon) - bang - 1);
      if (conv == "r" || conv == "a")
        v = Value::string(to_repr(v));
      else if (conv == "s")
        v = Value::string(to_str(v));
      else
        throw EvalError("Unknown conversion specifier " + conv);
    }
    out += format_value(v, spec);
    k = close + 1;
  }
  return Value::string(out);
}

}  // namespace loratune::jinja
