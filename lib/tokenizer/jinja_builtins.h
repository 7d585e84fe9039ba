// Python/jinja2 semantics the interpreter delegates to: operators, attribute and item lookup through
// ImmutableSandboxedEnvironment's rules (x.y tries the attribute, then x['y']; x['y'] tries the item, then
// the attribute; methods that mutate a list or dict are refused), iteration, str/dict/list methods, and
// the filters and tests (jinja2/filters.py, jinja2/tests.py). Failures throw EvalError with Python's or
// jinja2's message; the interpreter adds the template position.
#pragma once
#include <map>
#include <stdexcept>
#include <string>

#include "tokenizer/jinja_value.h"

namespace loratune::jinja {

// What filters such as map/select need from the interpreter.
struct FilterHost {
  virtual ~FilterHost() = default;
  virtual Value call(const Value& callee, CallArgs& args) = 0;  // calls a callable (macro, method, global)
};

// Argument helpers of the built-in callables.
inline Value arg_or(CallArgs& a, size_t pos, const std::string& name, const Value& dflt) {
  const Value* v = a.get(pos, name);
  return v ? *v : dflt;
}

inline void no_extra(const CallArgs& a, const std::string& fn) {
  const std::string extra = a.unused();
  if (!extra.empty()) throw EvalError(fn + "() got unexpected arguments: " + extra);
}

inline const std::string& need_str(const Value& v, const std::string& what) {
  if (v.kind != Kind::String) throw EvalError(what + " must be str, not " + type_name(v));
  return v.s;
}

inline int64_t need_int(const Value& v, const std::string& what) {
  if (v.kind == Kind::Int) return v.i;
  if (v.kind == Kind::Bool) return v.b;
  throw EvalError(what + " must be an integer, not " + type_name(v));
}

// Python's slice index arithmetic (PySlice_AdjustIndices).

// Widths and precisions of padding/formatting are bounded so that a template cannot ask for gigabytes.
constexpr int64_t kMaxWidth = int64_t(1) << 20;
inline int64_t checked_width(int64_t w) {
  if (w > kMaxWidth)
    throw EvalError("a width of " + std::to_string(w) + " is more than the template engine allows (" +
                    std::to_string(kMaxWidth) + ")");
  return w;
}

// str methods (jinja_strings.cpp): the names templates may call, and the call itself.
bool is_str_method(const std::string& name);
Value str_method(const Value& self, const std::string& name, CallArgs& args);
// str.lower/upper/title/capitalize/swapcase (`method`) with Python's full Unicode case mappings.
std::string case_map(const std::string& s, const std::string& method);
// str.format(*args, **kwargs) (jinja_format.cpp).
Value str_format(const std::string& fmt, const CallArgs& args);
// Python's printf-style `fmt % args` (args: a tuple for positional, a dict for named, else a single value).
Value percent_format(const std::string& fmt, const Value& args);

[[noreturn]] void fail_undefined(const Value& undefined);  // the error jinja2 raises on using an Undefined

Value get_attr(const Value& obj, const std::string& name);  // x.name
Value get_item(const Value& obj, const Value& key);         // x[key]
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
List iterate(const Value& v);  // Python iter(): list items, dict keys, characters
Value binary_op(const std::string& op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);  // `item in container`
bool compare(const std::string& op, const Value& a, const Value& b);

using FilterFn = Value (*)(const Value&, CallArgs&, FilterHost&);
// Registers the sequence filters (jinja_seqfilters.cpp).
void add_sequence_filters(std::map<std::string, FilterFn>& into);
// jinja2's make_attrgetter: "a.b.0" looks up each part with getitem (digit parts as integers).
Value attr_path(const Value& item, const std::string& path);

Value call_filter(const std::string& name, const Value& subject, CallArgs& args, FilterHost& host);
bool call_test(const std::string& name, const Value& subject, CallArgs& args, FilterHost& host);

}  // namespace loratune::jinja
