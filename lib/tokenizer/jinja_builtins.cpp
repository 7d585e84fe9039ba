// The text and scalar filters of the Jinja engine and the filter registry, with jinja2 3.1's semantics
// (jinja2/filters.py) and transformers' tojson (json.dumps(x, ensure_ascii=False, indent=None,
// separators=None, sort_keys=False)). Filters not registered here are refused by name when a template is
// parsed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_builtins.h"

namespace loratune::jinja {

namespace {

const Value kNone = Value::none();
const Value kFalse = Value::boolean(false);

Value call_method(const Value& obj, const std::string& name, List args = {}) {
  Value m = get_attr(obj, name);
  if (m.kind != Kind::Callable) throw EvalError("'" + type_name(obj) + "' object has no method " + name);
  CallArgs a;
  a.positional = std::move(args);
  return (*m.fn)(a);
}

int64_t len_of(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined: return 0;
    case Kind::String: return static_cast<int64_t>(utf8_length(v.s));
    case Kind::List:
    case Kind::Tuple: return static_cast<int64_t>(v.list->size());
    case Kind::Dict: return static_cast<int64_t>(v.dict->size());
    default: throw EvalError("object of type '" + type_name(v) + "' has no len()");
  }
}

Value f_tojson(const Value& v, CallArgs& a, FilterHost&) {
  JsonDumpOptions o;
  o.ensure_ascii = arg_or(a, 0, "ensure_ascii", kFalse).truthy();
  const Value& indent = arg_or(a, 1, "indent", kNone);
  const Value& seps = arg_or(a, 2, "separators", kNone);
  o.sort_keys = arg_or(a, 3, "sort_keys", kFalse).truthy();
  no_extra(a, "tojson");
  if (indent.kind == Kind::Int) {
    o.has_indent = true;
    o.indent = static_cast<int>(std::min<int64_t>(checked_width(indent.i), 1024 * 1024));
  } else if (indent.kind == Kind::String) {
    o.has_indent = true;
    o.indent_str = indent.s;
  } else if (!indent.is_none()) {
    throw EvalError("tojson indent must be an int or a string");
  }
  if (!seps.is_none()) {
    if (!seps.is_sequence() || seps.list->size() != 2 || (*seps.list)[0].kind != Kind::String ||
        (*seps.list)[1].kind != Kind::String)
      throw EvalError("tojson separators must be a pair of strings");
    o.item_sep = (*seps.list)[0].s;
    o.key_sep = (*seps.list)[1].s;
    o.has_separators = true;
  }
  try {
    return Value::string(json_dumps(v, o));
  } catch (const std::invalid_argument& e) {
    throw EvalError(e.what());
  }
}

Value f_default(const Value& v, CallArgs& a, FilterHost&) {
  static const Value kEmpty = Value::string("");
  const Value& d = arg_or(a, 0, "default_value", kEmpty);
  const bool boolean = arg_or(a, 1, "boolean", kFalse).truthy();
  no_extra(a, "default");
  if (v.is_undefined() || (boolean && !v.truthy())) return d;
  return v;
}

Value f_length(const Value& v, CallArgs& a, FilterHost&) {
  no_extra(a, "length");
  return Value::integer(len_of(v));
}

Value str_filter(const Value& v, CallArgs& a, const std::string& method) {
  no_extra(a, method);
  return call_method(Value::string(to_str(v)), method);
}
Value f_lower(const Value& v, CallArgs& a, FilterHost&) { return str_filter(v, a, "lower"); }
Value f_upper(const Value& v, CallArgs& a, FilterHost&) { return str_filter(v, a, "upper"); }
Value f_capitalize(const Value& v, CallArgs& a, FilterHost&) { return str_filter(v, a, "capitalize"); }

Value f_title(const Value& v, CallArgs& a, FilterHost&) {
  // Words start after runs of "-", whitespace, "(", "{", "[", "<"; each word: item[0].upper() +
  // item[1:].lower().
  no_extra(a, "title");
  const std::u32string u = utf8_decode(to_str(v));
  std::string out, word;
  auto flush = [&]() {
    if (word.empty()) return;
    const std::u32string w = utf8_decode(word);
    out += case_map(utf8_encode(w.substr(0, 1)), "upper") + case_map(utf8_encode(w.substr(1)), "lower");
    word.clear();
  };
  for (char32_t c : u) {
    const bool delim = c == '-' || is_py_space(c) || c == '(' || c == '{' || c == '[' || c == '<';
    if (delim) {
      flush();
      utf8_append(out, c);
    } else {
      utf8_append(word, c);
    }
  }
  flush();
  return Value::string(out);
}

Value f_trim(const Value& v, CallArgs& a, FilterHost&) {
  const Value& chars = arg_or(a, 0, "chars", kNone);
  no_extra(a, "trim");
  return call_method(Value::string(to_str(v)), "strip", {chars});
}

Value f_string(const Value& v, CallArgs& a, FilterHost&) {
  no_extra(a, "string");
  if (v.kind == Kind::String) return v;
  return Value::string(to_str(v));
}

Value f_safe(const Value& v, CallArgs& a, FilterHost&) {
  no_extra(a, "safe");
  Value s = Value::string(to_str(v));
  s.safe_markup = true;
  return s;
}

Value f_escape(const Value& v, CallArgs& a, FilterHost&) {
  no_extra(a, "escape");
  if (v.kind == Kind::String && v.safe_markup) return v;
  std::string out;
  for (char c : to_str(v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  Value s = Value::string(out);
  s.safe_markup = true;
  return s;
}

Value f_join(const Value& v, CallArgs& a, FilterHost&) {
  static const Value kEmpty = Value::string("");
  const std::string sep = to_str(arg_or(a, 0, "d", kEmpty));
  const Value* attribute = a.get(1, "attribute");
  no_extra(a, "join");
  std::string out;
  size_t k = 0;
  for (const auto& x : iterate(v))
    out += (k++ ? sep : "") + to_str(attribute ? attr_path(x, to_str(*attribute)) : x);
  return Value::string(out);
}

Value f_first(const Value& v, CallArgs& a, FilterHost&) {
  no_extra(a, "first");
  const List items = iterate(v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(const Value& v, CallArgs& a, FilterHost&) {
  no_extra(a, "last");
  const List items = iterate(v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value f_list(const Value& v, CallArgs& a, FilterHost&) {
  no_extra(a, "list");
  return Value::make_list(iterate(v));
}

Value f_items(const Value& v, CallArgs& a, FilterHost&) {
  no_extra(a, "items");
  if (v.is_undefined()) return Value::make_list();
  if (v.kind != Kind::Dict) throw EvalError("Can only get item pairs from a mapping.");
  List out;
  for (const auto& kv : *v.dict) out.push_back(Value::make_tuple({kv.first, kv.second}));
  return Value::make_list(std::move(out));
}

Value f_replace(const Value& v, CallArgs& a, FilterHost&) {
  const Value* o = a.get(0, "old");
  const Value* n = a.get(1, "new");
  const Value& c = arg_or(a, 2, "count", kNone);
  no_extra(a, "replace");
  if (!o || !n) throw EvalError("replace() needs the old and the new string");
  return call_method(
      Value::string(to_str(v)), "replace",
      {Value::string(to_str(*o)), Value::string(to_str(*n)), c.is_none() ? Value::integer(-1) : c});
}

Value f_int(const Value& v, CallArgs& a, FilterHost&) {
  const Value& d = arg_or(a, 0, "default", Value::integer(0));
  const Value& base = arg_or(a, 1, "base", Value::integer(10));
  no_extra(a, "int");
  if (v.is_undefined()) fail_undefined(v);
  if (v.kind == Kind::Int) return v;
  if (v.kind == Kind::Bool) return Value::integer(v.b);
  if (v.kind == Kind::Float) return std::isfinite(v.f) ? Value::integer(static_cast<int64_t>(v.f)) : d;
  if (v.kind == Kind::String) {
    std::string s;
    for (char c : v.s)
      if (c != '_') s.push_back(c);
    const size_t b = s.find_first_not_of(" \t\n\r\f\v"), e = s.find_last_not_of(" \t\n\r\f\v");
    if (b == std::string::npos) return d;
    s = s.substr(b, e - b + 1);
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(s.c_str(), &end, static_cast<int>(base.kind == Kind::Int ? base.i : 10));
    if (end && *end == '\0' && errno == 0) return Value::integer(x);
    const double f = std::strtod(s.c_str(), &end);
    if (end && *end == '\0' && std::isfinite(f)) return Value::integer(static_cast<int64_t>(f));
  }
  return d;
}

Value f_float(const Value& v, CallArgs& a, FilterHost&) {
  const Value& d = arg_or(a, 0, "default", Value::number(0.0));
  no_extra(a, "float");
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_number()) return Value::number(v.as_double());
  if (v.kind == Kind::String) {
    const size_t b = v.s.find_first_not_of(" \t\n\r\f\v"), e = v.s.find_last_not_of(" \t\n\r\f\v");
    if (b == std::string::npos) return d;
    const std::string s = v.s.substr(b, e - b + 1);
    char* end = nullptr;
    const double f = std::strtod(s.c_str(), &end);
    if (end && *end == '\0') return Value::number(f);
  }
  return d;
}

Value f_abs(const Value& v, CallArgs& a, FilterHost&) {
  no_extra(a, "abs");
  if (v.kind == Kind::Int || v.kind == Kind::Bool)
    return Value::integer(std::llabs(v.kind == Kind::Bool ? v.b : v.i));
  if (v.kind == Kind::Float) return Value::number(std::fabs(v.f));
  throw EvalError("bad operand type for abs(): '" + type_name(v) + "'");
}

Value f_round(const Value& v, CallArgs& a, FilterHost&) {
  const int64_t prec = arg_or(a, 0, "precision", Value::integer(0)).i;
  const std::string method = to_str(arg_or(a, 1, "method", Value::string("common")));
  no_extra(a, "round");
  if (!v.is_number()) throw EvalError("type " + type_name(v) + " doesn't define __round__ method");
  if (method == "common") {
    if (v.kind != Kind::Float) return Value::integer(v.kind == Kind::Bool ? v.b : v.i);
    // printf rounds the exact binary value half-to-even, as Python's round() does.
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::max<int64_t>(0, prec)), v.f);
    return Value::number(std::strtod(buf, nullptr));
  }
  if (method != "ceil" && method != "floor") throw EvalError("method must be common, ceil or floor");
  const double m = std::pow(10.0, static_cast<double>(prec));
  const double x = method == "ceil" ? std::ceil(v.as_double() * m) : std::floor(v.as_double() * m);
  return Value::number(x / m);
}

Value f_format(const Value& v, CallArgs& a, FilterHost&) {
  // soft_str(value) % (kwargs or args)
  if (!a.positional.empty() && !a.keyword.empty())
    throw EvalError("can't handle positional and keyword arguments at the same time");
  if (!a.keyword.empty()) {
    DictItems kw;
    for (const auto& kv : a.keyword) kw.emplace_back(Value::string(kv.first), kv.second);
    return percent_format(to_str(v), Value::make_dict(std::move(kw)));
  }
  return percent_format(to_str(v), Value::make_tuple(a.positional));
}

Value f_truncate(const Value& v, CallArgs& a, FilterHost&) {
  const int64_t length = need_int(arg_or(a, 0, "length", Value::integer(255)), "truncate length");
  const bool killwords = arg_or(a, 1, "killwords", kFalse).truthy();
  const std::string end = to_str(arg_or(a, 2, "end", Value::string("...")));
  const int64_t leeway = need_int(arg_or(a, 3, "leeway", Value::integer(5)), "truncate leeway");
  no_extra(a, "truncate");
  const std::u32string u = utf8_decode(to_str(v)), e = utf8_decode(end);
  if (length < static_cast<int64_t>(e.size()))
    throw EvalError("expected length >= " + std::to_string(e.size()));
  if (leeway < 0) throw EvalError("expected leeway >= 0");
  if (static_cast<int64_t>(u.size()) <= length + leeway) return Value::string(to_str(v));
  std::u32string head = u.substr(0, length - e.size());
  if (!killwords) {
    const size_t sp = head.rfind(U' ');
    if (sp != std::u32string::npos) head = head.substr(0, sp);
  }
  return Value::string(utf8_encode(head) + end);
}

Value f_attr(const Value& v, CallArgs& a, FilterHost&) {
  const Value* n = a.get(0, "name");
  no_extra(a, "attr");
  if (!n) throw EvalError("attr() needs the attribute name");
  const std::string name = to_str(*n);
  // getattr only: a dict's keys are not its attributes.
  if (v.kind == Kind::Dict) {
    Value m = get_attr(v, name);
    if (m.kind == Kind::Callable || m.unsafe) return m;
    return Value::undefined("'dict object' has no attribute '" + name + "'");
  }
  return get_attr(v, name);
}

std::vector<std::u32string> splitlines(const std::u32string& u) {
  std::vector<std::u32string> lines;
  size_t b = 0;
  for (size_t k = 0; k < u.size(); ++k) {
    const char32_t c = u[k];
    if (c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) || c == 0x85 ||
        c == 0x2028 || c == 0x2029) {
      lines.push_back(u.substr(b, k - b));
      if (c == '\r' && k + 1 < u.size() && u[k + 1] == '\n') ++k;
      b = k + 1;
    }
  }
  if (b < u.size()) lines.push_back(u.substr(b));
  return lines;
}

Value f_indent(const Value& v, CallArgs& a, FilterHost&) {
  const Value& width = arg_or(a, 0, "width", Value::integer(4));
  const bool first = arg_or(a, 1, "first", kFalse).truthy();
  const bool blank = arg_or(a, 2, "blank", kFalse).truthy();
  no_extra(a, "indent");
  if (v.kind != Kind::String) {
    if (v.is_sequence() || v.kind == Kind::Dict)
      throw EvalError("'" + type_name(v) + "' object has no attribute 'splitlines'");
    throw EvalError("unsupported operand type(s) for +=: '" + type_name(v) + "' and 'str'");
  }
  const std::u32string ind =
      width.kind == Kind::String
          ? utf8_decode(width.s)
          : std::u32string(std::max<int64_t>(0, checked_width(need_int(width, "indent width"))), U' ');
  const std::vector<std::u32string> lines = splitlines(utf8_decode(to_str(v)) + U"\n");
  std::u32string rv;
  if (blank) {
    for (size_t k = 0; k < lines.size(); ++k) rv += (k ? U"\n" + ind : U"") + lines[k];
  } else if (!lines.empty()) {
    rv = lines[0];
    for (size_t k = 1; k < lines.size(); ++k) rv += U"\n" + (lines[k].empty() ? U"" : ind + lines[k]);
  }
  if (first) rv = ind + rv;
  return Value::string(utf8_encode(rv));
}

Value f_center(const Value& v, CallArgs& a, FilterHost&) {
  const int64_t width = checked_width(need_int(arg_or(a, 0, "width", Value::integer(80)), "center width"));
  no_extra(a, "center");
  const std::u32string u = utf8_decode(to_str(v));
  const int64_t n = static_cast<int64_t>(u.size());
  if (width <= n) return Value::string(utf8_encode(u));
  const int64_t marg = width - n;
  const int64_t left = marg / 2 + (marg & width & 1);
  return Value::string(std::string(left, ' ') + utf8_encode(u) + std::string(marg - left, ' '));
}

Value f_wordcount(const Value& v, CallArgs& a, FilterHost&) {
  no_extra(a, "wordcount");
  int64_t n = 0;
  bool in_word = false;
  for (char32_t c : utf8_decode(to_str(v))) {
    const bool w = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                   (c >= 0xAA && !is_py_space(c));
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

const std::map<std::string, FilterFn>& filters() {
  static const std::map<std::string, FilterFn> m = [] {
    std::map<std::string, FilterFn> t = {
        {"tojson", f_tojson},       {"default", f_default},
        {"d", f_default},           {"length", f_length},
        {"count", f_length},        {"lower", f_lower},
        {"upper", f_upper},         {"capitalize", f_capitalize},
        {"title", f_title},         {"trim", f_trim},
        {"string", f_string},       {"safe", f_safe},
        {"escape", f_escape},       {"e", f_escape},
        {"forceescape", f_escape},  {"join", f_join},
        {"first", f_first},         {"last", f_last},
        {"list", f_list},           {"items", f_items},
        {"replace", f_replace},     {"int", f_int},
        {"float", f_float},         {"abs", f_abs},
        {"round", f_round},         {"attr", f_attr},
        {"format", f_format},       {"truncate", f_truncate},
        {"indent", f_indent},       {"center", f_center},
        {"wordcount", f_wordcount},
    };
    add_sequence_filters(t);
    return t;
  }();
  return m;
}

}  // namespace

bool has_filter(const std::string& name) { return filters().count(name) > 0; }

Value call_filter(const std::string& name, const Value& subject, CallArgs& args, FilterHost& host) {
  auto it = filters().find(name);
  if (it == filters().end()) throw EvalError("No filter named '" + name + "'.");
  return it->second(subject, args, host);
}

}  // namespace loratune::jinja
