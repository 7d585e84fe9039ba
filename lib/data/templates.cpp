#include "data/templates.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/strings.h"
#include "tokenizer/tokenizer.h"

namespace loratune::data {
namespace {

const char* const kAlpacaPreambleInput =
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.";
const char* const kAlpacaPreambleNoInput =
    "Below is an instruction that describes a task. Write a response that appropriately completes the "
    "request.";

// "file:line" of a record, for error messages.
std::string where(const Record& r) {
  return r.line > 0 ? r.source + ":" + std::to_string(r.line) : r.source;
}

// Python's str.strip() over ASCII whitespace, which is what the Llama-2 template applies to contents.
std::string strip(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// Collects segments: adjacent text with the same flag is merged and empty text dropped, so that the
// segment list is canonical whatever the template code appends.
class Builder {
 public:
  explicit Builder(bool train_on_inputs) : train_on_inputs_(train_on_inputs) {}

  void bos() { segs_.push_back(Segment{Segment::Kind::Bos, {}, false}); }
  // Prompt-side text (template markup, system/user content, closing text after an EOS).
  void prompt(const std::string& text) { add_text(text, train_on_inputs_); }
  // Text the model learns to produce (assistant content, completion, raw text).
  void answer(const std::string& text) { add_text(text, true); }
  // The EOS id: trained when it closes an assistant turn / completion.
  void eos(bool closes_answer) {
    segs_.push_back(Segment{Segment::Kind::Eos, {}, closes_answer || train_on_inputs_});
  }
  std::vector<Segment> take() { return std::move(segs_); }

 private:
  void add_text(const std::string& text, bool trained) {
    if (text.empty()) return;
    if (!segs_.empty() && segs_.back().kind == Segment::Kind::Text && segs_.back().trained == trained) {
      segs_.back().text += text;
      return;
    }
    segs_.push_back(Segment{Segment::Kind::Text, text, trained});
  }

  bool train_on_inputs_;
  std::vector<Segment> segs_;
};

// The record as a conversation: PromptCompletion and Alpaca become one user and one assistant turn.
std::vector<Message> conversation(const Record& r) {
  switch (r.format) {
    case Format::PromptCompletion: return {{"user", r.prompt}, {"assistant", r.completion}};
    case Format::Alpaca: {
      std::string user = r.instruction;
      if (!r.input.empty()) user += "\n\n" + r.input;
      return {{"user", user}, {"assistant", r.output}};
    }
    case Format::Chat: break;
    case Format::Text:
    case Format::Tokens: LT_CHECK(false, "conversation() called on a text or tokens record");
  }
  for (const Message& m : r.messages) {
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      fail_input(where(r) + ": unknown chat role '" + m.role + "'" +
                     did_you_mean(m.role, {"system", "user", "assistant"}),
                 "use the roles system, user and assistant");
  }
  return r.messages;
}

// For llama2 and mistral: [system] user assistant user assistant ... (a trailing user turn is allowed).
// Returns the system content (empty when none) and checks the order of the rest.
std::string split_alternating(const std::string& tmpl, const Record& r, const std::vector<Message>& msgs,
                              size_t* first) {
  std::string system;
  *first = 0;
  if (!msgs.empty() && msgs[0].role == "system") {
    system = msgs[0].content;
    *first = 1;
  }
  const std::string hint =
      "use {opt:template} chatml, zephyr or plain, which accept any order of turns, or fix the record";
  if (*first == msgs.size())
    fail_input(where(r) + ": template '" + tmpl + "' needs at least one user turn", hint);
  for (size_t i = *first; i < msgs.size(); ++i) {
    const char* expected = (i - *first) % 2 == 0 ? "user" : "assistant";
    if (msgs[i].role != expected)
      fail_input(where(r) + ": template '" + tmpl + "' needs user and assistant turns that alternate, " +
                     "starting with a user turn, after an optional first system message; message " +
                     std::to_string(i + 1) + " is '" + msgs[i].role + "' where '" + expected +
                     "' is expected",
                 hint);
  }
  return system;
}

void render_chatml(Builder& b, const std::vector<Message>& msgs) {
  for (const Message& m : msgs) {
    if (m.role == "assistant") {
      b.prompt("<|im_start|>assistant\n");
      b.answer(m.content);
      b.eos(true);  // the <|im_end|> that ends the answer
      b.prompt("\n");
    } else {
      b.prompt("<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n");
    }
  }
}

void render_llama2(Builder& b, const Record& r, const std::vector<Message>& msgs, bool add_bos) {
  size_t first = 0;
  const std::string system = split_alternating("llama2", r, msgs, &first);
  for (size_t i = first; i < msgs.size(); ++i) {
    const Message& m = msgs[i];
    if (m.role == "user") {
      // The template writes bos_token before every user turn; only the first is optional.
      if (i > first || add_bos) b.bos();
      std::string content = m.content;
      if (i == first && first == 1) content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content;
      b.prompt("[INST] " + strip(content) + " [/INST]");
    } else {
      b.prompt(" ");
      b.answer(strip(m.content) + " ");
      b.eos(true);
    }
  }
}

void render_mistral(Builder& b, const Record& r, const std::vector<Message>& msgs, bool add_bos) {
  size_t first = 0;
  const std::string system = split_alternating("mistral", r, msgs, &first);
  if (add_bos) b.bos();
  for (size_t i = first; i < msgs.size(); ++i) {
    const Message& m = msgs[i];
    if (m.role == "user") {
      const std::string content = i == first && first == 1 ? system + "\n\n" + m.content : m.content;
      b.prompt("[INST] " + content + " [/INST]");
    } else {
      b.answer(m.content);
      b.eos(true);
    }
  }
}

void render_zephyr(Builder& b, const std::vector<Message>& msgs) {
  for (const Message& m : msgs) {
    const bool answer = m.role == "assistant";
    b.prompt("<|" + m.role + "|>\n");
    if (answer)
      b.answer(m.content);
    else
      b.prompt(m.content);
    b.eos(answer);
    b.prompt("\n");
  }
}

void render_alpaca_chat(Builder& b, const Record& r, const std::vector<Message>& msgs) {
  size_t first = 0;
  std::string preamble = kAlpacaPreambleNoInput;
  if (!msgs.empty() && msgs[0].role == "system") {
    preamble = msgs[0].content;
    first = 1;
  }
  b.prompt(preamble + "\n\n");
  bool after_answer = false;
  for (size_t i = first; i < msgs.size(); ++i) {
    const Message& m = msgs[i];
    const std::string sep = after_answer ? "\n\n" : "";
    if (m.role == "system")
      fail_input(where(r) + ": template 'alpaca' accepts a system message only as the first message; " +
                     "message " + std::to_string(i + 1) + " is 'system'",
                 "move the system message first, or use {opt:template} chatml or zephyr");
    if (m.role == "user") {
      b.prompt(sep + "### Instruction:\n" + m.content + "\n\n");
    } else {
      b.prompt(sep + "### Response:\n");
      b.answer(m.content);
      b.eos(true);
    }
    after_answer = m.role == "assistant";
  }
}

// The classic Alpaca prompt with its "### Input:" block.
void render_alpaca_with_input(Builder& b, const Record& r) {
  b.prompt(std::string(kAlpacaPreambleInput) + "\n\n### Instruction:\n" + r.instruction +
           "\n\n### Input:\n" + r.input + "\n\n### Response:\n");
  b.answer(r.output);
  b.eos(true);
}

void render_plain(Builder& b, const Record& r) {
  if (r.format == Format::PromptCompletion || r.format == Format::Alpaca) {
    const std::vector<Message> turn = conversation(r);
    b.prompt(r.format == Format::Alpaca ? turn[0].content + "\n\n" : turn[0].content);
    b.answer(turn[1].content);
    b.eos(true);
    return;
  }
  for (const Message& m : conversation(r)) {
    if (m.role == "assistant") {
      b.prompt("assistant: ");
      b.answer(m.content);
      b.eos(true);
      b.prompt("\n");
    } else {
      b.prompt(m.role + ": " + m.content + "\n");
    }
  }
}

void check_template_name(const std::string& name) {
  if (is_template_name(name)) return;
  fail_input("unknown chat template '" + name + "'" + did_you_mean(name, template_names()),
             "choose {opt:template} from: " + join(template_names(), ", "));
}

// ---- tokenization ----

int special_id(Segment::Kind kind, const Tokenizer& tok, const std::string& template_name) {
  const bool bos = kind == Segment::Kind::Bos;
  const int id = bos ? tok.special().bos : tok.special().eos;
  if (id >= 0) return id;
  const std::string what = bos ? "BOS" : "EOS";
  const std::string who = template_name.empty() ? "the rendered sample" : "template '" + template_name + "'";
  fail_input(who + " needs a " + what + " token, but the tokenizer " + tok.model_path() + " defines none",
             bos ? "set bos_token in the model's tokenizer_config.json (or bos_token_id in config.json), "
                   "or choose a {opt:template} without BOS"
                 : "set eos_token in the model's tokenizer_config.json (or eos_token_id in config.json): "
                   "EOS closes every completion and assistant turn");
}

void append(TokenizedSample& out, const std::vector<int>& ids, bool trained) {
  for (int id : ids) {
    out.ids.push_back(static_cast<int32_t>(id));
    out.trained.push_back(trained ? 1 : 0);
  }
}

// Maps each token of `ids` (the encoding of `text`) to the bytes of `text` it covers, through the piece
// surfaces. The surfaces may hold spaces the tokenizer inserted that are not in the text (SentencePiece's
// dummy prefix; a Metaspace prepend after each special token, as Phi-3's and Llama-2's tokenizer.json have):
// such a space covers no byte, and a token of inserted spaces alone is attached to the byte after it.
// Returns false when the surfaces do not reproduce `text` otherwise, i.e. when the offsets cannot be trusted.
bool token_ranges(const std::vector<int>& ids, const std::string& text, const Tokenizer& tok,
                  std::vector<size_t>* begins, std::vector<size_t>* ends) {
  begins->resize(ids.size());
  ends->resize(ids.size());
  // Greedy: a surface byte equal to the next text byte is that byte; an inserted space covers none.
  size_t t = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const size_t b = t;
    for (const char c : tok.surface(ids[i])) {
      if (t < text.size() && c == text[t])
        ++t;
      else if (c != ' ')
        return false;
    }
    (*begins)[i] = b;
    (*ends)[i] = t > b ? t : b + 1;
  }
  return t == text.size();
}

// Encodes the text segments [first, last) as one string and gives each token the flag of the bytes it
// covers (trained when any of them is); see "Tokenization" in templates.h.
void encode_run(const std::vector<Segment>& segs, size_t first, size_t last, const Tokenizer& tok,
                TokenizedSample& out) {
  std::string text;
  bool any_trained = false, any_untrained = false;
  for (size_t i = first; i < last; ++i) {
    if (segs[i].text.empty()) continue;
    text += segs[i].text;
    (segs[i].trained ? any_trained : any_untrained) = true;
  }
  if (text.empty()) return;
  const std::vector<int> ids = tok.encode(text, /*add_bos=*/false);
  if (!(any_trained && any_untrained)) {
    append(out, ids, any_trained);
    return;
  }
  std::vector<size_t> begins, ends;
  if (!token_ranges(ids, text, tok, &begins, &ends)) {
    for (size_t i = first; i < last; ++i)
      if (!segs[i].text.empty()) append(out, tok.encode(segs[i].text, /*add_bos=*/false), segs[i].trained);
    return;
  }
  // The segments' byte ranges in `text`; a token is trained when any segment it overlaps is (tokens and
  // segments both go left to right, so one pass over each).
  struct Run {
    size_t begin, end;
    bool trained;
  };
  std::vector<Run> runs;
  size_t pos = 0;
  for (size_t i = first; i < last; ++i) {
    if (segs[i].text.empty()) continue;
    runs.push_back(Run{pos, pos + segs[i].text.size(), segs[i].trained});
    pos += segs[i].text.size();
  }
  size_t j = 0;
  for (size_t t = 0; t < ids.size(); ++t) {
    const size_t b = std::min(begins[t], text.size() - 1), e = std::min(ends[t], text.size());
    while (j < runs.size() && runs[j].end <= b) ++j;
    bool trained = false;
    for (size_t k = j; k < runs.size() && runs[k].begin < e && !trained; ++k) trained = runs[k].trained;
    out.ids.push_back(static_cast<int32_t>(ids[t]));
    out.trained.push_back(trained ? 1 : 0);
  }
}

}  // namespace

std::vector<std::string> template_names() { return {"chatml", "llama2", "mistral", "zephyr", "alpaca", "plain"}; }

bool is_template_name(const std::string& name) {
  for (const std::string& n : template_names())
    if (n == name) return true;
  return false;
}

std::vector<Message> record_conversation(const Record& r) { return conversation(r); }

std::vector<Segment> render(const std::string& template_name, const Record& r, bool train_on_inputs,
                            bool add_bos) {
  check_template_name(template_name);
  LT_CHECK(r.format != Format::Tokens, "render() called on a pre-tokenized record");
  Builder b(train_on_inputs);
  if (r.format == Format::Text) {
    if (add_bos) b.bos();
    b.answer(r.text);
    b.eos(true);
    return b.take();
  }
  if (template_name == "llama2") {
    render_llama2(b, r, conversation(r), add_bos);  // places its own BOS ids
    return b.take();
  }
  if (template_name == "mistral") {
    render_mistral(b, r, conversation(r), add_bos);
    return b.take();
  }
  if (add_bos) b.bos();
  if (template_name == "chatml")
    render_chatml(b, conversation(r));
  else if (template_name == "zephyr")
    render_zephyr(b, conversation(r));
  else if (template_name == "alpaca" && r.format == Format::Alpaca && !r.input.empty())
    render_alpaca_with_input(b, r);
  else if (template_name == "alpaca")
    render_alpaca_chat(b, r, conversation(r));  // the no-input classic prompt for single turns
  else
    render_plain(b, r);
  return b.take();
}

std::vector<Segment> render_generation_prompt(const std::string& template_name, const Record& r, bool add_bos) {
  Record open = r;
  if (r.format == Format::PromptCompletion) {
    open.completion.clear();
  } else {
    LT_CHECK(r.format == Format::Chat, "render_generation_prompt: a prompt/completion or chat record is required");
    if (r.messages.empty() || r.messages.back().role == "assistant")
      fail_input(where(r) + ": the conversation must end with a user turn for the model to answer",
                 "drop the final assistant message (put the expected answer in \"reference\")");
    open.messages.push_back({"assistant", ""});
  }
  std::vector<Segment> segs = render(template_name, open, /*train_on_inputs=*/false, add_bos);
  // The empty answer leaves its closing EOS (trained), maybe an answer-side space (llama2) and untrained
  // text after it: cut at the first segment of that trailing trained group.
  size_t end = segs.size();
  while (end > 0 && !segs[end - 1].trained) --end;
  while (end > 0 && segs[end - 1].trained) --end;
  segs.resize(end);
  while (!segs.empty() && segs.back().kind == Segment::Kind::Text) {
    std::string& text = segs.back().text;
    text.erase(text.find_last_not_of(' ') + 1);  // npos + 1 == 0 clears an all-space text
    if (!text.empty()) break;
    segs.pop_back();
  }
  for (Segment& seg : segs) seg.trained = false;  // earlier assistant turns are context here
  return segs;
}

TokenizedSample tokenize(const std::vector<Segment>& segments, const Tokenizer& tok, const Record& origin,
                         const std::string& template_name) {
  TokenizedSample out;
  out.source = origin.source;
  out.line = origin.line;
  size_t i = 0;
  while (i < segments.size()) {
    const Segment& s = segments[i];
    if (s.kind != Segment::Kind::Text) {
      out.ids.push_back(static_cast<int32_t>(special_id(s.kind, tok, template_name)));
      out.trained.push_back(s.trained ? 1 : 0);
      ++i;
      continue;
    }
    size_t j = i;
    while (j < segments.size() && segments[j].kind == Segment::Kind::Text) ++j;
    encode_run(segments, i, j, tok, out);
    i = j;
  }
  return out;
}

}  // namespace loratune::data
