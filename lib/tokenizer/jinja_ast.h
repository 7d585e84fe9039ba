// Tokens and syntax tree of the Jinja engine behind chat_template.h. The lexer (jinja_lexer.cpp) applies
// jinja2's whitespace rules (trim_blocks, lstrip_blocks, "-" and "+" markers) while it splits the source,
// so Data nodes hold exactly the text jinja2 would output. Every token and node keeps the byte offset of
// its start in the newline-normalized source; Source::where turns it into "name:line:col".
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_value.h"

namespace loratune::jinja {

// The normalized template text and its name (a file path, for messages).
struct Source {
  std::string name;
  std::string text;  // "\r\n" and "\r" replaced by "\n", one trailing newline dropped (as jinja2 does)
  std::string where(size_t offset) const;  // "name:line:col" (col counts code points from 1)
  [[noreturn]] void fail(size_t offset, const std::string& what, const std::string& hint = {}) const;
};

enum class Tok { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
  Tok type;
  std::string text;  // Data text, name, unescaped string, operator, the number's source text
  size_t offset = 0;
  int64_t ival = 0;
  double fval = 0;
};

// Splits the template into tokens (comments dropped, raw blocks turned into Data).
std::vector<Token> lex(const Source& src);

enum class EK {
  Const,
  Name,
  Getattr,
  Getitem,
  Slice,
  Call,
  Filter,
  Test,
  Not,
  Neg,
  Pos,
  Binary,
  Compare,
  And,
  Or,
  Concat,
  CondExpr,
  List,
  Tuple,
  Dict
};

struct Expr;
using ExprP = std::unique_ptr<Expr>;

struct Expr {
  EK kind;
  size_t offset = 0;
  Value value;              // Const
  std::string name;         // Name, Getattr attribute, Filter/Test name, Binary op
  std::vector<ExprP> args;  // operands; Call: callee first; Filter/Test: subject first
                            // (null for a filter block); Slice: 3 (null = omitted)
  std::vector<std::pair<std::string, ExprP>> kwargs;  // Call/Filter/Test keyword arguments
  std::vector<std::string> ops;                       // Compare: one operator per operand after the first
};

enum class NK {
  Data,
  Output,
  If,
  For,
  Set,
  SetBlock,
  Macro,
  CallBlock,
  FilterBlock,
  With,
  Break,
  Continue,
  Generation
};

struct Node;
using NodeP = std::unique_ptr<Node>;
using Body = std::vector<NodeP>;

struct Node {
  NK kind;
  size_t offset = 0;
  std::string text;          // Data; Macro name
  std::vector<ExprP> exprs;  // CallBlock: the macro call; Output: the expression; If: the conditions; For:
                             // target, iterable, filter (may be null); Set/SetBlock: target (and value);
                             // FilterBlock/SetBlock: filter chain (its innermost subject null); With: targets
                             // then values
  std::vector<Body> bodies;         // If: one per condition, then else; For: body, else; others: the body
  std::vector<std::string> params;  // Macro/CallBlock parameter names
  std::vector<ExprP> defaults;      // defaults of the last params (aligned to the end)
};

struct Template {
  Source src;
  Body body;
};

// Parses a template; syntax errors and unsupported constructs throw loratune::Error naming src.name, the
// line and column, and what was expected.
std::unique_ptr<Template> parse_template(Source src);

// Filters and tests the interpreter implements (jinja_builtins.cpp); the parser rejects others by name.
bool has_filter(const std::string& name);
bool has_test(const std::string& name);

}  // namespace loratune::jinja
