// The Jinja interpreter. Scoping follows jinja2: each for-loop iteration, macro call and with block gets a
// fresh scope over the enclosing one, so a `set` inside them is gone afterwards (namespace() objects are how
// templates carry state out); `if` opens no scope. Globals (raise_exception, strftime_now, namespace, dict,
// range) sit below the render variables, which sit below the template's top-level assignments.
#include "tokenizer/jinja_render.h"

#include <ctime>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/jinja_builtins.h"

namespace loratune::jinja {

namespace {

struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
};
using ScopeP = std::shared_ptr<Scope>;

// raise_exception(message), unwound to the Call expression that knows the position.
struct RaiseSignal {
  std::string message;
};

struct MacroDef {
  const Node* node;
  ScopeP closure;
};

const char* kLimitHint =
    "the template (or its input) is too large for the limits of the chat template renderer";

class Interpreter : public FilterHost {
 public:
  Interpreter(const Template& t, const ChatTemplateLimits& lim, std::vector<std::pair<size_t, size_t>>* spans)
      : t_(t), src_(t.src), lim_(lim), spans_(spans) {}

  std::string run(const Value& context) {
    auto globals = std::make_shared<Scope>();
    install_globals(*globals);
    auto root = std::make_shared<Scope>();
    root->parent = globals;
    if (context.kind == Kind::Dict)
      for (const auto& kv : *context.dict) root->vars[to_str(kv.first)] = kv.second;
    exec(t_.body, root);
    return std::move(out_);
  }

  Value call(const Value& callee, CallArgs& args) override {
    if (callee.kind == Kind::Callable) return (*callee.fn)(args);
    if (callee.is_undefined()) fail_undefined(callee);
    throw EvalError("'" + type_name(callee) + "' object is not callable");
  }

 private:
  enum class Flow { Normal, Break, Continue };

  void emit(const std::string& s) {
    if (out_.size() + s.size() > lim_.max_output_bytes)
      fail_input(
          src_.name + ": the rendered text exceeds " + std::to_string(lim_.max_output_bytes) + " bytes",
          kLimitHint);
    out_ += s;
  }

  [[noreturn]] void fail_at(size_t offset, const std::string& what) { src_.fail(offset, what); }

  // ---------------------------------------------------------------------------------------------------
  // Globals.

  void install_globals(Scope& g) {
    g.vars["raise_exception"] = Value::callable([](CallArgs& a) -> Value {
      const Value* m = a.get(0, "message");
      throw RaiseSignal{m ? to_str(*m) : std::string()};
    });
    g.vars["strftime_now"] = Value::callable([](CallArgs& a) -> Value {
      const Value* f = a.get(0, "format");
      if (!f || f->kind != Kind::String) throw EvalError("strftime_now() needs a format string");
      const std::time_t now = std::time(nullptr);
      std::tm tm{};
      localtime_r(&now, &tm);
      char buf[512];
      const size_t n = std::strftime(buf, sizeof buf, f->s.c_str(), &tm);
      return Value::string(std::string(buf, n));
    });
    auto make_dict = [](CallArgs& a, bool ns) {
      DictItems items;
      auto put = [&](const Value& k, const Value& v) {
        if (ns && k.kind == Kind::String && !k.s.empty() && k.s[0] == '_')
          throw EvalError(
              "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" + k.s +
              "'");
        for (auto& kv : items)
          if (equals(kv.first, k)) {
            kv.second = v;
            return;
          }
        items.emplace_back(k, v);
      };
      if (a.positional.size() > 1) throw EvalError("expected at most 1 positional argument");
      if (!a.positional.empty()) {
        const Value& init = a.positional[0];
        if (init.kind == Kind::Dict || init.kind == Kind::Namespace) {
          for (const auto& kv : *init.dict) put(kv.first, kv.second);
        } else {
          for (const auto& pair : iterate(init)) {
            if (!pair.is_sequence() || pair.list->size() != 2)
              throw EvalError("dictionary update sequence element has the wrong length; 2 is required");
            put((*pair.list)[0], (*pair.list)[1]);
          }
        }
      }
      for (const auto& kv : a.keyword) put(Value::string(kv.first), kv.second);
      return ns ? Value::make_namespace(std::move(items)) : Value::make_dict(std::move(items));
    };
    g.vars["namespace"] = Value::callable([make_dict](CallArgs& a) { return make_dict(a, true); });
    g.vars["dict"] = Value::callable([make_dict](CallArgs& a) { return make_dict(a, false); });
    const int64_t max_range = lim_.max_range;
    g.vars["range"] = Value::callable([max_range](CallArgs& a) {
      if (!a.keyword.empty()) throw EvalError("range() takes no keyword arguments");
      std::vector<int64_t> p;
      for (const auto& v : a.positional) {
        if (v.kind != Kind::Int && v.kind != Kind::Bool)
          throw EvalError("'" + type_name(v) + "' object cannot be interpreted as an integer");
        p.push_back(v.kind == Kind::Bool ? v.b : v.i);
      }
      if (p.empty() || p.size() > 3) throw EvalError("range expected 1 to 3 arguments");
      const int64_t start = p.size() == 1 ? 0 : p[0], stop = p.size() == 1 ? p[0] : p[1];
      const int64_t step = p.size() == 3 ? p[2] : 1;
      if (step == 0) throw EvalError("range() arg 3 must not be zero");
      List out;
      for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
        if (static_cast<int64_t>(out.size()) >= max_range)
          throw EvalError("range() is limited to " + std::to_string(max_range) + " items in the sandbox");
        out.push_back(Value::integer(k));
      }
      return Value::make_list(std::move(out));
    });
  }

  // ---------------------------------------------------------------------------------------------------
  // Statements.

  Flow exec(const Body& body, ScopeP& scope) {
    for (const auto& n : body) {
      const Flow f = exec_node(*n, scope);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

  std::string capture(const Body& body, ScopeP& scope) {
    std::string saved;
    saved.swap(out_);
    ++capturing_;
    try {
      exec(body, scope);
    } catch (...) {
      --capturing_;
      out_.swap(saved);
      throw;
    }
    --capturing_;
    out_.swap(saved);
    return saved;
  }

  Value apply_filters(const Expr* chain, Value subject, const ScopeP& scope) {
    if (!chain) return subject;
    // The chain is nested with the innermost (first-applied) filter deepest; its subject slot is null.
    std::vector<const Expr*> filters;
    for (const Expr* e = chain; e; e = e->args[0].get()) filters.push_back(e);
    for (auto it = filters.rbegin(); it != filters.rend(); ++it) subject = filter(**it, subject, scope);
    return subject;
  }

  Flow exec_node(const Node& n, ScopeP& scope) {
    switch (n.kind) {
      case NK::Data: emit(n.text); return Flow::Normal;
      case NK::Output: {
        const Value v = eval(*n.exprs[0], scope);
        std::string text;
        try {
          text = to_str(v);
        } catch (const EvalError& e) {
          fail_at(n.offset, e.what());
        }
        emit(text);
        return Flow::Normal;
      }
      case NK::If:
        for (size_t k = 0; k < n.exprs.size(); ++k)
          if (eval(*n.exprs[k], scope).truthy()) return exec(n.bodies[k], scope);
        if (n.bodies.size() > n.exprs.size()) return exec(n.bodies.back(), scope);
        return Flow::Normal;
      case NK::For: return exec_for(n, scope);
      case NK::Set: assign(*n.exprs[0], eval(*n.exprs[1], scope), scope); return Flow::Normal;
      case NK::SetBlock: {
        Value v = Value::string(capture(n.bodies[0], scope));
        assign(*n.exprs[0], apply_filters(n.exprs[1].get(), v, scope), scope);
        return Flow::Normal;
      }
      case NK::FilterBlock: {
        Value v = Value::string(capture(n.bodies[0], scope));
        emit(to_str(apply_filters(n.exprs[0].get(), v, scope)));
        return Flow::Normal;
      }
      case NK::Macro: {
        macros_.push_back(std::make_unique<MacroDef>(MacroDef{&n, scope}));
        MacroDef* def = macros_.back().get();
        scope->vars[n.text] = Value::callable([this, def](CallArgs& a) { return call_macro(*def, a); });
        return Flow::Normal;
      }
      case NK::With: {
        auto inner = std::make_shared<Scope>();
        inner->parent = scope;
        const size_t half = n.exprs.size() / 2;
        for (size_t k = 0; k < half; ++k) assign(*n.exprs[k], eval(*n.exprs[half + k], scope), inner);
        return exec(n.bodies[0], inner);
      }
      case NK::Break: return Flow::Break;
      case NK::Continue: return Flow::Continue;
      case NK::Generation: {
        const size_t begin = out_.size();
        const Flow f = exec(n.bodies[0], scope);
        if (spans_ && capturing_ == 0) spans_->emplace_back(begin, out_.size());
        return f;
      }
      case NK::CallBlock: {
        macros_.push_back(std::make_unique<MacroDef>(MacroDef{&n, scope}));
        MacroDef* def = macros_.back().get();
        const Value caller = Value::callable([this, def](CallArgs& a) { return call_macro(*def, a); });
        const Expr& call_expr = *n.exprs[0];
        const Value callee = eval(*call_expr.args[0], scope);
        CallArgs a = args_of(call_expr, 1, scope);
        a.keyword.emplace_back("caller", caller);
        Value out;
        try {
          out = call(callee, a);
        } catch (const EvalError& e) {
          fail_at(call_expr.offset, e.what());
        }
        std::string text;
        try {
          text = to_str(out);
        } catch (const EvalError& e) {
          fail_at(n.offset, e.what());
        }
        emit(text);
        return Flow::Normal;
      }
    }
    return Flow::Normal;
  }

  void assign(const Expr& target, const Value& v, const ScopeP& scope) {
    if (target.kind == EK::Name) {
      scope->vars[target.name] = v;
      return;
    }
    if (target.kind == EK::Getattr) {
      const Value ns = lookup(target.args[0]->name, scope);
      if (ns.kind != Kind::Namespace)
        fail_at(target.offset, "cannot assign attribute on non-namespace object");
      if (!target.name.empty() && target.name[0] == '_')
        fail_at(target.offset,
                "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" +
                    target.name + "'");
      for (auto& kv : *ns.dict)
        if (kv.first.kind == Kind::String && kv.first.s == target.name) {
          kv.second = v;
          return;
        }
      ns.dict->emplace_back(Value::string(target.name), v);
      return;
    }
    // Tuple unpacking.
    List items;
    try {
      items = iterate(v);
    } catch (const EvalError& e) {
      fail_at(target.offset, "cannot unpack non-iterable " + type_name(v) + " object");
    }
    if (items.size() != target.args.size())
      fail_at(target.offset,
              items.size() > target.args.size()
                  ? "too many values to unpack (expected " + std::to_string(target.args.size()) + ")"
                  : "not enough values to unpack (expected " + std::to_string(target.args.size()) + ", got " +
                        std::to_string(items.size()) + ")");
    for (size_t k = 0; k < items.size(); ++k) assign(*target.args[k], items[k], scope);
  }

  Flow exec_for(const Node& n, ScopeP& scope) {
    const Value seq = eval(*n.exprs[1], scope);
    List all;
    try {
      all = iterate(seq);
    } catch (const EvalError& e) {
      fail_at(n.exprs[1]->offset, e.what());
    }
    List items;
    if (n.exprs[2]) {
      for (const auto& x : all) {
        auto probe = std::make_shared<Scope>();
        probe->parent = scope;
        assign(*n.exprs[0], x, probe);
        if (eval(*n.exprs[2], probe).truthy()) items.push_back(x);
      }
    } else {
      items = std::move(all);
    }
    if (items.empty()) {
      exec(n.bodies[1], scope);
      return Flow::Normal;
    }
    const int64_t len = static_cast<int64_t>(items.size());
    auto last_changed = std::make_shared<Value>(Value::undefined());
    bool completed = false;
    for (int64_t k = 0; k < len; ++k) {
      if (++iterations_ > lim_.max_loop_iterations)
        fail_input(src_.where(n.offset) + ": the template ran more than " +
                       std::to_string(lim_.max_loop_iterations) + " loop iterations",
                   kLimitHint);
      auto inner = std::make_shared<Scope>();
      inner->parent = scope;
      assign(*n.exprs[0], items[k], inner);
      DictItems loop;
      auto put = [&](const char* key, Value v) { loop.emplace_back(Value::string(key), std::move(v)); };
      put("index", Value::integer(k + 1));
      put("index0", Value::integer(k));
      put("revindex", Value::integer(len - k));
      put("revindex0", Value::integer(len - k - 1));
      put("first", Value::boolean(k == 0));
      put("last", Value::boolean(k == len - 1));
      put("length", Value::integer(len));
      put("depth", Value::integer(1));
      put("depth0", Value::integer(0));
      put("previtem", k > 0 ? items[k - 1] : Value::undefined("there is no previous item"));
      put("nextitem", k + 1 < len ? items[k + 1] : Value::undefined("there is no next item"));
      put("cycle", Value::callable([k](CallArgs& a) {
            if (a.positional.empty()) throw EvalError("no items for cycling given");
            return a.positional[k % static_cast<int64_t>(a.positional.size())];
          }));
      put("changed", Value::callable([last_changed](CallArgs& a) {
            Value now = Value::make_list(a.positional);
            if (!last_changed->is_undefined() && equals(*last_changed, now)) return Value::boolean(false);
            *last_changed = now;
            return Value::boolean(true);
          }));
      inner->vars["loop"] = Value::make_namespace(std::move(loop));
      const Flow f = exec(n.bodies[0], inner);
      if (f == Flow::Normal) completed = true;
      if (f == Flow::Break) break;
    }
    // jinja2 clears its "run the else block" flag at the end of the body, which break and continue skip.
    if (!completed) exec(n.bodies[1], scope);
    return Flow::Normal;
  }

  Value call_macro(const MacroDef& def, CallArgs& a) {
    const Node& m = *def.node;
    if (++call_depth_ > lim_.max_call_depth) {
      --call_depth_;
      throw EvalError("macro calls nest deeper than " + std::to_string(lim_.max_call_depth) + " levels");
    }
    struct Guard {
      int& d;
      ~Guard() { --d; }
    } guard{call_depth_};
    auto scope = std::make_shared<Scope>();
    scope->parent = def.closure;
    const size_t np = m.params.size();
    if (a.positional.size() > np)
      throw EvalError("macro '" + m.text + "' takes not more than " + std::to_string(np) + " argument(s)");
    std::vector<bool> bound(np, false);
    for (size_t k = 0; k < a.positional.size(); ++k) {
      scope->vars[m.params[k]] = a.positional[k];
      bound[k] = true;
    }
    for (const auto& kv : a.keyword) {
      if (kv.first == "caller" && m.kind == NK::Macro) {
        scope->vars["caller"] = kv.second;
        continue;
      }
      size_t k = 0;
      while (k < np && m.params[k] != kv.first) ++k;
      if (k == np) throw EvalError("macro '" + m.text + "' takes no keyword argument '" + kv.first + "'");
      scope->vars[kv.first] = kv.second;
      bound[k] = true;
    }
    const size_t first_default = np - m.defaults.size();
    for (size_t k = 0; k < np; ++k) {
      if (bound[k]) continue;
      scope->vars[m.params[k]] = k >= first_default
                                     ? eval(*m.defaults[k - first_default], scope)
                                     : Value::undefined("parameter '" + m.params[k] + "' was not provided");
    }
    Value out = Value::string(capture(m.bodies[0], scope));
    out.safe_markup = true;
    return out;
  }

  // ---------------------------------------------------------------------------------------------------
  // Expressions.

  Value lookup(const std::string& name, const ScopeP& scope) {
    for (const Scope* s = scope.get(); s; s = s->parent.get()) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return it->second;
    }
    return Value::undefined("'" + name + "' is undefined");
  }

  CallArgs args_of(const Expr& e, size_t first, const ScopeP& scope) {
    CallArgs a;
    for (size_t k = first; k < e.args.size(); ++k) a.positional.push_back(eval(*e.args[k], scope));
    for (const auto& kv : e.kwargs) a.keyword.emplace_back(kv.first, eval(*kv.second, scope));
    return a;
  }

  Value filter(const Expr& e, const Value& subject, const ScopeP& scope) {
    CallArgs a = args_of(e, 1, scope);
    try {
      return call_filter(e.name, subject, a, *this);
    } catch (const EvalError& x) {
      fail_at(e.offset, std::string(x.what()) + " (in filter '" + e.name + "')");
    }
  }

  Value eval(const Expr& e, const ScopeP& scope) {
    try {
      return eval_inner(e, scope);
    } catch (const EvalError& x) {
      fail_at(e.offset, x.what());
    } catch (const RaiseSignal& r) {
      throw ChatTemplateRaised(src_.where(e.offset) + ": the template raised an error: " + r.message,
                               "the conversation does not fit this chat template (the template's own check)",
                               r.message);
    }
  }

  Value eval_inner(const Expr& e, const ScopeP& scope) {
    switch (e.kind) {
      case EK::Const: return e.value;
      case EK::Name: return lookup(e.name, scope);
      case EK::Getattr: return get_attr(eval(*e.args[0], scope), e.name);
      case EK::Getitem: {
        const Value obj = eval(*e.args[0], scope);
        const Expr& k = *e.args[1];
        if (k.kind == EK::Slice) {
          auto part = [&](size_t i) { return k.args[i] ? eval(*k.args[i], scope) : Value::none(); };
          return get_slice(obj, part(0), part(1), part(2));
        }
        return get_item(obj, eval(k, scope));
      }
      case EK::Slice: throw EvalError("a slice is only valid inside []");
      case EK::Call: {
        const Value callee = eval(*e.args[0], scope);
        CallArgs a = args_of(e, 1, scope);
        return call(callee, a);
      }
      case EK::Filter: return filter(e, eval(*e.args[0], scope), scope);
      case EK::Test: {
        const Value subject = eval(*e.args[0], scope);
        CallArgs a = args_of(e, 1, scope);
        return Value::boolean(call_test(e.name, subject, a, *this));
      }
      case EK::Not: return Value::boolean(!eval(*e.args[0], scope).truthy());
      case EK::Neg:
      case EK::Pos: {
        const Value v = eval(*e.args[0], scope);
        if (v.is_undefined()) fail_undefined(v);
        if (v.kind == Kind::Float) return Value::number(e.kind == EK::Neg ? -v.f : v.f);
        if (v.kind == Kind::Int || v.kind == Kind::Bool) {
          const int64_t x = v.kind == Kind::Bool ? v.b : v.i;
          return Value::integer(e.kind == EK::Neg ? -x : x);
        }
        throw EvalError("bad operand type for unary " + std::string(e.kind == EK::Neg ? "-" : "+") + ": '" +
                        type_name(v) + "'");
      }
      case EK::Binary: {
        Value l = eval(*e.args[0], scope);
        Value r = eval(*e.args[1], scope);
        // str + str appends to the temporary left operand (templates chain '<|im_start|>' + role + ...).
        if (e.name == "+" && l.kind == Kind::String && r.kind == Kind::String) {
          if (l.s.size() + r.s.size() > kMaxStringBytes) throw EvalError("the concatenated string is too long");
          l.s += r.s;
          l.safe_markup = false;
          return l;
        }
        return binary_op(e.name, l, r);
      }
      case EK::Compare: {
        Value left = eval(*e.args[0], scope);
        for (size_t k = 0; k < e.ops.size(); ++k) {
          Value right = eval(*e.args[k + 1], scope);
          if (!compare(e.ops[k], left, right)) return Value::boolean(false);
          left = std::move(right);
        }
        return Value::boolean(true);
      }
      case EK::And: {
        Value l = eval(*e.args[0], scope);
        return l.truthy() ? eval(*e.args[1], scope) : l;
      }
      case EK::Or: {
        Value l = eval(*e.args[0], scope);
        return l.truthy() ? l : eval(*e.args[1], scope);
      }
      case EK::Concat: {
        std::string s;
        for (const auto& a : e.args) {
          s += to_str(eval(*a, scope));
          if (s.size() > kMaxStringBytes) throw EvalError("the concatenated string is too long");
        }
        return Value::string(s);
      }
      case EK::CondExpr:
        if (eval(*e.args[0], scope).truthy()) return eval(*e.args[1], scope);
        return e.args[2]
                   ? eval(*e.args[2], scope)
                   : Value::undefined("the inline if-expression evaluated to false and there is no else");
      case EK::List:
      case EK::Tuple: {
        List items;
        for (const auto& a : e.args) items.push_back(eval(*a, scope));
        return e.kind == EK::List ? Value::make_list(std::move(items)) : Value::make_tuple(std::move(items));
      }
      case EK::Dict: {
        DictItems items;
        for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
          Value key = eval(*e.args[k], scope);
          Value val = eval(*e.args[k + 1], scope);
          bool replaced = false;
          for (auto& kv : items)
            if (equals(kv.first, key)) {
              kv.second = val;
              replaced = true;
            }
          if (!replaced) items.emplace_back(std::move(key), std::move(val));
        }
        return Value::make_dict(std::move(items));
      }
    }
    throw EvalError("unknown expression");
  }

  const Template& t_;
  const Source& src_;
  ChatTemplateLimits lim_;
  std::vector<std::pair<size_t, size_t>>* spans_;
  std::string out_;
  int capturing_ = 0;
  int call_depth_ = 0;
  int64_t iterations_ = 0;
  std::vector<std::unique_ptr<MacroDef>> macros_;
};

}  // namespace

std::string render_template(const Template& tpl, const Value& context, const ChatTemplateLimits& limits,
                            std::vector<std::pair<size_t, size_t>>* generation_spans) {
  Interpreter in(tpl, limits, generation_spans);
  try {
    return in.run(context);
  } catch (const EvalError& e) {  // a failure outside any expression (none is known; kept as a safety net)
    fail_input(tpl.src.name + ": " + e.what(), "fix the chat template or its input");
  }
}

}  // namespace loratune::jinja
