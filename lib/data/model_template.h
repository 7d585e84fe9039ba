// The model's own chat template as a prepare/eval template, named "model": a record becomes the text
// transformers' apply_chat_template(messages, tokenize=False) renders with the model's Jinja chat_template
// (tokenizer/chat_template.h), and the trained bytes are found from the template itself:
//   - a template with {% generation %} blocks: exactly the text they produce (transformers' assistant masks);
//   - otherwise by incremental rendering. For assistant message i, p = the conversation before it rendered
//     with add_generation_prompt=True and f = the conversation up to it; f must start with p. The answer is
//     f[len(p), end): its text and the end-of-turn token after it (the control token that follows the
//     content, else the first EOS string of the tokenizer's EOS ids); the newline after that is untrained.
//     When every f is a prefix of the whole conversation's rendering, the record is one sample with all
//     answers trained ("prefix"). A template that rewrites earlier turns (Qwen3 drops past reasoning and
//     renders an empty <think></think> only in the last turn) is handled per turn ("per-turn"): one sample
//     per assistant message, rendered up to that message, with only that answer trained; all of them come
//     from one record and go to the same split.
// Variables: messages (each with role, content and the record's other keys of that message, such as
// reasoning_content or tool_calls), add_generation_prompt, the tokenizer's bos/eos/unk/pad token strings
// (when it has them), and the user's variables (--template-var enable_thinking=false, as
// apply_chat_template(**kwargs)), which may not replace those. Text records ignore the template (<s>[text]</s>, as with the built-ins). The rendered text is
// tokenized whole with add_special_tokens=False, as transformers does; a SentencePiece tokenizer does not
// read special tokens in text, so the BOS/EOS strings are cut out and become their ids. Torch-free.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/sample.h"

namespace loratune {
class Tokenizer;
class ChatTemplate;
class ChatContext;
}  // namespace loratune

namespace loratune::data {

inline constexpr const char* kModelTemplate = "model";

enum class TemplateMasking { GenerationTags, Prefix, PerTurn };
const char* template_masking_name(TemplateMasking m);  // "generation-tags", "prefix", "per-turn"

// User variables of the model's template: name -> the value's JSON text.
using TemplateVars = std::map<std::string, std::string>;

class ModelTemplate {
 public:
  // Parses the tokenizer's chat template: an input error when it has none, the template does not parse,
  // a variable is not JSON or would replace one of the variables above.
  explicit ModelTemplate(const Tokenizer& tok, const TemplateVars& vars = {});

  // The samples a record trains (one, or one per assistant message; see above). Errors of the template
  // (raise_exception, an undefined value) and records it cannot mask are input errors naming file:line.
  // `masking`, when given, receives how the record was masked.
  std::vector<TokenizedSample> samples(const Record& r, bool train_on_inputs,
                                       TemplateMasking* masking = nullptr) const;

  // The prompt ids a model continues at inference (add_generation_prompt=True): a PromptCompletion record's
  // prompt as a user turn, or a Chat record that does not end with an assistant turn.
  std::vector<int> generation_prompt(const Record& r) const;

 private:
  // The record's whole conversation as the template's variables, converted once; render() renders a prefix.
  ChatContext context(const std::vector<Message>& msgs, const Record& r) const;
  std::string render(const ChatContext& ctx, size_t count, bool generation_prompt, const Record& r,
                     std::vector<std::pair<size_t, size_t>>* spans = nullptr) const;
  size_t answer_end(const std::string& f, size_t start, const std::string& content) const;
  TokenizedSample tokenize_text(const std::string& text, std::vector<uint8_t> mask, const Record& r,
                                bool train_on_inputs) const;

  const Tokenizer& tok_;
  std::shared_ptr<const ChatTemplate> tpl_;
  std::string vars_;               // the user's variables: a JSON object text
  std::string bos_, eos_;          // token strings ("" when the tokenizer has none)
  std::vector<std::string> eots_;  // the strings of every EOS id
  bool cut_specials_ = false;      // SentencePiece: BOS/EOS strings in the text become ids
};

// The generation prompts of one template, built-in or the model's own (`vars` apply to the latter): what
// eval --prompts and generate feed the model. Text records are refused (nothing to prompt with).
class PromptTemplate {
 public:
  PromptTemplate(std::string name, const Tokenizer& tok, const TemplateVars& vars = {});
  const std::string& name() const { return name_; }
  // The prompt ids: a PromptCompletion record's prompt as a user turn, or a Chat record that ends with a
  // user turn, rendered with add_generation_prompt (input errors name the record's file:line).
  std::vector<int> ids(const Record& r) const;

 private:
  std::string name_;
  const Tokenizer& tok_;
  std::optional<ModelTemplate> model_;
};

}  // namespace loratune::data
