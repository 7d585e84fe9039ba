// The sequence filters of the Jinja engine (jinja2/filters.py): reverse, sort, dictsort, unique, min, max,
// sum, batch, map, select, reject, selectattr, rejectattr.
#include <algorithm>
#include <cstdlib>
#include <map>

#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_builtins.h"

namespace loratune::jinja {

namespace {

const Value kFalse = Value::boolean(false);

// jinja2's make_attrgetter: "a.b.0" looks up each part with getitem (digits become integers).
Value attr_path_impl(const Value& item, const std::string& path) {
  Value cur = item;
  size_t b = 0;
  while (true) {
    const size_t e = path.find('.', b);
    const std::string part = path.substr(b, e == std::string::npos ? std::string::npos : e - b);
    const bool digits = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    cur = get_item(cur, digits ? Value::integer(std::atoll(part.c_str())) : Value::string(part));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  return cur;
}

std::string lower_str(const std::string& s) { return case_map(s, "lower"); }

// The sort/unique/min/max key: the attribute (if any), lower-cased when strings compare case-insensitively.
Value sort_key(const Value& item, const Value* attribute, bool case_sensitive) {
  Value k = attribute && !attribute->is_none() ? attr_path(item, to_str(*attribute)) : item;
  if (!case_sensitive && k.kind == Kind::String) k.s = lower_str(k.s);
  return k;
}

bool py_less(const Value& a, const Value& b) {
  try {
    return less(a, b);
  } catch (const std::invalid_argument& e) {
    throw EvalError(e.what());
  }
}

Value f_reverse(const Value& v, CallArgs& a, FilterHost&) {
  no_extra(a, "reverse");
  if (v.kind == Kind::String) {
    std::u32string u = utf8_decode(v.s);
    std::reverse(u.begin(), u.end());
    return Value::string(utf8_encode(u));
  }
  List items = iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::make_list(std::move(items));
}

Value f_sort(const Value& v, CallArgs& a, FilterHost&) {
  const bool reverse = arg_or(a, 0, "reverse", kFalse).truthy();
  const bool cs = arg_or(a, 1, "case_sensitive", kFalse).truthy();
  const Value* attribute = a.get(2, "attribute");
  no_extra(a, "sort");
  List items = iterate(v);
  std::vector<std::pair<Value, Value>> keyed;
  for (auto& x : items) keyed.emplace_back(sort_key(x, attribute, cs), x);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& p, const auto& q) {
    return reverse ? py_less(q.first, p.first) : py_less(p.first, q.first);
  });
  List out;
  for (auto& kv : keyed) out.push_back(kv.second);
  return Value::make_list(std::move(out));
}

Value f_dictsort(const Value& v, CallArgs& a, FilterHost&) {
  const bool cs = arg_or(a, 0, "case_sensitive", kFalse).truthy();
  const std::string by = to_str(arg_or(a, 1, "by", Value::string("key")));
  const bool reverse = arg_or(a, 2, "reverse", kFalse).truthy();
  no_extra(a, "dictsort");
  if (v.kind != Kind::Dict) throw EvalError("dictsort needs a mapping");
  if (by != "key" && by != "value") throw EvalError("You can only sort by either \"key\" or \"value\"");
  List out;
  for (const auto& kv : *v.dict) out.push_back(Value::make_tuple({kv.first, kv.second}));
  const size_t k = by == "key" ? 0 : 1;
  std::stable_sort(out.begin(), out.end(), [&](const Value& p, const Value& q) {
    const Value x = sort_key((*p.list)[k], nullptr, cs), y = sort_key((*q.list)[k], nullptr, cs);
    return reverse ? py_less(y, x) : py_less(x, y);
  });
  return Value::make_list(std::move(out));
}

Value f_unique(const Value& v, CallArgs& a, FilterHost&) {
  const bool cs = arg_or(a, 0, "case_sensitive", kFalse).truthy();
  const Value* attribute = a.get(1, "attribute");
  no_extra(a, "unique");
  List out, seen;
  for (const auto& x : iterate(v)) {
    const Value k = sort_key(x, attribute, cs);
    if (k.kind == Kind::List || k.kind == Kind::Dict || k.kind == Kind::Namespace)
      throw EvalError("unhashable type: '" + type_name(k) + "'");
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, k); })) {
      seen.push_back(k);
      out.push_back(x);
    }
  }
  return Value::make_list(std::move(out));
}

Value min_max(const Value& v, CallArgs& a, bool want_max) {
  const bool cs = arg_or(a, 0, "case_sensitive", kFalse).truthy();
  const Value* attribute = a.get(1, "attribute");
  no_extra(a, want_max ? "max" : "min");
  const List items = iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  for (size_t k = 1; k < items.size(); ++k) {
    const Value x = sort_key(items[k], attribute, cs), b = sort_key(items[best], attribute, cs);
    if (want_max ? py_less(b, x) : py_less(x, b)) best = k;
  }
  return items[best];
}
Value f_min(const Value& v, CallArgs& a, FilterHost&) { return min_max(v, a, false); }
Value f_max(const Value& v, CallArgs& a, FilterHost&) { return min_max(v, a, true); }

Value f_sum(const Value& v, CallArgs& a, FilterHost&) {
  const Value* attribute = a.get(0, "attribute");
  Value total = arg_or(a, 1, "start", Value::integer(0));
  no_extra(a, "sum");
  for (const auto& x : iterate(v))
    total = binary_op("+", total, attribute ? attr_path(x, to_str(*attribute)) : x);
  return total;
}

Value f_batch(const Value& v, CallArgs& a, FilterHost&) {
  const Value* n = a.get(0, "linecount");
  const Value* fill = a.get(1, "fill_with");
  no_extra(a, "batch");
  if (!n || n->kind != Kind::Int || n->i <= 0) throw EvalError("batch() needs a positive line count");
  List out, cur;
  for (const auto& x : iterate(v)) {
    cur.push_back(x);
    if (static_cast<int64_t>(cur.size()) == n->i) {
      out.push_back(Value::make_list(std::move(cur)));
      cur.clear();
    }
  }
  if (!cur.empty()) {
    if (fill && !fill->is_none())
      while (static_cast<int64_t>(cur.size()) < n->i) cur.push_back(*fill);
    out.push_back(Value::make_list(std::move(cur)));
  }
  return Value::make_list(std::move(out));
}

// map(attribute=...) or map('filter', args...).
Value f_map(const Value& v, CallArgs& a, FilterHost& host) {
  List out;
  if (!v.truthy()) return Value::make_list();  // jinja2 iterates only a truthy value
  const Value* attribute = nullptr;
  const Value* dflt = nullptr;
  for (size_t k = 0; k < a.keyword.size(); ++k) {
    if (a.keyword[k].first == "attribute")
      attribute = &a.keyword[k].second;
    else if (a.keyword[k].first == "default")
      dflt = &a.keyword[k].second;
  }
  if (attribute) {
    a.get(0, "attribute");
    if (dflt) a.get(0, "default");
    no_extra(a, "map");
    for (const auto& x : iterate(v)) {
      Value r = attr_path(x, to_str(*attribute));
      out.push_back(r.is_undefined() && dflt ? *dflt : r);
    }
    return Value::make_list(std::move(out));
  }
  if (a.positional.empty()) throw EvalError("map() needs a filter name or attribute=");
  const std::string name = to_str(a.positional[0]);
  if (!has_filter(name)) throw EvalError("No filter named '" + name + "'.");
  for (const auto& x : iterate(v)) {
    CallArgs sub;
    sub.positional.assign(a.positional.begin() + 1, a.positional.end());
    sub.keyword = a.keyword;
    out.push_back(call_filter(name, x, sub, host));
  }
  return Value::make_list(std::move(out));
}

Value select_impl(const Value& v, CallArgs& a, FilterHost& host, bool attr_mode, bool keep_if) {
  size_t first_arg = 0;
  std::string attribute;
  if (attr_mode) {
    if (a.positional.empty()) throw EvalError("selectattr/rejectattr need an attribute name");
    attribute = to_str(a.positional[0]);
    first_arg = 1;
  }
  std::string test;
  if (a.positional.size() > first_arg) test = to_str(a.positional[first_arg]);
  if (!test.empty() && !has_test(test)) throw EvalError("No test named '" + test + "'.");
  List out;
  if (!v.truthy()) return Value::make_list();  // jinja2 iterates only a truthy value
  for (const auto& x : iterate(v)) {
    const Value subject = attr_mode ? attr_path(x, attribute) : x;
    bool r;
    if (test.empty()) {
      r = subject.truthy();
    } else {
      CallArgs sub;
      sub.positional.assign(a.positional.begin() + first_arg + 1, a.positional.end());
      sub.keyword = a.keyword;
      r = call_test(test, subject, sub, host);
    }
    if (r == keep_if) out.push_back(x);
  }
  return Value::make_list(std::move(out));
}
Value f_select(const Value& v, CallArgs& a, FilterHost& h) { return select_impl(v, a, h, false, true); }
Value f_reject(const Value& v, CallArgs& a, FilterHost& h) { return select_impl(v, a, h, false, false); }
Value f_selectattr(const Value& v, CallArgs& a, FilterHost& h) { return select_impl(v, a, h, true, true); }
Value f_rejectattr(const Value& v, CallArgs& a, FilterHost& h) { return select_impl(v, a, h, true, false); }

}  // namespace

Value attr_path(const Value& item, const std::string& path) { return attr_path_impl(item, path); }

void add_sequence_filters(std::map<std::string, FilterFn>& into) {
  const std::pair<const char*, FilterFn> fs[] = {{"reverse", f_reverse},
                                                 {"sort", f_sort},
                                                 {"dictsort", f_dictsort},
                                                 {"unique", f_unique},
                                                 {"min", f_min},
                                                 {"max", f_max},
                                                 {"sum", f_sum},
                                                 {"batch", f_batch},
                                                 {"map", f_map},
                                                 {"select", f_select},
                                                 {"reject", f_reject},
                                                 {"selectattr", f_selectattr},
                                                 {"rejectattr", f_rejectattr}};
  for (const auto& [name, fn] : fs) into[name] = fn;
}

}  // namespace loratune::jinja
