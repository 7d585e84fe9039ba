// The value type of the Jinja interpreter (jinja_render.cpp). It models the Python objects a chat
// template sees under transformers: None, bool, int (64-bit here), float, str (UTF-8 bytes; length,
// indexing and slicing count code points as Python does), list, tuple, dict (insertion-ordered, as
// Python's), jinja2's Undefined, jinja2.utils.Namespace, and callables (globals, bound methods, macros).
// Lists and dicts are shared by reference like Python objects; the sandbox forbids mutating them
// (ImmutableSandboxedEnvironment), only a namespace's attributes can be assigned.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace loratune::jinja {

// A failure while evaluating (Python's or jinja2's message); the interpreter adds the template position.
struct EvalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Nesting bound of values (lists in lists ...): printing, comparing and converting recurse over it.
constexpr int kMaxValueDepth = 512;
// Size bounds of one string and one list, so that a template doubling a value in a loop stops early.
constexpr size_t kMaxStringBytes = size_t(64) << 20;
constexpr size_t kMaxListItems = size_t(1) << 20;

struct Value;
using List = std::vector<Value>;
// An ordered dict: keys are Values (strings, usually), looked up linearly (template dicts are small).
using DictItems = std::vector<std::pair<Value, Value>>;

struct CallArgs;
// A callable's C++ side: positional + keyword arguments in, a value out.
using NativeFn = std::function<Value(CallArgs&)>;

enum class Kind { Undefined, None, Bool, Int, Float, String, List, Tuple, Dict, Namespace, Callable };

struct Value {
  Kind kind = Kind::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0.0;
  std::string s;                    // String; for Undefined: the hint jinja2 puts in its error
  std::shared_ptr<List> list;       // List, Tuple
  std::shared_ptr<DictItems> dict;  // Dict, Namespace
  std::shared_ptr<NativeFn> fn;     // Callable
  bool unsafe = false;              // Undefined from a sandbox-forbidden attribute: calling it is an error
  bool safe_markup = false;         // String produced by a macro or |safe (only matters for |escape)
  int depth = 0;                    // List/Tuple/Dict nesting, bounded by kMaxValueDepth at construction (so
                                    // destroying a value cannot exhaust the stack either)

  Value() = default;
  static Value undefined(std::string hint = {});
  static Value none();
  static Value boolean(bool v);
  static Value integer(int64_t v);
  static Value number(double v);
  static Value string(std::string v);
  static Value make_list(List items = {});
  static Value make_tuple(List items);
  static Value make_dict(DictItems items = {});
  static Value make_namespace(DictItems items = {});
  static Value callable(NativeFn fn);

  bool is_undefined() const { return kind == Kind::Undefined; }
  bool is_none() const { return kind == Kind::None; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
  bool is_sequence() const { return kind == Kind::List || kind == Kind::Tuple; }
  bool is_mapping() const { return kind == Kind::Dict; }

  bool truthy() const;       // Python bool()
  double as_double() const;  // numbers only
  // Dict / namespace lookup; nullptr when absent.
  const Value* find(const Value& key) const;
  const Value* find(const std::string& key) const;
};

// A call's arguments, as Python receives them.
struct CallArgs {
  List positional;
  std::vector<std::pair<std::string, Value>> keyword;
  // Argument `pos` or keyword `name` (keywords win), or nullptr; marks it used.
  const Value* get(size_t pos, const std::string& name);
  // Fails (loratune::Error via the callback in the interpreter) on unused arguments; returns their names.
  std::string unused() const;
  std::vector<bool> used_pos, used_kw;
};

// Python's str() of a value (jinja2 prints with str(); Undefined prints as "").
std::string to_str(const Value& v);
// Python's repr() (strings quoted the way Python quotes them).
std::string to_repr(const Value& v);
// Python's repr of a float: the shortest text that reads back as the same double ("1.0", "1e-05", "inf").
std::string float_repr(double d);
// Python's ==.
bool equals(const Value& a, const Value& b);
// Python's <; throws std::invalid_argument with Python's message for unorderable types.
bool less(const Value& a, const Value& b);
// Python's type name ("str", "list", "dict", "NoneType", ...).
std::string type_name(const Value& v);

// Conversion from JSON; nesting deeper than kMaxValueDepth throws EvalError.
Value from_json(const nlohmann::ordered_json& j);

// json.dumps(v, ensure_ascii, indent, separators, sort_keys) byte for byte. indent < 0 means None;
// indent_str overrides it when non-empty (json.dumps accepts a string indent). Throws std::invalid_argument
// for values JSON cannot hold.
struct JsonDumpOptions {
  bool ensure_ascii = false;
  int indent = -1;
  std::string indent_str;
  bool has_indent = false;
  bool has_separators = false;  // false: Python's defaults for the indent setting
  std::string item_sep, key_sep;
  bool sort_keys = false;
};
std::string json_dumps(const Value& v, const JsonDumpOptions& opt);

// UTF-8 helpers with Python's code-point semantics.
std::u32string utf8_decode(const std::string& s);
std::string utf8_encode(const std::u32string& s);
void utf8_append(std::string& out, char32_t c);
size_t utf8_length(const std::string& s);
bool is_py_space(char32_t c);  // str.isspace()
// Unicode simple case mappings (utf8proc) as str.upper/lower/title apply them per character.
char32_t py_upper(char32_t c);
char32_t py_lower(char32_t c);
char32_t py_title(char32_t c);
bool py_cased(char32_t c);  // has an upper/lower/title case (Lu, Ll, Lt)
bool py_is_upper(char32_t c);
bool py_is_lower(char32_t c);

}  // namespace loratune::jinja
