// Expression parsing with jinja2's grammar and precedence (the grammar: jinja_parser.cpp).
#include "core/error.h"
#include "tokenizer/jinja_parser.h"

namespace loratune::jinja::parser_detail {

bool Parser::is_tuple_end(const std::vector<std::string>& extra) const {
  if (cur().type == Tok::VarEnd || cur().type == Tok::BlockEnd || cur().type == Tok::Eof) return true;
  if (cur().type == Tok::Op && cur().text == ")") return true;
  if (cur().type == Tok::Name)
    for (const auto& e : extra)
      if (cur().text == e) return true;
  return false;
}

ExprP Parser::parse_tuple(bool simplified, bool with_condexpr, const std::vector<std::string>& extra,
                          bool explicit_parens, bool with_ns) {
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

ExprP Parser::parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

ExprP Parser::parse_condexpr() {
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

ExprP Parser::parse_or() {
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

ExprP Parser::parse_and() {
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

ExprP Parser::parse_not() {
  if (is_name("not")) {
    Depth d(*this);
    auto e = make(EK::Not, cur().offset);
    next();
    e->args.push_back(parse_not());
    return e;
  }
  return parse_compare();
}

ExprP Parser::parse_compare() {
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

ExprP Parser::binary(const char* op, ExprP left, ExprP right, size_t off) {
  auto e = make(EK::Binary, off);
  e->name = op;
  e->args.push_back(std::move(left));
  e->args.push_back(std::move(right));
  return e;
}

ExprP Parser::parse_math1() {
  ExprP left = parse_concat();
  while (is_op("+") || is_op("-")) {
    const std::string op = cur().text;
    const size_t off = cur().offset;
    next();
    left = binary(op.c_str(), std::move(left), parse_concat(), off);
  }
  return left;
}

ExprP Parser::parse_concat() {
  const size_t off = cur().offset;
  ExprP first = parse_math2();
  if (!is_op("~")) return first;
  auto e = make(EK::Concat, off);
  e->args.push_back(std::move(first));
  while (skip_op("~")) e->args.push_back(parse_math2());
  return e;
}

ExprP Parser::parse_math2() {
  ExprP left = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    const std::string op = cur().text;
    const size_t off = cur().offset;
    next();
    left = binary(op.c_str(), std::move(left), parse_pow(), off);
  }
  return left;
}

ExprP Parser::parse_pow() {
  ExprP left = parse_unary(true);
  while (is_op("**")) {
    const size_t off = cur().offset;
    next();
    left = binary("**", std::move(left), parse_unary(true), off);
  }
  return left;
}

ExprP Parser::parse_unary(bool with_filter) {
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

ExprP Parser::parse_primary(bool with_ns) {
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

ExprP Parser::parse_postfix(ExprP node) {
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

ExprP Parser::parse_filter_expr(ExprP node) {
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

ExprP Parser::parse_subscript(ExprP node) {
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

ExprP Parser::parse_subscribed() {
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

void Parser::parse_call_args(Expr& e) {
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

ExprP Parser::parse_call(ExprP node) {
  auto e = make(EK::Call, node->offset);  // errors inside the call point at the callee
  e->args.push_back(std::move(node));
  parse_call_args(*e);
  return e;
}

ExprP Parser::parse_filter(ExprP node, bool start_inline) {
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

ExprP Parser::parse_test(ExprP node) {
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

}  // namespace loratune::jinja::parser_detail
