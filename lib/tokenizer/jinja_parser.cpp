// Recursive-descent parser with jinja2's grammar and precedence (jinja2/parser.py):
//   condexpr: or ["if" or ["else" condexpr]]      or: and ("or" and)*      and: not ("and" not)*
//   not: "not" not | compare                       compare: math1 ((==|!=|<|<=|>|>=|in|not in) math1)*
//   math1: concat ((+|-) concat)*                  concat: math2 ("~" math2)*
//   math2: pow ((*|/|//|%) pow)*                   pow: unary ("**" unary)*
//   unary: ("-"|"+") unary-without-filters | primary, then postfix (.x [x] (args)), then filters/tests.
// Statements: if/elif/else, for (tuple targets, "if" filter, else), set (=, tuple, ns.attr, block form),
// macro, filter blocks, with, break/continue (loopcontrols), print, and transformers' generation tag.
// Loading other templates (include/import/from/extends/block) is refused: the sandbox has no files.
#include <set>

#include "core/error.h"
#include "tokenizer/jinja_ast.h"

namespace loratune::jinja {

namespace {

constexpr int kMaxNesting = 200;  // expression/statement nesting: bounds the parser's and interpreter's stack

std::string describe(const Token& t) {
  switch (t.type) {
    case Tok::Data: return "template data";
    case Tok::VarBegin: return "'{{'";
    case Tok::VarEnd: return "end of print statement '}}'";
    case Tok::BlockBegin: return "'{%'";
    case Tok::BlockEnd: return "end of statement block '%}'";
    case Tok::Name: return "'" + t.text + "'";
    case Tok::String: return "string literal";
    case Tok::Int:
    case Tok::Float: return "number '" + t.text + "'";
    case Tok::Op: return "'" + t.text + "'";
    case Tok::Eof: return "end of template";
  }
  return "token";
}

class Parser {
 public:
  Parser(const Source& src, std::vector<Token> toks) : src_(src), t_(std::move(toks)) {}

  Body parse_all() {
    Body body = subparse({});
    if (cur().type != Tok::Eof) fail_here("unexpected " + describe(cur()));
    return body;
  }

 private:
  const Token& cur() const { return t_[p_]; }
  const Token& look(size_t n = 1) const { return t_[std::min(p_ + n, t_.size() - 1)]; }
  void next() {
    if (p_ + 1 < t_.size()) ++p_;
  }
  [[noreturn]] void fail_here(const std::string& what) { src_.fail(cur().offset, what); }
  bool is_op(const char* op) const { return cur().type == Tok::Op && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == Tok::Name && cur().text == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail_here(std::string("expected '") + op + "', got " + describe(cur()));
  }
  void expect(Tok type, const std::string& what) {
    if (cur().type != type) fail_here("expected " + what + ", got " + describe(cur()));
    next();
  }
  std::string expect_name() {
    if (cur().type != Tok::Name) fail_here("expected a name, got " + describe(cur()));
    std::string n = cur().text;
    next();
    return n;
  }

  struct Depth {
    explicit Depth(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxNesting)
        p_.fail_here("the template nests deeper than " + std::to_string(kMaxNesting) + " levels");
    }
    ~Depth() { --p_.depth_; }
    Parser& p_;
  };

  ExprP make(EK kind, size_t offset) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->offset = offset;
    return e;
  }

  // ---------------------------------------------------------------------------------------------------
  // Statements.

  bool at_end_tag(const std::vector<std::string>& ends) const {
    if (cur().type != Tok::BlockBegin || look().type != Tok::Name) return false;
    for (const auto& e : ends)
      if (look().text == e) return true;
    return false;
  }

  Body subparse(const std::vector<std::string>& ends) {
    Body body;
    while (cur().type != Tok::Eof) {
      if (cur().type == Tok::Data) {
        auto n = std::make_unique<Node>();
        n->kind = NK::Data;
        n->offset = cur().offset;
        n->text = cur().text;
        body.push_back(std::move(n));
        next();
      } else if (cur().type == Tok::VarBegin) {
        auto n = std::make_unique<Node>();
        n->kind = NK::Output;
        n->offset = cur().offset;
        next();
        n->exprs.push_back(parse_tuple(false, true, {}, false));
        expect(Tok::VarEnd, "end of print statement '}}'");
        body.push_back(std::move(n));
      } else if (cur().type == Tok::BlockBegin) {
        if (at_end_tag(ends)) {
          next();  // leaves the end tag's name as the current token
          return body;
        }
        next();
        Depth d(*this);
        body.push_back(parse_statement());
        expect(Tok::BlockEnd, "end of statement block '%}'");
      } else {
        fail_here("unexpected " + describe(cur()));
      }
    }
    return body;
  }

  // Skips an optional ':' and the '%}' of the opening tag, parses until one of `ends`; the end tag's name is
  // current on return (consumed when drop).
  Body statements(const std::vector<std::string>& ends, const std::string& opened, size_t open_offset,
                  bool drop) {
    skip_op(":");
    expect(Tok::BlockEnd, "end of statement block '%}'");
    Body body = subparse(ends);
    if (cur().type == Tok::Eof) {
      std::string list;
      for (size_t k = 0; k < ends.size(); ++k) list += (k ? " or '" : "'") + ends[k] + "'";
      src_.fail(open_offset, "unexpected end of template: expected " + list + " to close the '" + opened +
                                 "' opened here");
    }
    if (drop) next();
    return body;
  }

  NodeP node(NK kind, size_t offset) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->offset = offset;
    return n;
  }

  NodeP parse_statement() {
    if (cur().type != Tok::Name) fail_here("expected a tag name, got " + describe(cur()));
    const std::string tag = cur().text;
    const size_t off = cur().offset;
    static const std::set<std::string> kLoading = {"include", "import", "from", "extends", "block"};
    if (kLoading.count(tag))
      fail_here("'" + tag +
                "' is not supported: a chat template renders alone, without loading other templates");
    next();
    if (tag == "if") {
      auto n = node(NK::If, off);
      while (true) {
        n->exprs.push_back(parse_tuple(false, false, {}, false));
        n->bodies.push_back(statements({"elif", "else", "endif"}, "if", off, false));
        const std::string t = cur().text;
        next();
        if (t == "elif") continue;
        if (t == "else") n->bodies.push_back(statements({"endif"}, "if", off, true));
        break;
      }
      return n;
    }
    if (tag == "for") {
      auto n = node(NK::For, off);
      n->exprs.push_back(parse_assign_target(true, {"in"}));
      if (!skip_name("in")) fail_here("expected 'in', got " + describe(cur()));
      n->exprs.push_back(parse_tuple(false, false, {"recursive"}, false));
      n->exprs.push_back(skip_name("if") ? parse_expression(true) : nullptr);
      if (is_name("recursive")) fail_here("recursive loops are not supported");
      ++loop_depth_;
      n->bodies.push_back(statements({"endfor", "else"}, "for", off, false));
      --loop_depth_;
      const std::string t = cur().text;
      next();
      n->bodies.push_back(t == "else" ? statements({"endfor"}, "for", off, true) : Body{});
      return n;
    }
    if (tag == "set") {
      ExprP target = parse_assign_target(true, {}, true);
      if (skip_op("=")) {
        auto n = node(NK::Set, off);
        n->exprs.push_back(std::move(target));
        n->exprs.push_back(parse_tuple(false, true, {}, false));
        return n;
      }
      auto n = node(NK::SetBlock, off);
      if (target->kind == EK::Tuple) src_.fail(target->offset, "a block set assigns one name");
      n->exprs.push_back(std::move(target));
      n->exprs.push_back(is_op("|") ? parse_filter(nullptr, false) : nullptr);
      n->bodies.push_back(statements({"endset"}, "set", off, true));
      return n;
    }
    if (tag == "macro") {
      auto n = node(NK::Macro, off);
      n->text = expect_name();
      parse_signature(*n);
      const int saved = loop_depth_;
      loop_depth_ = 0;
      n->bodies.push_back(statements({"endmacro"}, "macro", off, true));
      loop_depth_ = saved;
      return n;
    }
    if (tag == "filter") {
      auto n = node(NK::FilterBlock, off);
      n->exprs.push_back(parse_filter(nullptr, true));
      n->bodies.push_back(statements({"endfilter"}, "filter", off, true));
      return n;
    }
    if (tag == "with") {
      auto n = node(NK::With, off);
      std::vector<ExprP> targets, values;
      while (cur().type != Tok::BlockEnd) {
        if (!targets.empty()) expect_op(",");
        targets.push_back(parse_assign_target(true, {}));
        expect_op("=");
        values.push_back(parse_expression(true));
      }
      for (auto& t : targets) n->exprs.push_back(std::move(t));
      for (auto& v : values) n->exprs.push_back(std::move(v));
      n->bodies.push_back(statements({"endwith"}, "with", off, true));
      return n;
    }
    if (tag == "print") {
      auto n = node(NK::Output, off);
      n->exprs.push_back(parse_tuple(false, true, {}, false));
      return n;
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) src_.fail(off, "'" + tag + "' outside of a for loop");
      return node(tag == "break" ? NK::Break : NK::Continue, off);
    }
    if (tag == "generation") {
      auto n = node(NK::Generation, off);
      n->bodies.push_back(statements({"endgeneration"}, "generation", off, true));
      return n;
    }
    if (tag == "call") {
      // {% call(params) macro(args) %}body{% endcall %}: the macro gets the body as `caller`.
      auto n = node(NK::CallBlock, off);
      if (is_op("(")) parse_signature(*n);
      ExprP call = parse_expression(true);
      if (call->kind != EK::Call) src_.fail(call->offset, "expected a macro call after 'call'");
      n->exprs.push_back(std::move(call));
      const int saved = loop_depth_;
      loop_depth_ = 0;
      n->bodies.push_back(statements({"endcall"}, "call", off, true));
      loop_depth_ = saved;
      return n;
    }
    if (tag == "autoescape")
      src_.fail(off, "'autoescape' is not supported (transformers renders without escaping)");
    src_.fail(off, "unknown tag '" + tag + "'",
              "supported tags: if, for, set, macro, filter, with, print, break, continue, generation, raw");
  }

  void parse_signature(Node& n) {
    expect_op("(");
    while (!is_op(")")) {
      if (!n.params.empty()) expect_op(",");
      n.params.push_back(expect_name());
      if (skip_op("="))
        n.defaults.push_back(parse_expression(true));
      else if (!n.defaults.empty())
        fail_here("non-default argument follows default argument");
    }
    expect_op(")");
  }

  // Names, tuples of names, or (for set) namespace.attr.
  ExprP parse_assign_target(bool with_tuple, const std::vector<std::string>& extra_end,
                            bool with_ns = false) {
    const size_t off = cur().offset;
    ExprP target = with_tuple ? parse_tuple(true, true, extra_end, false, with_ns) : parse_primary(with_ns);
    auto check = [&](const Expr& e) {
      if (e.kind == EK::Name) {
        if (e.name == "true" || e.name == "false" || e.name == "none" || e.name == "True" ||
            e.name == "False" || e.name == "None")
          src_.fail(e.offset, "can't assign to a constant");
        return;
      }
      if (e.kind == EK::Getattr && with_ns && e.args[0]->kind == EK::Name) return;
      src_.fail(e.offset, "can't assign to this expression: expected a name");
    };
    if (target->kind == EK::Tuple) {
      for (auto& a : target->args) check(*a);
    } else {
      check(*target);
    }
    (void)off;
    return target;
  }

  // ---------------------------------------------------------------------------------------------------
  // Expressions.

  bool is_tuple_end(const std::vector<std::string>& extra) const {
    if (cur().type == Tok::VarEnd || cur().type == Tok::BlockEnd || cur().type == Tok::Eof) return true;
    if (cur().type == Tok::Op && cur().text == ")") return true;
    if (cur().type == Tok::Name)
      for (const auto& e : extra)
        if (cur().text == e) return true;
    return false;
  }

  ExprP parse_tuple(bool simplified, bool with_condexpr, const std::vector<std::string>& extra,
                    bool explicit_parens, bool with_ns = false) {
    const size_t off = cur().offset;
    std::vector<ExprP> args;
    bool is_tuple = false;
    while (true) {
      if (!args.empty()) expect_op(",");
      if (is_tuple_end(extra)) break;
      args.push_back(simplified ? parse_primary(with_ns) : parse_expression(with_condexpr));
      if (is_op(","))
        is_tuple = true;
      else
        break;
    }
    if (!is_tuple) {
      if (!args.empty()) return std::move(args[0]);
      if (!explicit_parens) fail_here("expected an expression, got " + describe(cur()));
    }
    auto e = make(EK::Tuple, off);
    e->args = std::move(args);
    return e;
  }

  ExprP parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

  ExprP parse_condexpr() {
    Depth d(*this);
    const size_t off = cur().offset;
    ExprP expr1 = parse_or();
    while (skip_name("if")) {
      ExprP cond = parse_or();
      ExprP other = skip_name("else") ? parse_condexpr() : nullptr;
      auto e = make(EK::CondExpr, off);
      e->args.push_back(std::move(cond));
      e->args.push_back(std::move(expr1));
      e->args.push_back(std::move(other));
      expr1 = std::move(e);
    }
    return expr1;
  }

  ExprP parse_or() {
    ExprP left = parse_and();
    while (is_name("or")) {
      const size_t off = cur().offset;
      next();
      auto e = make(EK::Or, off);
      e->args.push_back(std::move(left));
      e->args.push_back(parse_and());
      left = std::move(e);
    }
    return left;
  }

  ExprP parse_and() {
    ExprP left = parse_not();
    while (is_name("and")) {
      const size_t off = cur().offset;
      next();
      auto e = make(EK::And, off);
      e->args.push_back(std::move(left));
      e->args.push_back(parse_not());
      left = std::move(e);
    }
    return left;
  }

  ExprP parse_not() {
    if (is_name("not")) {
      Depth d(*this);
      auto e = make(EK::Not, cur().offset);
      next();
      e->args.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprP parse_compare() {
    const size_t off = cur().offset;
    ExprP expr = parse_math1();
    std::unique_ptr<Expr> cmp;
    while (true) {
      std::string op;
      if (cur().type == Tok::Op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                    cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
        op = cur().text;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && look().type == Tok::Name && look().text == "in") {
        op = "not in";
        next();
        next();
      } else {
        break;
      }
      if (!cmp) {
        cmp = make(EK::Compare, off);
        cmp->args.push_back(std::move(expr));
      }
      cmp->ops.push_back(op);
      cmp->args.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(expr);
  }

  ExprP binary(const char* op, ExprP left, ExprP right, size_t off) {
    auto e = make(EK::Binary, off);
    e->name = op;
    e->args.push_back(std::move(left));
    e->args.push_back(std::move(right));
    return e;
  }

  ExprP parse_math1() {
    ExprP left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const std::string op = cur().text;
      const size_t off = cur().offset;
      next();
      left = binary(op.c_str(), std::move(left), parse_concat(), off);
    }
    return left;
  }

  ExprP parse_concat() {
    const size_t off = cur().offset;
    ExprP first = parse_math2();
    if (!is_op("~")) return first;
    auto e = make(EK::Concat, off);
    e->args.push_back(std::move(first));
    while (skip_op("~")) e->args.push_back(parse_math2());
    return e;
  }

  ExprP parse_math2() {
    ExprP left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const std::string op = cur().text;
      const size_t off = cur().offset;
      next();
      left = binary(op.c_str(), std::move(left), parse_pow(), off);
    }
    return left;
  }

  ExprP parse_pow() {
    ExprP left = parse_unary(true);
    while (is_op("**")) {
      const size_t off = cur().offset;
      next();
      left = binary("**", std::move(left), parse_unary(true), off);
    }
    return left;
  }

  ExprP parse_unary(bool with_filter) {
    Depth d(*this);
    ExprP node;
    if (is_op("-") || is_op("+")) {
      auto e = make(is_op("-") ? EK::Neg : EK::Pos, cur().offset);
      next();
      e->args.push_back(parse_unary(false));
      node = std::move(e);
    } else {
      node = parse_primary(false);
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprP parse_primary(bool with_ns) {
    const Token& t = cur();
    const size_t off = t.offset;
    if (t.type == Tok::Name) {
      const std::string n = t.text;
      next();
      auto e = make(EK::Const, off);
      if (n == "true" || n == "True" || n == "false" || n == "False") {
        e->value = Value::boolean(n == "true" || n == "True");
        return e;
      }
      if (n == "none" || n == "None") {
        e->value = Value::none();
        return e;
      }
      e->kind = EK::Name;
      e->name = n;
      if (with_ns && is_op(".")) {
        next();
        auto g = make(EK::Getattr, off);
        g->name = expect_name();
        g->args.push_back(std::move(e));
        return g;
      }
      return e;
    }
    if (t.type == Tok::String) {
      std::string s;
      while (cur().type == Tok::String) {
        s += cur().text;
        next();
      }
      auto e = make(EK::Const, off);
      e->value = Value::string(s);
      return e;
    }
    if (t.type == Tok::Int || t.type == Tok::Float) {
      auto e = make(EK::Const, off);
      e->value = t.type == Tok::Int ? Value::integer(t.ival) : Value::number(t.fval);
      next();
      return e;
    }
    if (is_op("(")) {
      next();
      ExprP e = parse_tuple(false, true, {}, true);
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      next();
      auto e = make(EK::List, off);
      while (!is_op("]")) {
        if (!e->args.empty()) expect_op(",");
        if (is_op("]")) break;
        e->args.push_back(parse_expression(true));
      }
      expect_op("]");
      return e;
    }
    if (is_op("{")) {
      next();
      auto e = make(EK::Dict, off);
      while (!is_op("}")) {
        if (!e->args.empty()) expect_op(",");
        if (is_op("}")) break;
        e->args.push_back(parse_expression(true));
        expect_op(":");
        e->args.push_back(parse_expression(true));
      }
      expect_op("}");
      return e;
    }
    fail_here("unexpected " + describe(t) + ": expected an expression");
  }

  ExprP parse_postfix(ExprP node) {
    while (true) {
      if (is_op(".") || is_op("["))
        node = parse_subscript(std::move(node));
      else if (is_op("("))
        node = parse_call(std::move(node));
      else
        break;
    }
    return node;
  }

  ExprP parse_filter_expr(ExprP node) {
    while (true) {
      if (is_op("|"))
        node = parse_filter(std::move(node), false);
      else if (is_name("is"))
        node = parse_test(std::move(node));
      else if (is_op("("))
        node = parse_call(std::move(node));
      else
        break;
    }
    return node;
  }

  ExprP parse_subscript(ExprP node) {
    const size_t off = cur().offset;
    if (skip_op(".")) {
      if (cur().type == Tok::Name) {
        auto e = make(EK::Getattr, off);
        e->name = cur().text;
        next();
        e->args.push_back(std::move(node));
        return e;
      }
      if (cur().type != Tok::Int) fail_here("expected a name or number after '.', got " + describe(cur()));
      auto e = make(EK::Getitem, off);
      auto k = make(EK::Const, cur().offset);
      k->value = Value::integer(cur().ival);
      next();
      e->args.push_back(std::move(node));
      e->args.push_back(std::move(k));
      return e;
    }
    expect_op("[");
    std::vector<ExprP> args;
    while (!is_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    expect_op("]");
    auto e = make(EK::Getitem, off);
    e->args.push_back(std::move(node));
    if (args.size() == 1) {
      e->args.push_back(std::move(args[0]));
    } else {
      auto tup = make(EK::Tuple, off);
      tup->args = std::move(args);
      e->args.push_back(std::move(tup));
    }
    return e;
  }

  ExprP parse_subscribed() {
    const size_t off = cur().offset;
    std::vector<ExprP> parts;
    if (is_op(":")) {
      next();
      parts.push_back(nullptr);
    } else {
      ExprP e = parse_expression(true);
      if (!is_op(":")) return e;
      next();
      parts.push_back(std::move(e));
    }
    if (is_op(":") || is_op("]") || is_op(","))
      parts.push_back(nullptr);
    else
      parts.push_back(parse_expression(true));
    if (skip_op(":")) {
      if (is_op("]") || is_op(","))
        parts.push_back(nullptr);
      else
        parts.push_back(parse_expression(true));
    } else {
      parts.push_back(nullptr);
    }
    auto s = make(EK::Slice, off);
    s->args = std::move(parts);
    return s;
  }

  void parse_call_args(Expr& e) {
    expect_op("(");
    bool need_comma = false;
    while (!is_op(")")) {
      if (need_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (is_op("*") || is_op("**")) fail_here("'*' and '**' arguments are not supported");
      if (cur().type == Tok::Name && look().type == Tok::Op && look().text == "=") {
        const std::string key = cur().text;
        next();
        next();
        e.kwargs.emplace_back(key, parse_expression(true));
      } else {
        if (!e.kwargs.empty()) fail_here("a positional argument follows a keyword argument");
        e.args.push_back(parse_expression(true));
      }
      need_comma = true;
    }
    expect_op(")");
  }

  ExprP parse_call(ExprP node) {
    auto e = make(EK::Call, node->offset);  // errors inside the call point at the callee
    e->args.push_back(std::move(node));
    parse_call_args(*e);
    return e;
  }

  ExprP parse_filter(ExprP node, bool start_inline) {
    while (is_op("|") || start_inline) {
      if (!start_inline) next();
      start_inline = false;
      const size_t off = cur().offset;
      std::string name = expect_name();
      while (skip_op(".")) name += "." + expect_name();
      if (!has_filter(name)) src_.fail(off, "unknown or unsupported filter '" + name + "'");
      auto e = make(EK::Filter, off);
      e->name = name;
      e->args.push_back(std::move(node));
      if (is_op("(")) parse_call_args(*e);
      node = std::move(e);
    }
    return node;
  }

  ExprP parse_test(ExprP node) {
    const size_t is_off = cur().offset;
    next();  // "is"
    const bool negated = skip_name("not");
    const size_t off = cur().offset;
    std::string name = expect_name();
    while (skip_op(".")) name += "." + expect_name();
    if (!has_test(name)) src_.fail(off, "unknown or unsupported test '" + name + "'");
    auto e = make(EK::Test, off);
    e->name = name;
    e->args.push_back(std::move(node));
    if (is_op("(")) {
      parse_call_args(*e);
    } else if ((cur().type == Tok::Name || cur().type == Tok::String || cur().type == Tok::Int ||
                cur().type == Tok::Float || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail_here("you cannot chain multiple tests with 'is'");
      e->args.push_back(parse_postfix(parse_primary(false)));
    }
    if (!negated) return e;
    auto n = make(EK::Not, is_off);
    n->args.push_back(std::move(e));
    return n;
  }

  const Source& src_;
  std::vector<Token> t_;
  size_t p_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

std::unique_ptr<Template> parse_template(Source src) {
  auto tpl = std::make_unique<Template>();
  tpl->src = std::move(src);
  Parser parser(tpl->src, lex(tpl->src));
  tpl->body = parser.parse_all();
  return tpl;
}

}  // namespace loratune::jinja
