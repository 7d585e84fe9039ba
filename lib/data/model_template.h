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
// Variables: messages, add_generation_prompt, the tokenizer's bos/eos/unk/pad token strings (when it has
// them). Text records ignore the template (<s>[text]</s>, as with the built-ins). The rendered text is
// tokenized whole with add_special_tokens=False, as transformers does; a SentencePiece tokenizer does not
// read special tokens in text, so the BOS/EOS strings are cut out and become their ids. Torch-free.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/sample.h"

namespace loratune {
class Tokenizer;
class ChatTemplate;
}  // namespace loratune

namespace loratune::data {

inline constexpr const char* kModelTemplate = "model";

enum class TemplateMasking { GenerationTags, Prefix, PerTurn };
const char* template_masking_name(TemplateMasking m);  // "generation-tags", "prefix", "per-turn"

class ModelTemplate {
 public:
  // Parses the tokenizer's chat template: an input error when it has none or the template does not parse.
  explicit ModelTemplate(const Tokenizer& tok);

  // The samples a record trains (one, or one per assistant message; see above). Errors of the template
  // (raise_exception, an undefined value) and records it cannot mask are input errors naming file:line.
  // `masking`, when given, receives how the record was masked.
  std::vector<TokenizedSample> samples(const Record& r, bool train_on_inputs,
                                       TemplateMasking* masking = nullptr) const;

  // The prompt ids a model continues at inference (add_generation_prompt=True): a PromptCompletion record's
  // prompt as a user turn, or a Chat record that does not end with an assistant turn.
  std::vector<int> generation_prompt(const Record& r) const;

 private:
  std::string render(const std::vector<Message>& msgs, size_t count, bool generation_prompt, const Record& r,
                     std::vector<std::pair<size_t, size_t>>* spans = nullptr) const;
  size_t answer_end(const std::string& f, size_t start, const std::string& content) const;
  TokenizedSample tokenize_text(const std::string& text, std::vector<uint8_t> mask, const Record& r,
                                bool train_on_inputs) const;

  const Tokenizer& tok_;
  std::shared_ptr<const ChatTemplate> tpl_;
  std::string bos_, eos_;          // token strings ("" when the tokenizer has none)
  std::vector<std::string> eots_;  // the strings of every EOS id
  bool cut_specials_ = false;      // SentencePiece: BOS/EOS strings in the text become ids
};

}  // namespace loratune::data
