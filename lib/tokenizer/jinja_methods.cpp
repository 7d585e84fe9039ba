// Operators, lookups, iteration and the dict/list methods of the Jinja engine (see jinja_builtins.h).
#include <algorithm>
#include <cmath>
#include <set>

#include "tokenizer/jinja_builtins.h"

namespace loratune::jinja {

void fail_undefined(const Value& u) {
  if (u.unsafe) throw EvalError(u.s);
  throw EvalError(u.s.empty() ? "a value is undefined" : u.s);
}

namespace {

Value undefined_attr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) fail_undefined(obj);
  const std::string t = obj.is_none() ? "None" : "'" + type_name(obj) + " object'";
  return Value::undefined(t + " has no attribute '" + name + "'");
}

Value unsafe(const Value& obj, const std::string& name) {
  Value u = Value::undefined("access to attribute '" + name + "' of '" + type_name(obj) +
                             "' object is unsafe (the sandbox does not let a template change its inputs)");
  u.unsafe = true;
  return u;
}

std::vector<int64_t> slice_indices(int64_t n, const Value& start, const Value& stop, const Value& step) {
  auto is_none = [](const Value& v) { return v.is_none() || v.is_undefined(); };
  const int64_t st = is_none(step) ? 1 : need_int(step, "slice step");
  if (st == 0) throw EvalError("slice step cannot be zero");
  int64_t lo, hi;
  auto clamp = [&](const Value& v, int64_t dflt, int64_t lower, int64_t upper) {
    if (is_none(v)) return dflt;
    int64_t x = need_int(v, "slice index");
    if (x < 0)
      x = std::max(x + n, lower);
    else
      x = std::min(x, upper);
    return x;
  };
  if (st > 0) {
    lo = clamp(start, 0, 0, n);
    hi = clamp(stop, n, 0, n);
  } else {
    lo = clamp(start, n - 1, -1, n - 1);
    hi = clamp(stop, -1, -1, n - 1);
  }
  std::vector<int64_t> idx;
  if (st > 0)
    for (int64_t k = lo; k < hi; k += st) idx.push_back(k);
  else
    for (int64_t k = lo; k > hi; k += st) idx.push_back(k);
  return idx;
}

Value bind(const Value& self, const std::string& name,
           Value (*fn)(const Value&, const std::string&, CallArgs&)) {
  return Value::callable([self, name, fn](CallArgs& a) { return fn(self, name, a); });
}

Value dict_method(const Value& self, const std::string& name, CallArgs& a) {
  if (name == "get") {
    const Value* k = a.get(0, "key");
    const Value& d = arg_or(a, 1, "default", Value::none());
    no_extra(a, "get");
    if (!k) throw EvalError("get expected at least 1 argument, got 0");
    const Value* v = self.find(*k);
    return v ? *v : d;
  }
  no_extra(a, name);
  List out;
  for (const auto& kv : *self.dict) {
    if (name == "items")
      out.push_back(Value::make_tuple({kv.first, kv.second}));
    else if (name == "keys")
      out.push_back(kv.first);
    else if (name == "values")
      out.push_back(kv.second);
  }
  if (name == "copy") return Value::make_dict(*self.dict);
  return Value::make_list(std::move(out));
}

Value list_method(const Value& self, const std::string& name, CallArgs& a) {
  if (name == "copy") {
    no_extra(a, name);
    return Value::make_list(*self.list);
  }
  const Value* x = a.get(0, "value");
  no_extra(a, name);
  if (!x) throw EvalError(name + "() takes exactly one argument");
  int64_t n = 0;
  for (size_t k = 0; k < self.list->size(); ++k) {
    if (equals((*self.list)[k], *x)) {
      if (name == "index") return Value::integer(static_cast<int64_t>(k));
      ++n;
    }
  }
  if (name == "index") throw EvalError(to_repr(*x) + " is not in list");
  return Value::integer(n);
}

}  // namespace

Value get_attr(const Value& obj, const std::string& name) {
  if (!name.empty() && name[0] == '_') {
    if (obj.is_undefined()) fail_undefined(obj);
    return unsafe(obj, name);
  }
  switch (obj.kind) {
    case Kind::Undefined: fail_undefined(obj);
    case Kind::String:
      if (is_str_method(name)) return bind(obj, name, str_method);
      return undefined_attr(obj, name);
    case Kind::Dict: {
      if (name == "get" || name == "items" || name == "keys" || name == "values" || name == "copy")
        return bind(obj, name, dict_method);
      if (name == "clear" || name == "pop" || name == "popitem" || name == "setdefault" || name == "update")
        return unsafe(obj, name);
      const Value* v = obj.find(name);
      return v ? *v : undefined_attr(obj, name);
    }
    case Kind::Namespace: {
      const Value* v = obj.find(name);
      return v ? *v : undefined_attr(obj, name);
    }
    case Kind::List:
    case Kind::Tuple:
      if (name == "count" || name == "index" || (name == "copy" && obj.kind == Kind::List))
        return bind(obj, name, list_method);
      if (obj.kind == Kind::List &&
          (name == "append" || name == "extend" || name == "insert" || name == "pop" || name == "remove" ||
           name == "reverse" || name == "sort" || name == "clear"))
        return unsafe(obj, name);
      return undefined_attr(obj, name);
    default: return undefined_attr(obj, name);
  }
}

Value get_item(const Value& obj, const Value& key) {
  switch (obj.kind) {
    case Kind::Undefined: fail_undefined(obj);
    case Kind::Dict: {
      const Value* v = obj.find(key);
      if (v) return *v;
      break;
    }
    case Kind::List:
    case Kind::Tuple:
    case Kind::String:
      if (key.kind == Kind::Int || key.kind == Kind::Bool) {
        int64_t k = key.kind == Kind::Bool ? key.b : key.i;
        if (obj.kind == Kind::String) {
          const std::u32string u = utf8_decode(obj.s);
          const int64_t n = static_cast<int64_t>(u.size());
          if (k < 0) k += n;
          if (k < 0 || k >= n) return Value::undefined("string index out of range");
          std::string out;
          utf8_append(out, u[k]);
          return Value::string(out);
        }
        const int64_t n = static_cast<int64_t>(obj.list->size());
        if (k < 0) k += n;
        if (k < 0 || k >= n)
          return Value::undefined("'" + type_name(obj) + " object' has no element " + to_str(key));
        return (*obj.list)[k];
      }
      break;
    default: break;
  }
  if (key.kind == Kind::String) return get_attr(obj, key.s);
  const std::string t = obj.is_none() ? "None" : "'" + type_name(obj) + " object'";
  return Value::undefined(t + " has no element " + to_repr(key));
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (obj.kind == Kind::String) {
    const std::u32string u = utf8_decode(obj.s);
    std::u32string out;
    for (int64_t k : slice_indices(static_cast<int64_t>(u.size()), start, stop, step)) out.push_back(u[k]);
    return Value::string(utf8_encode(out));
  }
  if (obj.is_sequence()) {
    List out;
    for (int64_t k : slice_indices(static_cast<int64_t>(obj.list->size()), start, stop, step))
      out.push_back((*obj.list)[k]);
    return obj.kind == Kind::Tuple ? Value::make_tuple(std::move(out)) : Value::make_list(std::move(out));
  }
  return Value::undefined("'" + type_name(obj) + " object' cannot be sliced");
}

List iterate(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined: return {};
    case Kind::List:
    case Kind::Tuple: return *v.list;
    case Kind::Dict: {
      List keys;
      for (const auto& kv : *v.dict) keys.push_back(kv.first);
      return keys;
    }
    case Kind::String: {
      List chars;
      for (char32_t c : utf8_decode(v.s)) {
        std::string s;
        utf8_append(s, c);
        chars.push_back(Value::string(s));
      }
      return chars;
    }
    default: throw EvalError("'" + type_name(v) + "' object is not iterable");
  }
}

namespace {

bool int_like(const Value& v) { return v.kind == Kind::Int || v.kind == Kind::Bool; }
int64_t ival(const Value& v) { return v.kind == Kind::Bool ? v.b : v.i; }

[[noreturn]] void bad_operands(const std::string& op, const Value& a, const Value& b) {
  throw EvalError("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) +
                  "'");
}

Value repeat(const Value& seq, int64_t n) {
  if (seq.kind == Kind::String) {
    std::string out;
    if (n <= 0 || seq.s.empty()) return Value::string("");
    if (static_cast<uint64_t>(n) > kMaxStringBytes / seq.s.size())
      throw EvalError("string repetition too large");
    for (int64_t k = 0; k < n; ++k) out += seq.s;
    return Value::string(out);
  }
  List out;
  if (n > 0 && !seq.list->empty() && static_cast<uint64_t>(n) > kMaxListItems / seq.list->size())
    throw EvalError("list repetition too large");
  if (seq.list->empty()) n = 0;
  for (int64_t k = 0; k < n; ++k) out.insert(out.end(), seq.list->begin(), seq.list->end());
  return seq.kind == Kind::Tuple ? Value::make_tuple(std::move(out)) : Value::make_list(std::move(out));
}

}  // namespace

Value binary_op(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  const bool nums = a.is_number() && b.is_number();
  const bool ints = int_like(a) && int_like(b);
  int64_t r = 0;
  if (op == "+") {
    if (ints) {
      if (__builtin_add_overflow(ival(a), ival(b), &r)) throw EvalError("integer overflow");
      return Value::integer(r);
    }
    if (nums) return Value::number(a.as_double() + b.as_double());
    if (a.kind == Kind::String && b.kind == Kind::String) {
      if (a.s.size() + b.s.size() > kMaxStringBytes) throw EvalError("the concatenated string is too long");
      return Value::string(a.s + b.s);
    }
    if (a.is_sequence() && a.kind == b.kind) {
      if (a.list->size() + b.list->size() > kMaxListItems)
        throw EvalError("the concatenated list is too long");
      List out = *a.list;
      out.insert(out.end(), b.list->begin(), b.list->end());
      return a.kind == Kind::Tuple ? Value::make_tuple(std::move(out)) : Value::make_list(std::move(out));
    }
    if (a.kind == Kind::String)
      throw EvalError("can only concatenate str (not \"" + type_name(b) + "\") to str");
    bad_operands(op, a, b);
  }
  if (op == "-") {
    if (ints) {
      if (__builtin_sub_overflow(ival(a), ival(b), &r)) throw EvalError("integer overflow");
      return Value::integer(r);
    }
    if (nums) return Value::number(a.as_double() - b.as_double());
    bad_operands(op, a, b);
  }
  if (op == "*") {
    if (ints) {
      if (__builtin_mul_overflow(ival(a), ival(b), &r)) throw EvalError("integer overflow");
      return Value::integer(r);
    }
    if (nums) return Value::number(a.as_double() * b.as_double());
    if ((a.kind == Kind::String || a.is_sequence()) && int_like(b)) return repeat(a, ival(b));
    if ((b.kind == Kind::String || b.is_sequence()) && int_like(a)) return repeat(b, ival(a));
    bad_operands(op, a, b);
  }
  if (op == "/" || op == "//" || op == "%") {
    if (!nums) {
      if (op == "%" && a.kind == Kind::String) return percent_format(a.s, b);
      bad_operands(op, a, b);
    }
    if (b.as_double() == 0)
      throw EvalError(op == "/" ? "division by zero" : "integer division or modulo by zero");
    if (op == "/") return Value::number(a.as_double() / b.as_double());
    if (ints) {
      const int64_t x = ival(a), y = ival(b);
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        --q;
        m += y;
      }
      return op == "//" ? Value::integer(q) : Value::integer(m);
    }
    // CPython's float divmod.
    const double x = a.as_double(), y = b.as_double();
    double mod = std::fmod(x, y);
    double div = (x - mod) / y;
    if (mod != 0) {
      if ((y < 0) != (mod < 0)) {
        mod += y;
        div -= 1.0;
      }
    } else {
      mod = std::copysign(0.0, y);
    }
    if (op == "%") return Value::number(mod);
    double fl;
    if (div != 0) {
      fl = std::floor(div);
      if (div - fl > 0.5) fl += 1.0;
    } else {
      fl = std::copysign(0.0, x / y);
    }
    return Value::number(fl);
  }
  if (op == "**") {
    if (!nums) bad_operands("** or pow()", a, b);
    if (ints && ival(b) >= 0) {
      int64_t base = ival(a), e = ival(b), out = 1;
      while (e > 0) {
        if ((e & 1) && __builtin_mul_overflow(out, base, &out)) throw EvalError("integer overflow");
        e >>= 1;
        if (e > 0 && __builtin_mul_overflow(base, base, &base)) throw EvalError("integer overflow");
      }
      return Value::integer(out);
    }
    if (a.as_double() == 0 && b.as_double() < 0) throw EvalError("0.0 cannot be raised to a negative power");
    if (a.as_double() < 0 && std::floor(b.as_double()) != b.as_double())
      throw EvalError("a negative number to a fractional power is complex, which templates do not support");
    const double r = std::pow(a.as_double(), b.as_double());
    if (std::isinf(r) && std::isfinite(a.as_double()) && std::isfinite(b.as_double()))
      throw EvalError("(34, 'Numerical result out of range')");  // Python's float pow raises OverflowError
    return Value::number(r);
  }
  throw EvalError("unknown operator " + op);
}

bool contains(const Value& c, const Value& item) {
  switch (c.kind) {
    case Kind::Undefined: return false;
    case Kind::String:
      if (item.kind != Kind::String)
        throw EvalError("'in <string>' requires string as left operand, not " + type_name(item));
      return c.s.find(item.s) != std::string::npos;
    case Kind::List:
    case Kind::Tuple:
      for (const auto& x : *c.list)
        if (equals(x, item)) return true;
      return false;
    case Kind::Dict:
      if (item.kind == Kind::List || item.kind == Kind::Dict || item.kind == Kind::Namespace)
        throw EvalError("unhashable type: '" + type_name(item) + "'");
      return c.find(item) != nullptr;
    default: throw EvalError("argument of type '" + type_name(c) + "' is not iterable");
  }
}

bool compare(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return equals(a, b);
  if (op == "!=") return !equals(a, b);
  if (op == "in") return contains(b, a);
  if (op == "not in") return !contains(b, a);
  try {
    if (op == "<") return less(a, b);
    if (op == ">") return less(b, a);
    if (op == "<=") return less(a, b) || equals(a, b);
    if (op == ">=") return less(b, a) || equals(a, b);
  } catch (const std::invalid_argument& e) {
    std::string m = e.what();
    const size_t p = m.find("'<'");
    if (p != std::string::npos) m.replace(p, 3, "'" + op + "'");
    if (op == ">" || op == ">=") {
      // less(b, a) named the operands in swapped order.
      m = "'" + op + "' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'";
    }
    throw EvalError(m);
  }
  throw EvalError("unknown comparison " + op);
}

}  // namespace loratune::jinja
