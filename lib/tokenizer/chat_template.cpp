#include "tokenizer/chat_template.h"

#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_render.h"

namespace loratune {

namespace {

bool has_generation_node(const jinja::Body& body) {
  for (const auto& n : body) {
    if (n->kind == jinja::NK::Generation) return true;
    for (const auto& b : n->bodies)
      if (has_generation_node(b)) return true;
  }
  return false;
}

}  // namespace

ChatTemplate ChatTemplate::parse(const std::string& source, const std::string& name) {
  // jinja2 reads "\r\n" and "\r" as "\n" and drops one trailing newline (keep_trailing_newline=False).
  jinja::Source src;
  src.name = name;
  src.text.reserve(source.size());
  for (size_t k = 0; k < source.size(); ++k) {
    if (source[k] == '\r') {
      src.text.push_back('\n');
      if (k + 1 < source.size() && source[k + 1] == '\n') ++k;
    } else {
      src.text.push_back(source[k]);
    }
  }
  if (!src.text.empty() && src.text.back() == '\n') src.text.pop_back();
  ChatTemplate t;
  auto tpl = jinja::parse_template(std::move(src));
  t.has_generation_ = has_generation_node(tpl->body);
  t.tpl_ = std::move(tpl);
  return t;
}

const std::string& ChatTemplate::name() const { return tpl_->src.name; }

std::string ChatTemplate::render(const nlohmann::ordered_json& context,
                                 std::vector<std::pair<size_t, size_t>>* generation_spans) const {
  if (!context.is_object())
    fail_input(
        tpl_->src.name + ": the chat template's variables must be a JSON object, got " + context.dump(),
        "pass the messages and settings as an object");
  if (generation_spans) generation_spans->clear();
  jinja::Value vars;
  try {
    vars = jinja::from_json(context);
  } catch (const jinja::EvalError& e) {
    fail_input(tpl_->src.name + ": the template variables: " + e.what(), "flatten the input messages");
  }
  return jinja::render_template(*tpl_, vars, limits_, generation_spans);
}

nlohmann::ordered_json ChatTemplate::chat_context(const nlohmann::ordered_json& vars) {
  using nlohmann::ordered_json;
  if (!vars.is_object()) fail_input("chat template variables must be a JSON object, got " + vars.dump());
  ordered_json ctx = ordered_json::object();
  ordered_json messages = vars.contains("messages") ? vars["messages"] : ordered_json::array();
  if (!messages.is_array()) fail_input("chat template variable 'messages' must be a list of messages");
  ordered_json aliased = ordered_json::array();
  if (messages.empty())
    fail_input("cannot apply a chat template to an empty conversation", "give at least one message");
  for (const auto& given : messages) {
    if (!given.is_object()) fail_input("every chat message must be a JSON object, got " + given.dump());
    // apply_chat_template drops the keys whose value is None (content: null next to tool_calls, ...).
    ordered_json m = ordered_json::object();
    for (auto it = given.begin(); it != given.end(); ++it)
      if (!it->is_null()) m[it.key()] = *it;
    const ordered_json* reasoning = nullptr;
    for (const char* key : {"reasoning_content", "thinking", "reasoning"}) {
      auto it = m.find(key);
      if (it != m.end() && !it->is_null()) {
        reasoning = &*it;
        break;
      }
    }
    if (!reasoning) {
      aliased.push_back(m);
      continue;
    }
    // {"thinking": r, **message, "reasoning_content": r} in Python: keys keep their first position.
    ordered_json out = ordered_json::object();
    out["thinking"] = *reasoning;
    for (auto it = m.begin(); it != m.end(); ++it) out[it.key()] = *it;
    out["reasoning_content"] = *reasoning;
    aliased.push_back(std::move(out));
  }
  ctx["messages"] = std::move(aliased);
  ctx["tools"] = vars.contains("tools") ? vars["tools"] : ordered_json();
  ctx["documents"] = vars.contains("documents") ? vars["documents"] : ordered_json();
  ctx["add_generation_prompt"] =
      vars.contains("add_generation_prompt") ? vars["add_generation_prompt"] : ordered_json(false);
  for (auto it = vars.begin(); it != vars.end(); ++it)
    if (!ctx.contains(it.key())) ctx[it.key()] = *it;
  return ctx;
}

}  // namespace loratune
