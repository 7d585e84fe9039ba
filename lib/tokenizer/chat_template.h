// Hugging Face chat templates, rendered the way transformers renders them (utils/chat_template_utils.py):
// jinja2's ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the loopcontrols
// extension, transformers' tojson filter (json.dumps, ensure_ascii=False), the globals raise_exception,
// strftime_now, namespace, dict and range, and the {% generation %} tag that marks assistant text. The engine
// is loratune's own (lib/tokenizer/jinja_*.cpp); it reads no files and has bounded loops, call depth and
// output.
//
// Typical use:
//   ChatTemplate t = ChatTemplate::parse(tokenizer.chat_template(), dir + "/tokenizer_config.json");
//   nlohmann::ordered_json vars = {{"messages", messages}, {"add_generation_prompt", true},
//                                  {"bos_token", "<s>"}, {"eos_token", "</s>"}};
//   std::string text = t.render(ChatTemplate::chat_context(vars), &spans);
// Keep the messages' keys in their input order (ordered_json): templates print dicts (tojson, items())
// in insertion order, as Python does.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace loratune {

namespace jinja {
struct Template;
struct Value;
}

// A context (as ChatTemplate::chat_context makes it) converted once for the template engine, for rendering
// several prefixes of one conversation (prepare's masking renders each turn) without converting it again.
class ChatContext {
 public:
  // Throws loratune::Error (exit 2) when `context` is not an object or cannot be converted.
  explicit ChatContext(const nlohmann::ordered_json& context);
  size_t messages() const { return messages_; }

 private:
  friend class ChatTemplate;
  std::shared_ptr<const jinja::Value> value_;
  size_t messages_ = 0;
};

struct ChatTemplateLimits {
  size_t max_output_bytes = size_t(64) << 20;  // one render's text
  int64_t max_loop_iterations = 1000000;       // all for-loop iterations of one render together
  int max_call_depth = 100;                    // nested macro calls
  int64_t max_range = 100000;                  // items of one range() (jinja2's sandbox limit)
};

// raise_exception(message) in a template: an input error (exit 2) whose message names the template and the
// position, and which keeps the template's own words in template_message().
class ChatTemplateRaised : public Error {
 public:
  ChatTemplateRaised(const std::string& message, const std::string& hint, std::string template_message)
      : Error(ExitCode::Usage, message, hint), template_message_(std::move(template_message)) {}
  const std::string& template_message() const { return template_message_; }

 private:
  std::string template_message_;
};

class ChatTemplate {
 public:
  // Parses `source`; `name` (the file it came from) prefixes every message as "name:line:col: ...".
  // Syntax errors and unsupported constructs (include/import/extends/from/block, recursive loops, unknown
  // filters or tests, ...) throw loratune::Error (exit 2).
  static ChatTemplate parse(const std::string& source, const std::string& name);

  // Renders with exactly these variables (a JSON object). Errors (an undefined value used, a type error,
  // a limit) throw loratune::Error naming the position; raise_exception throws ChatTemplateRaised.
  // generation_spans, when given, receives the [begin, end) byte ranges of the output produced inside
  // {% generation %} blocks (transformers reports the same ranges in characters).
  std::string render(const nlohmann::ordered_json& context,
                     std::vector<std::pair<size_t, size_t>>* generation_spans = nullptr) const;
  // Renders `context` with only its first `messages` messages (1 <= messages <= context.messages()) and
  // add_generation_prompt set as given; equal to render() of that shorter conversation's context.
  std::string render_prefix(const ChatContext& context, size_t messages, bool add_generation_prompt,
                            std::vector<std::pair<size_t, size_t>>* generation_spans = nullptr) const;

  // transformers' continue_final_message: renders `context` (as chat_context makes it) with the last message
  // left open, so that a model continues it (prefill). `field` names the message key to continue
  // ("content", or a reasoning key). The text ends where that field's text ends in the rendering. Fails
  // (input error) like transformers when there is nothing to continue, the template does not mention the
  // field, or the template does not render the field's text.
  std::string render_continuing(const nlohmann::ordered_json& context,
                                const std::string& field = "content") const;

  // The variables transformers' apply_chat_template(messages, add_generation_prompt=..., **extra) renders
  // with: `vars` holds "messages" and optionally "add_generation_prompt", "tools", "documents" and any extra
  // variables (the special tokens bos_token, eos_token, ... and e.g. enable_thinking). As transformers does,
  // this drops the message keys whose value is null, sets tools/documents to null and add_generation_prompt
  // to false when absent, and gives every message with reasoning under "reasoning_content", "thinking" or
  // "reasoning" both a leading "thinking" and a trailing "reasoning_content" key. An empty conversation is
  // an input error, as in transformers.
  static nlohmann::ordered_json chat_context(const nlohmann::ordered_json& vars);

  ChatTemplate& set_limits(const ChatTemplateLimits& limits) {
    limits_ = limits;
    return *this;
  }
  const std::string& name() const;
  // Whether the template has a {% generation %} block (assistant masks are available).
  bool has_generation() const { return has_generation_; }

 private:
  std::shared_ptr<const jinja::Template> tpl_;
  ChatTemplateLimits limits_;
  bool has_generation_ = false;
};

}  // namespace loratune
