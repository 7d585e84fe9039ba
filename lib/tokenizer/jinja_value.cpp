#include "tokenizer/jinja_value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include <utf8proc.h>

namespace loratune::jinja {

namespace {

// Counts the recursion of printing/comparing/converting one value; deeper than kMaxValueDepth is an error
// (a template can build deep lists in a loop; the C++ stack must not be the limit).
struct DepthGuard {
  explicit DepthGuard(int& d) : d_(d) {
    if (++d_ > kMaxValueDepth) {
      d_ = 0;
      throw EvalError("a value nests deeper than " + std::to_string(kMaxValueDepth) + " levels");
    }
  }
  ~DepthGuard() {
    if (d_ > 0) --d_;
  }
  int& d_;
};
thread_local int g_depth = 0;

}  // namespace

Value Value::undefined(std::string hint) {
  Value v;
  v.kind = Kind::Undefined;
  v.s = std::move(hint);
  return v;
}
Value Value::none() {
  Value v;
  v.kind = Kind::None;
  return v;
}
Value Value::boolean(bool x) {
  Value v;
  v.kind = Kind::Bool;
  v.b = x;
  return v;
}
Value Value::integer(int64_t x) {
  Value v;
  v.kind = Kind::Int;
  v.i = x;
  return v;
}
Value Value::number(double x) {
  Value v;
  v.kind = Kind::Float;
  v.f = x;
  return v;
}
Value Value::string(std::string x) {
  if (x.size() > kMaxStringBytes)
    throw EvalError("a string of " + std::to_string(x.size()) +
                    " bytes is longer than the template engine allows (" + std::to_string(kMaxStringBytes) +
                    ")");
  Value v;
  v.kind = Kind::String;
  v.s = std::move(x);
  return v;
}
namespace {

int child_depth(const Value& c) { return c.depth; }

void set_depth(Value& v, int d) {
  if (d > kMaxValueDepth)
    throw EvalError("a value nests deeper than " + std::to_string(kMaxValueDepth) + " levels");
  v.depth = d;
}

}  // namespace

Value Value::make_list(List items) {
  if (items.size() > kMaxListItems)
    throw EvalError("a list of " + std::to_string(items.size()) +
                    " items is longer than the template engine allows (" + std::to_string(kMaxListItems) +
                    ")");
  Value v;
  int d = 0;
  for (const auto& c : items) d = std::max(d, child_depth(c));
  set_depth(v, d + 1);
  v.kind = Kind::List;
  v.list = std::make_shared<List>(std::move(items));
  return v;
}
Value Value::make_tuple(List items) {
  Value v = make_list(std::move(items));
  v.kind = Kind::Tuple;
  return v;
}
Value Value::make_dict(DictItems items) {
  Value v;
  int d = 0;
  for (const auto& c : items) d = std::max({d, child_depth(c.first), child_depth(c.second)});
  set_depth(v, d + 1);
  v.kind = Kind::Dict;
  v.dict = std::make_shared<DictItems>(std::move(items));
  return v;
}
Value Value::make_namespace(DictItems items) {
  Value v = make_dict(std::move(items));
  v.kind = Kind::Namespace;
  return v;
}
Value Value::callable(NativeFn fn) {
  Value v;
  v.kind = Kind::Callable;
  v.fn = std::make_shared<NativeFn>(std::move(fn));
  return v;
}

bool Value::truthy() const {
  switch (kind) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return b;
    case Kind::Int: return i != 0;
    case Kind::Float: return f != 0.0;
    case Kind::String: return !s.empty();
    case Kind::List:
    case Kind::Tuple: return !list->empty();
    case Kind::Dict: return !dict->empty();
    default: return true;
  }
}

double Value::as_double() const {
  if (kind == Kind::Float) return f;
  if (kind == Kind::Bool) return b ? 1.0 : 0.0;
  return static_cast<double>(i);
}

const Value* Value::find(const Value& key) const {
  if (!dict) return nullptr;
  for (const auto& kv : *dict)
    if (equals(kv.first, key)) return &kv.second;
  return nullptr;
}

const Value* Value::find(const std::string& key) const {
  if (!dict) return nullptr;
  for (const auto& kv : *dict)
    if (kv.first.kind == Kind::String && kv.first.s == key) return &kv.second;
  return nullptr;
}

const Value* CallArgs::get(size_t pos, const std::string& name) {
  used_pos.resize(positional.size());
  used_kw.resize(keyword.size());
  for (size_t k = 0; k < keyword.size(); ++k)
    if (keyword[k].first == name) {
      used_kw[k] = true;
      return &keyword[k].second;
    }
  if (pos < positional.size()) {
    used_pos[pos] = true;
    return &positional[pos];
  }
  return nullptr;
}

std::string CallArgs::unused() const {
  std::string out;
  for (size_t k = 0; k < positional.size(); ++k)
    if (k >= used_pos.size() || !used_pos[k])
      out += (out.empty() ? "" : ", ") + std::string("positional #") + std::to_string(k + 1);
  for (size_t k = 0; k < keyword.size(); ++k)
    if (k >= used_kw.size() || !used_kw[k]) out += (out.empty() ? "" : ", ") + keyword[k].first;
  return out;
}

// ---------------------------------------------------------------------------------------------------
// UTF-8.

std::u32string utf8_decode(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t k = 0; k < s.size();) {
    const unsigned char c = s[k];
    int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0) {
      out.push_back(0xFFFD);  // invalid byte: U+FFFD, as a lenient decoder does
      ++k;
      continue;
    }
    char32_t cp = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
    bool ok = true;
    for (int m = 1; m <= n; ++m) {
      if (k + m >= s.size() || (static_cast<unsigned char>(s[k + m]) >> 6) != 2) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (static_cast<unsigned char>(s[k + m]) & 0x3F);
    }
    if (!ok) {
      out.push_back(0xFFFD);
      ++k;
      continue;
    }
    out.push_back(cp);
    k += n + 1;
  }
  return out;
}

void utf8_append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string utf8_encode(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) utf8_append(out, c);
  return out;
}

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c >> 6) != 2;
  return n;
}

bool is_py_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

char32_t py_upper(char32_t c) {
  return static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(c)));
}
char32_t py_lower(char32_t c) {
  return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
}
char32_t py_title(char32_t c) {
  return static_cast<char32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(c)));
}
bool py_is_upper(char32_t c) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(c)) == UTF8PROC_CATEGORY_LU;
}
bool py_is_lower(char32_t c) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(c)) == UTF8PROC_CATEGORY_LL;
}
bool py_cased(char32_t c) {
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

// ---------------------------------------------------------------------------------------------------
// str() / repr().

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-tripping digits (what Python's repr picks), then Python's layout of them.
  char buf[64];
  int prec = 1;
  for (; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string t(buf);
  const bool neg = t[0] == '-';
  if (neg) t.erase(0, 1);
  const size_t e = t.find('e');
  const int exp = std::atoi(t.c_str() + e + 1);
  std::string digits;
  for (size_t k = 0; k < e; ++k)
    if (t[k] != '.') digits.push_back(t[k]);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = neg ? "-" : "";
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      std::string ip = digits.substr(0, std::min<size_t>(digits.size(), exp + 1));
      while (static_cast<int>(ip.size()) < exp + 1) ip.push_back('0');
      std::string fp = static_cast<int>(digits.size()) > exp + 1 ? digits.substr(exp + 1) : "0";
      out += ip + "." + fp;
    } else {
      out += "0." + std::string(-exp - 1, '0') + digits;
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += eb;
  }
  return out;
}

namespace {

// str.isprintable() for the characters templates meet: controls, the C1 block, non-ASCII spaces and the
// format characters are not printable.
bool py_printable(char32_t c) {
  if (c < 0x20 || c == 0x7F) return false;
  if (c >= 0x80 && c <= 0xA0) return false;
  if (c == 0xAD || c == 0x1680 || (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) ||
      (c >= 0x205F && c <= 0x206F) || c == 0x3000 || c == 0xFEFF || (c >= 0xD800 && c <= 0xDFFF) ||
      (c >= 0xE000 && c <= 0xF8FF) || c == 0xFFF9 || c == 0xFFFA || c == 0xFFFB)
    return false;
  return true;
}

std::string str_repr(const std::string& s) {
  const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = dq ? '"' : '\'';
  std::string out(1, q);
  for (char32_t c : utf8_decode(s)) {
    if (c == '\\')
      out += "\\\\";
    else if (c == static_cast<char32_t>(q))
      out += std::string("\\") + q;
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (!py_printable(c)) {
      char b[16];
      if (c < 0x100)
        std::snprintf(b, sizeof b, "\\x%02x", static_cast<unsigned>(c));
      else if (c < 0x10000)
        std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned>(c));
      else
        std::snprintf(b, sizeof b, "\\U%08x", static_cast<unsigned>(c));
      out += b;
    } else {
      utf8_append(out, c);
    }
  }
  out.push_back(q);
  return out;
}

}  // namespace

std::string to_repr(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined: return "Undefined";
    case Kind::String: return str_repr(v.s);
    default: break;
  }
  return to_str(v);
}

std::string to_str(const Value& v) {
  DepthGuard guard(g_depth);
  switch (v.kind) {
    case Kind::Undefined: return "";
    case Kind::None: return "None";
    case Kind::Bool: return v.b ? "True" : "False";
    case Kind::Int: return std::to_string(v.i);
    case Kind::Float: return float_repr(v.f);
    case Kind::String: return v.s;
    case Kind::List:
    case Kind::Tuple: {
      std::string out = v.kind == Kind::List ? "[" : "(";
      for (size_t k = 0; k < v.list->size(); ++k) out += (k ? ", " : "") + to_repr((*v.list)[k]);
      if (v.kind == Kind::Tuple && v.list->size() == 1) out += ",";
      return out + (v.kind == Kind::List ? "]" : ")");
    }
    case Kind::Dict:
    case Kind::Namespace: {
      std::string out = v.kind == Kind::Namespace ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& kv : *v.dict) {
        out += (first ? "" : ", ") + to_repr(kv.first) + ": " + to_repr(kv.second);
        first = false;
      }
      return out + (v.kind == Kind::Namespace ? "}>" : "}");
    }
    case Kind::Callable: return "<function>";
  }
  return "";
}

std::string type_name(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return "dict";
    case Kind::Namespace: return "Namespace";
    case Kind::Callable: return "function";
  }
  return "object";
}

bool equals(const Value& a, const Value& b) {
  DepthGuard guard(g_depth);
  if (a.is_number() && b.is_number()) {
    if (a.kind != Kind::Float && b.kind != Kind::Float)
      return (a.kind == Kind::Bool ? a.b : a.i) == (b.kind == Kind::Bool ? b.b : b.i);
    return a.as_double() == b.as_double();
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::Undefined:
    case Kind::None: return true;
    case Kind::String: return a.s == b.s;
    case Kind::List:
    case Kind::Tuple:
      if (a.list->size() != b.list->size()) return false;
      for (size_t k = 0; k < a.list->size(); ++k)
        if (!equals((*a.list)[k], (*b.list)[k])) return false;
      return true;
    case Kind::Dict:
      if (a.dict->size() != b.dict->size()) return false;
      for (const auto& kv : *a.dict) {
        const Value* o = b.find(kv.first);
        if (!o || !equals(kv.second, *o)) return false;
      }
      return true;
    case Kind::Namespace: return a.dict == b.dict;
    case Kind::Callable: return a.fn == b.fn;
    default: return false;
  }
}

bool less(const Value& a, const Value& b) {
  DepthGuard guard(g_depth);
  if (a.is_number() && b.is_number()) {
    if (a.kind != Kind::Float && b.kind != Kind::Float)
      return (a.kind == Kind::Bool ? a.b : a.i) < (b.kind == Kind::Bool ? b.b : b.i);
    return a.as_double() < b.as_double();
  }
  if (a.kind == Kind::String && b.kind == Kind::String) return a.s < b.s;  // UTF-8 order = code point order
  if ((a.kind == Kind::List || a.kind == Kind::Tuple) && a.kind == b.kind) {
    const size_t n = std::min(a.list->size(), b.list->size());
    for (size_t k = 0; k < n; ++k) {
      const Value& x = (*a.list)[k];
      const Value& y = (*b.list)[k];
      if (!equals(x, y)) return less(x, y);
    }
    return a.list->size() < b.list->size();
  }
  throw std::invalid_argument("'<' not supported between instances of '" + type_name(a) + "' and '" +
                              type_name(b) + "'");
}

// ---------------------------------------------------------------------------------------------------
// JSON.

Value from_json(const nlohmann::ordered_json& j) {
  DepthGuard guard(g_depth);
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned:
      return Value::integer(static_cast<int64_t>(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: return Value::number(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e));
      return Value::make_list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      DictItems items;
      items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it)
        items.emplace_back(Value::string(it.key()), from_json(*it));
      return Value::make_dict(std::move(items));
    }
    default: return Value::none();
  }
}

namespace {

void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out.push_back('"');
  for (char32_t c : utf8_decode(s)) {
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    char b[16];
    if (c < 0x20 || (ensure_ascii && c > 0x7E)) {
      if (c >= 0x10000) {
        const char32_t v = c - 0x10000;
        std::snprintf(b, sizeof b, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 | (v >> 10)),
                      static_cast<unsigned>(0xDC00 | (v & 0x3FF)));
      } else {
        std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned>(c));
      }
      out += b;
    } else {
      utf8_append(out, c);
    }
  }
  out.push_back('"');
}

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
  return float_repr(d);
}

std::string json_key(const Value& k) {
  switch (k.kind) {
    case Kind::String: return k.s;
    case Kind::Int: return std::to_string(k.i);
    case Kind::Float: return json_float(k.f);
    case Kind::Bool: return k.b ? "true" : "false";
    case Kind::None: return "null";
    default: throw std::invalid_argument("keys must be str, int, float, bool or None, not " + type_name(k));
  }
}

void dump(std::string& out, const Value& v, const JsonDumpOptions& o, const std::string& indent, int level) {
  if (level > kMaxValueDepth)
    throw EvalError("a value nests deeper than " + std::to_string(kMaxValueDepth) + " levels");
  const std::string& item_sep = o.item_sep;
  const std::string& key_sep = o.key_sep;
  auto newline = [&](int lvl) {
    if (!o.has_indent) return;
    out.push_back('\n');
    for (int k = 0; k < lvl; ++k) out += indent;
  };
  switch (v.kind) {
    case Kind::None: out += "null"; return;
    case Kind::Bool: out += v.b ? "true" : "false"; return;
    case Kind::Int: out += std::to_string(v.i); return;
    case Kind::Float: out += json_float(v.f); return;
    case Kind::String: json_string(out, v.s, o.ensure_ascii); return;
    case Kind::List:
    case Kind::Tuple: {
      if (v.list->empty()) {
        out += "[]";
        return;
      }
      out.push_back('[');
      for (size_t k = 0; k < v.list->size(); ++k) {
        if (k) out += item_sep;
        newline(level + 1);
        dump(out, (*v.list)[k], o, indent, level + 1);
      }
      newline(level);
      out.push_back(']');
      return;
    }
    case Kind::Dict: {
      if (v.dict->empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<Value, Value>*> items;
      for (const auto& kv : *v.dict) items.push_back(&kv);
      if (o.sort_keys)
        std::stable_sort(items.begin(), items.end(),
                         [](auto* a, auto* b) { return less(a->first, b->first); });
      out.push_back('{');
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out += item_sep;
        newline(level + 1);
        json_string(out, json_key(items[k]->first), o.ensure_ascii);
        out += key_sep;
        dump(out, items[k]->second, o, indent, level + 1);
      }
      newline(level);
      out.push_back('}');
      return;
    }
    default: throw std::invalid_argument("Object of type " + type_name(v) + " is not JSON serializable");
  }
}

}  // namespace

std::string json_dumps(const Value& v, const JsonDumpOptions& opt) {
  JsonDumpOptions o = opt;
  if (!o.has_separators) {
    o.item_sep = o.has_indent ? "," : ", ";
    o.key_sep = ": ";
  }
  const std::string indent =
      !o.indent_str.empty() || !o.has_indent ? o.indent_str : std::string(std::max(0, o.indent), ' ');
  std::string out;
  dump(out, v, o, indent, 0);
  return out;
}

}  // namespace loratune::jinja
