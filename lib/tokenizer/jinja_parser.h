// The recursive-descent parser behind parse_template (jinja_ast.h), shared by jinja_parser.cpp (statements)
// and jinja_expr_parser.cpp (expressions). Internal to the tokenizer layer.
#pragma once
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/jinja_ast.h"

namespace loratune::jinja::parser_detail {

constexpr int kMaxNesting = 200;  // expression/statement nesting: bounds the parser's and interpreter's stack

inline std::string describe(const Token& t) {
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

  // Statements (jinja_parser.cpp).
  bool at_end_tag(const std::vector<std::string>& ends) const;
  Body subparse(const std::vector<std::string>& ends);
  // Skips an optional ':' and the '%}' of the opening tag, parses until one of `ends`; the end tag's name is
  // current on return (consumed when drop).
  Body statements(const std::vector<std::string>& ends, const std::string& opened, size_t open_offset,
                  bool drop);
  NodeP node(NK kind, size_t offset);
  NodeP parse_statement();
  void parse_signature(Node& n);
  // Names, tuples of names, or (for set) namespace.attr.
  ExprP parse_assign_target(bool with_tuple, const std::vector<std::string>& extra_end, bool with_ns = false);

  // Expressions (jinja_expr_parser.cpp).
  bool is_tuple_end(const std::vector<std::string>& extra) const;
  ExprP parse_tuple(bool simplified, bool with_condexpr, const std::vector<std::string>& extra,
                    bool explicit_parens, bool with_ns = false);
  ExprP parse_expression(bool with_condexpr);
  ExprP parse_condexpr();
  ExprP parse_or();
  ExprP parse_and();
  ExprP parse_not();
  ExprP parse_compare();
  ExprP binary(const char* op, ExprP left, ExprP right, size_t off);
  ExprP parse_math1();
  ExprP parse_concat();
  ExprP parse_math2();
  ExprP parse_pow();
  ExprP parse_unary(bool with_filter);
  ExprP parse_primary(bool with_ns);
  ExprP parse_postfix(ExprP node);
  ExprP parse_filter_expr(ExprP node);
  ExprP parse_subscript(ExprP node);
  ExprP parse_subscribed();
  void parse_call_args(Expr& e);
  ExprP parse_call(ExprP node);
  ExprP parse_filter(ExprP node, bool start_inline);
  ExprP parse_test(ExprP node);

  const Source& src_;
  std::vector<Token> t_;
  size_t p_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace loratune::jinja::parser_detail
