// Python/jinja2 semantics the interpreter delegates to: operators, attribute and item lookup through
// ImmutableSandboxedEnvironment's rules (x.y tries the attribute, then x['y']; x['y'] tries the item, then
// the attribute; methods that mutate a list or dict are refused), iteration, str/dict/list methods, and
// the filters and tests (jinja2/filters.py, jinja2/tests.py). Failures throw EvalError with Python's or
// jinja2's message; the interpreter adds the template position.
#pragma once
#include <stdexcept>
#include <string>

#include "tokenizer/jinja_value.h"

namespace loratune::jinja {

// What filters such as map/select need from the interpreter.
struct FilterHost {
  virtual ~FilterHost() = default;
  virtual Value call(const Value& callee, CallArgs& args) = 0;  // calls a callable (macro, method, global)
};

[[noreturn]] void fail_undefined(const Value& undefined);  // the error jinja2 raises on using an Undefined

Value get_attr(const Value& obj, const std::string& name);  // x.name
Value get_item(const Value& obj, const Value& key);         // x[key]
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
List iterate(const Value& v);                                // Python iter(): list items, dict keys, characters
Value binary_op(const std::string& op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);   // `item in container`
bool compare(const std::string& op, const Value& a, const Value& b);

Value call_filter(const std::string& name, const Value& subject, CallArgs& args, FilterHost& host);
bool call_test(const std::string& name, const Value& subject, CallArgs& args, FilterHost& host);

}  // namespace loratune::jinja
