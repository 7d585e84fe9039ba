// The is-tests of the Jinja engine (jinja2/tests.py semantics).
#include <map>
#include <set>

#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_builtins.h"

namespace loratune::jinja {

namespace {

bool t_cmp(const std::string& op, const Value& v, CallArgs& a) {
  const Value* o = a.get(0, "other");
  no_extra(a, op);
  if (!o) throw EvalError("the '" + op + "' test needs a value to compare with");
  return compare(op, v, *o);
}

}  // namespace

bool has_test(const std::string& name) {
  static const std::set<std::string> t = {
      "defined",  "undefined", "none",        "boolean",  "false",    "true",        "integer", "float",
      "number",   "string",    "mapping",     "iterable", "sequence", "callable",    "sameas",  "escaped",
      "in",       "eq",        "==",          "equalto",  "ne",       "!=",          "lt",      "<",
      "lessthan", "le",        "<=",          "gt",       ">",        "greaterthan", "ge",      ">=",
      "even",     "odd",       "divisibleby", "lower",    "upper",    "filter",      "test"};
  return t.count(name) > 0;
}

bool call_test(const std::string& name, const Value& v, CallArgs& a, FilterHost&) {
  const Kind k = v.kind;
  auto plain = [&](bool r) {
    no_extra(a, name);
    return r;
  };
  if (name == "defined") return plain(k != Kind::Undefined);
  if (name == "undefined") return plain(k == Kind::Undefined);
  if (name == "none") return plain(k == Kind::None);
  if (name == "boolean") return plain(k == Kind::Bool);
  if (name == "false") return plain(k == Kind::Bool && !v.b);
  if (name == "true") return plain(k == Kind::Bool && v.b);
  if (name == "integer") return plain(k == Kind::Int);
  if (name == "float") return plain(k == Kind::Float);
  if (name == "number") return plain(v.is_number());
  if (name == "string") return plain(k == Kind::String);
  if (name == "mapping") return plain(k == Kind::Dict);
  if (name == "iterable")
    return plain(k == Kind::Undefined || k == Kind::String || v.is_sequence() || k == Kind::Dict);
  if (name == "sequence")
    return plain(k == Kind::Undefined || k == Kind::String || v.is_sequence() || k == Kind::Dict);
  if (name == "callable")
    return plain(k == Kind::Callable || k == Kind::Undefined);  // Undefined has __call__
  if (name == "escaped") return plain(k == Kind::String && v.safe_markup);
  if (name == "lower" || name == "upper") {
    no_extra(a, name);
    CallArgs none;
    return str_method(Value::string(to_str(v)), name == "lower" ? "islower" : "isupper", none).truthy();
  }
  if (name == "even" || name == "odd" || name == "divisibleby") {
    int64_t n = 2;
    if (name == "divisibleby") {
      const Value* d = a.get(0, "num");
      if (!d) throw EvalError("divisibleby needs a number");
      if (!d->is_number()) throw EvalError("divisibleby needs a number");
      if (d->as_double() == 0) throw EvalError("integer division or modulo by zero");
      const Value r = binary_op("%", v, *d);
      no_extra(a, name);
      return r.as_double() == 0;
    }
    no_extra(a, name);
    if (k != Kind::Int && k != Kind::Bool && k != Kind::Float)
      throw EvalError("unsupported operand type(s) for %: '" + type_name(v) + "' and 'int'");
    const Value r = binary_op("%", v, Value::integer(n));
    return name == "even" ? r.as_double() == 0 : r.as_double() == 1;
  }
  if (name == "sameas") {
    const Value* o = a.get(0, "other");
    no_extra(a, name);
    if (!o) throw EvalError("sameas needs a value");
    if (k != o->kind) return false;
    if (k == Kind::None || k == Kind::Undefined) return true;
    if (k == Kind::Bool) return v.b == o->b;
    if (v.list || v.dict || v.fn) return v.list == o->list && v.dict == o->dict && v.fn == o->fn;
    return equals(v, *o);
  }
  if (name == "in") {
    const Value* o = a.get(0, "seq");
    no_extra(a, name);
    if (!o) throw EvalError("the 'in' test needs a container");
    return contains(*o, v);
  }
  if (name == "filter" || name == "test")
    return plain(k == Kind::String && (name == "filter" ? has_filter(v.s) : has_test(v.s)));
  static const std::map<std::string, std::string> kCmp = {
      {"eq", "=="}, {"==", "=="}, {"equalto", "=="},    {"ne", "!="}, {"!=", "!="},
      {"lt", "<"},  {"<", "<"},   {"lessthan", "<"},    {"le", "<="}, {"<=", "<="},
      {"gt", ">"},  {">", ">"},   {"greaterthan", ">"}, {"ge", ">="}, {">=", ">="}};
  auto it = kCmp.find(name);
  if (it != kCmp.end()) return t_cmp(it->second, v, a);
  throw EvalError("No test named '" + name + "'.");
}

}  // namespace loratune::jinja
