#include "tokenizer/chat_template.h"

#include <algorithm>
#include <iterator>

#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_render.h"
#include "tokenizer/jinja_value.h"

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

ChatContext::ChatContext(const nlohmann::ordered_json& context) {
  if (!context.is_object())
    fail_input("the chat template's variables must be a JSON object, got " + context.dump(),
               "pass the messages and settings as an object");
  try {
    value_ = std::make_shared<const jinja::Value>(jinja::from_json(context));
  } catch (const jinja::EvalError& e) {
    fail_input(std::string("the chat template variables: ") + e.what(), "flatten the input messages");
  }
  const jinja::Value* m = value_->find("messages");
  messages_ = m && m->is_sequence() ? m->list->size() : 0;
}

std::string ChatTemplate::render_prefix(const ChatContext& context, size_t messages, bool add_generation_prompt,
                                        std::vector<std::pair<size_t, size_t>>* generation_spans) const {
  LT_CHECK(messages >= 1 && messages <= context.messages(), "render_prefix: message count out of range");
  if (generation_spans) generation_spans->clear();
  const jinja::Value& full = *context.value_;
  jinja::DictItems items = *full.dict;  // shallow: the messages themselves are shared
  for (auto& [key, value] : items) {
    if (!key.is_string()) continue;
    if (key.s == "messages") {
      const jinja::List& all = *value.list;
      value = jinja::Value::make_list(jinja::List(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(messages)));
    } else if (key.s == "add_generation_prompt") {
      value = jinja::Value::boolean(add_generation_prompt);
    }
  }
  return jinja::render_template(*tpl_, jinja::Value::make_dict(std::move(items)), limits_, generation_spans);
}

namespace {

std::string py_strip(const std::string& s, bool left = true) {
  const std::u32string u = jinja::utf8_decode(s);
  size_t b = 0, e = u.size();
  if (left)
    while (b < e && jinja::is_py_space(u[b])) ++b;
  while (e > b && jinja::is_py_space(u[e - 1])) --e;
  return jinja::utf8_encode(u.substr(b, e - b));
}

}  // namespace

std::string ChatTemplate::render_continuing(const nlohmann::ordered_json& context,
                                            const std::string& field) const {
  using nlohmann::ordered_json;
  // The marker transformers appends to the final message and cuts the rendering at.
  static const std::string kTag = "CONTINUE_FINAL_MESSAGE_TAG ";
  const std::string& name = tpl_->src.name;
  if (!context.is_object() || !context.contains("messages") || !context["messages"].is_array() ||
      context["messages"].empty())
    fail_input(name + ": continuing the final message needs a non-empty conversation");
  if (context.value("add_generation_prompt", ordered_json(false)).is_boolean() &&
      context.value("add_generation_prompt", false))
    fail_input(name + ": continuing the final message and adding a generation prompt exclude each other",
               "set only one of them");
  ordered_json ctx = context;
  ordered_json& last = ctx["messages"].back();
  if (!last.is_object() || !last.contains(field) || last[field].is_null())
    fail_input(name + ": the final message has no \"" + field + "\" to continue");
  const ordered_json final_value = last[field];
  std::vector<std::string> fields = {field};
  static const char* kReasoning[] = {"reasoning_content", "thinking", "reasoning"};
  if (std::find(std::begin(kReasoning), std::end(kReasoning), field) != std::end(kReasoning)) {
    fields.clear();
    for (const char* f : kReasoning)
      if (last.contains(f) && last[f] == final_value) fields.push_back(f);
  }
  const std::string& source = tpl_->src.text;
  if (std::none_of(fields.begin(), fields.end(),
                   [&](const std::string& f) { return source.find(f) != std::string::npos; }))
    fail_input(name + ": the final message's \"" + field +
               "\" cannot be continued: the template never names it");
  std::string final_text;
  if (final_value.is_array()) {
    bool found = false;
    for (auto it = last[field].rbegin(); it != last[field].rend(); ++it) {
      if (it->is_object() && it->contains("text") && (*it)["text"].is_string()) {
        final_text = (*it)["text"].get<std::string>();
        (*it)["text"] = final_text + kTag;
        found = true;
        break;
      }
    }
    if (!found) fail_input(name + ": the final message has no text block to continue");
  } else {
    if (!final_value.is_string()) fail_input(name + ": the final message's \"" + field + "\" is not text");
    final_text = final_value.get<std::string>();
    for (const auto& f : fields) last[f] = last[f].get<std::string>() + kTag;
  }
  std::string out = render(ctx);
  const std::string tag = py_strip(kTag);
  if (out.find(py_strip(final_text)) == std::string::npos || out.find(tag) == std::string::npos)
    fail_input(name + ": the final message does not appear in the rendered chat, so it cannot be continued",
               "the template changes or drops that message's text");
  const size_t loc = out.rfind(tag);
  if (out.compare(loc, kTag.size(), kTag) == 0) return out.substr(0, loc);
  return py_strip(out.substr(0, loc), false);  // the template trimmed the text: drop its trailing spaces too
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
