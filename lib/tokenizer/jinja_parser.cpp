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
#include "tokenizer/jinja_parser.h"

namespace loratune::jinja {

namespace parser_detail {

bool Parser::at_end_tag(const std::vector<std::string>& ends) const {
  if (cur().type != Tok::BlockBegin || look().type != Tok::Name) return false;
  for (const auto& e : ends)
    if (look().text == e) return true;
  return false;
}

Body Parser::subparse(const std::vector<std::string>& ends) {
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
Body Parser::statements(const std::vector<std::string>& ends, const std::string& opened, size_t open_offset,
                        bool drop) {
  skip_op(":");
  expect(Tok::BlockEnd, "end of statement block '%}'");
  Body body = subparse(ends);
  if (cur().type == Tok::Eof) {
    std::string list;
    for (size_t k = 0; k < ends.size(); ++k) list += (k ? " or '" : "'") + ends[k] + "'";
    src_.fail(open_offset,
              "unexpected end of template: expected " + list + " to close the '" + opened + "' opened here");
  }
  if (drop) next();
  return body;
}

NodeP Parser::node(NK kind, size_t offset) {
  auto n = std::make_unique<Node>();
  n->kind = kind;
  n->offset = offset;
  return n;
}

NodeP Parser::parse_statement() {
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

void Parser::parse_signature(Node& n) {
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
ExprP Parser::parse_assign_target(bool with_tuple, const std::vector<std::string>& extra_end, bool with_ns) {
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

}  // namespace parser_detail

std::unique_ptr<Template> parse_template(Source src) {
  auto tpl = std::make_unique<Template>();
  tpl->src = std::move(src);
  parser_detail::Parser parser(tpl->src, lex(tpl->src));
  tpl->body = parser.parse_all();
  return tpl;
}

}  // namespace loratune::jinja
