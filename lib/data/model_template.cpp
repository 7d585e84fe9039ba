#include "data/model_template.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "data/templates.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace loratune::data {
namespace {

using nlohmann::ordered_json;

std::string where(const Record& r) { return r.line > 0 ? r.source + ":" + std::to_string(r.line) : r.source; }

// Python's str.strip(): the content as templates that trim it print it.
std::string strip(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// The file the template came from, for messages (the newest layout wins, as in Tokenizer).
std::string template_file(const Tokenizer& tok) {
  const std::string& m = tok.model_path();
  const size_t slash = m.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : m.substr(0, slash);
  for (const char* f : {"chat_template.jinja", "chat_template.json"})
    if (path_exists(join_path(dir, f))) return join_path(dir, f);
  return join_path(dir, "tokenizer_config.json");
}

}  // namespace

const char* template_masking_name(TemplateMasking m) {
  switch (m) {
    case TemplateMasking::GenerationTags: return "generation-tags";
    case TemplateMasking::Prefix: return "prefix";
    case TemplateMasking::PerTurn: return "per-turn";
  }
  return "?";
}

ModelTemplate::ModelTemplate(const Tokenizer& tok, const TemplateVars& vars) : tok_(tok) {
  static const std::vector<std::string> kReserved = {"messages",  "add_generation_prompt", "bos_token",
                                                     "eos_token", "unk_token",             "pad_token"};
  ordered_json user = ordered_json::object();
  for (const auto& [name, text] : vars) {
    if (std::find(kReserved.begin(), kReserved.end(), name) != kReserved.end())
      fail_input("template variable '" + name + "' is set by loratune itself and cannot be given",
                 "drop it from {opt:template-var} (the variables set for the template are: " + join(kReserved, ", ") +
                     ")");
    ordered_json v = ordered_json::parse(text, nullptr, false);
    if (v.is_discarded())
      fail_input("template variable '" + name + "': '" + text + "' is not a JSON value",
                 "give a JSON value (true, 3, \"text\", [..], {..})");
    user[name] = std::move(v);
  }
  vars_ = user.dump();
  if (tok.chat_template().empty())
    fail_input("template 'model': the model has no chat template (tokenizer_config.json chat_template, "
               "chat_template.json or chat_template.jinja)",
               "choose a built-in {opt:template} (" + join(template_names(), ", ") + ")");
  tpl_ = std::make_shared<const ChatTemplate>(ChatTemplate::parse(tok.chat_template(), template_file(tok)));
  const SpecialTokens& sp = tok.special();
  if (sp.bos >= 0) bos_ = tok.piece(sp.bos);
  if (sp.eos >= 0) eos_ = tok.piece(sp.eos);
  for (int id : sp.eos_ids)
    if (id >= 0 && !tok.piece(id).empty()) eots_.push_back(tok.piece(id));
  if (eots_.empty() && !eos_.empty()) eots_.push_back(eos_);
  cut_specials_ = tok.kind() == TokenizerKind::SentencePiece;
}

ChatContext ModelTemplate::context(const std::vector<Message>& msgs, const Record& r) const {
  ordered_json vars = ordered_json::parse(vars_);
  ordered_json m = ordered_json::array();
  for (const Message& msg : msgs) {
    ordered_json j{{"role", msg.role}, {"content", msg.content}};
    if (!msg.extra.empty()) {
      const ordered_json extra = ordered_json::parse(msg.extra);
      for (const auto& [k, v] : extra.items()) j[k] = v;
    }
    m.push_back(std::move(j));
  }
  vars["messages"] = std::move(m);
  vars["add_generation_prompt"] = false;
  const SpecialTokens& sp = tok_.special();
  if (!bos_.empty()) vars["bos_token"] = bos_;
  if (!eos_.empty()) vars["eos_token"] = eos_;
  if (sp.unk >= 0) vars["unk_token"] = tok_.piece(sp.unk);
  if (sp.pad >= 0) vars["pad_token"] = tok_.piece(sp.pad);
  try {
    return ChatContext(ChatTemplate::chat_context(vars));
  } catch (const Error& e) {
    fail_input(where(r) + ": " + e.message(), e.hint().empty() ? "fix the record" : e.hint());
  }
}

std::string ModelTemplate::render(const ChatContext& ctx, size_t count, bool generation_prompt, const Record& r,
                                  std::vector<std::pair<size_t, size_t>>* spans) const {
  try {
    return tpl_->render_prefix(ctx, count, generation_prompt, spans);
  } catch (const Error& e) {
    fail_input(where(r) + ": " + e.message(),
               e.hint().empty() ? "fix the record, or choose a built-in {opt:template}" : e.hint());
  }
}

size_t ModelTemplate::answer_end(const std::string& f, size_t start, const std::string& content) const {
  size_t q = start;
  const std::string c = strip(content);
  if (!c.empty()) {
    const size_t pos = f.find(c, start);
    if (pos != std::string::npos) q = pos + c.size();
  }
  // The token right after the content, when it is a control token (<|im_end|>, <|eot_id|>, <end_of_turn>).
  if (q < f.size() && !cut_specials_) {
    const std::vector<int> ids = tok_.encode(f.substr(q, std::min<size_t>(64, f.size() - q)), false);
    if (!ids.empty() && tok_.type(ids[0]) == PieceType::Control) {
      const std::string p = tok_.piece(ids[0]);
      if (!p.empty() && f.compare(q, p.size(), p) == 0) return q + p.size();
    }
  }
  size_t best = std::string::npos, len = 0;
  for (const std::string& s : eots_) {
    const size_t pos = f.find(s, q);
    if (pos != std::string::npos && pos < best) best = pos, len = s.size();
  }
  if (best != std::string::npos) return best + len;
  const size_t last = f.find_last_not_of(" \t\n\r");  // no end-of-turn token: the answer's text
  return last == std::string::npos || last + 1 < q ? q : last + 1;
}

TokenizedSample ModelTemplate::tokenize_text(const std::string& text, std::vector<uint8_t> mask, const Record& r,
                                             bool train_on_inputs) const {
  if (train_on_inputs) {
    std::fill(mask.begin(), mask.end(), uint8_t{1});
    if (!bos_.empty() && text.compare(0, bos_.size(), bos_) == 0)
      std::fill(mask.begin(), mask.begin() + static_cast<std::ptrdiff_t>(bos_.size()), uint8_t{0});
  }
  std::vector<Segment> segs;
  auto add_text = [&](size_t b, size_t e) {
    for (size_t k = b; k < e;) {
      size_t j = k;
      while (j < e && mask[j] == mask[k]) ++j;
      segs.push_back(Segment{Segment::Kind::Text, text.substr(k, j - k), mask[k] != 0});
      k = j;
    }
  };
  size_t run = 0;
  for (size_t k = 0; k < text.size();) {
    Segment::Kind kind = Segment::Kind::Text;
    size_t len = 0;
    if (cut_specials_) {
      if (!bos_.empty() && text.compare(k, bos_.size(), bos_) == 0) kind = Segment::Kind::Bos, len = bos_.size();
      else if (!eos_.empty() && text.compare(k, eos_.size(), eos_) == 0) kind = Segment::Kind::Eos, len = eos_.size();
    }
    if (len == 0) {
      ++k;
      continue;
    }
    add_text(run, k);
    const bool trained = std::any_of(mask.begin() + static_cast<std::ptrdiff_t>(k),
                                     mask.begin() + static_cast<std::ptrdiff_t>(k + len), [](uint8_t v) { return v != 0; });
    segs.push_back(Segment{kind, {}, trained});
    k += len;
    run = k;
  }
  add_text(run, text.size());
  return tokenize(segs, tok_, r, kModelTemplate);
}

std::vector<TokenizedSample> ModelTemplate::samples(const Record& r, bool train_on_inputs,
                                                    TemplateMasking* masking) const {
  LT_CHECK(r.format != Format::Tokens, "ModelTemplate::samples called on a pre-tokenized record");
  if (r.format == Format::Text)
    return {tokenize(data::render("plain", r, train_on_inputs, tok_.special().add_bos), tok_, r, kModelTemplate)};
  const std::vector<Message> msgs = record_conversation(r);
  std::vector<std::pair<size_t, size_t>> spans;
  const ChatContext ctx = context(msgs, r);
  const std::string full = render(ctx, msgs.size(), false, r, &spans);
  if (tpl_->has_generation()) {
    std::vector<uint8_t> mask(full.size(), 0);
    for (const auto& [b, e] : spans)
      std::fill(mask.begin() + static_cast<std::ptrdiff_t>(b), mask.begin() + static_cast<std::ptrdiff_t>(e), uint8_t{1});
    if (masking) *masking = TemplateMasking::GenerationTags;
    return {tokenize_text(full, std::move(mask), r, train_on_inputs)};
  }
  struct Turn {
    std::string text;
    size_t begin, end;
  };
  std::vector<Turn> turns;
  bool prefix = true;
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (msgs[i].role != "assistant") continue;
    if (i == 0)
      fail_input(where(r) + ": the conversation starts with an assistant message; the model's template needs "
                            "the turn it answers",
                 "start the conversation with a system or user message, or choose a built-in {opt:template}");
    const std::string p = render(ctx, i, true, r);
    // The last message's rendering is the whole conversation's.
    std::string f = i + 1 == msgs.size() ? full : render(ctx, i + 1, false, r);
    if (f.compare(0, p.size(), p) != 0)
      fail_input(where(r) + ": the model's chat template renders the conversation before message " +
                     std::to_string(i + 1) + " (assistant) differently once that answer follows: its generation "
                     "prompt is not a prefix of the rendering (Mistral's templates, for one, show the system "
                     "message only in the last user turn), so the answer's tokens cannot be told apart",
                 "drop the system message from multi-turn records, or choose a built-in {opt:template} (mistral "
                 "for Mistral models)");
    const size_t end = answer_end(f, p.size(), msgs[i].content);
    if (full.compare(0, f.size(), f) != 0) prefix = false;
    turns.push_back(Turn{std::move(f), p.size(), end});
  }
  if (prefix) {
    std::vector<uint8_t> mask(full.size(), 0);
    for (const Turn& t : turns)
      std::fill(mask.begin() + static_cast<std::ptrdiff_t>(t.begin), mask.begin() + static_cast<std::ptrdiff_t>(t.end),
                uint8_t{1});
    if (masking) *masking = TemplateMasking::Prefix;
    return {tokenize_text(full, std::move(mask), r, train_on_inputs)};
  }
  if (masking) *masking = TemplateMasking::PerTurn;
  std::vector<TokenizedSample> out;
  for (Turn& t : turns) {
    std::vector<uint8_t> mask(t.text.size(), 0);
    std::fill(mask.begin() + static_cast<std::ptrdiff_t>(t.begin), mask.begin() + static_cast<std::ptrdiff_t>(t.end),
              uint8_t{1});
    out.push_back(tokenize_text(t.text, std::move(mask), r, train_on_inputs));
  }
  return out;
}

std::vector<int> ModelTemplate::generation_prompt(const Record& r) const {
  std::vector<Message> msgs;
  if (r.format == Format::PromptCompletion) {
    msgs = {{"user", r.prompt}};
  } else {
    LT_CHECK(r.format == Format::Chat, "generation_prompt: a prompt/completion or chat record is required");
    msgs = record_conversation(r);
    if (msgs.empty() || msgs.back().role == "assistant")
      fail_input(where(r) + ": the conversation must end with a user turn for the model to answer",
                 "drop the final assistant message (put the expected answer in \"reference\")");
  }
  const std::string text = render(context(msgs, r), msgs.size(), true, r);
  const TokenizedSample s = tokenize_text(text, std::vector<uint8_t>(text.size(), 0), r, false);
  return {s.ids.begin(), s.ids.end()};
}

PromptTemplate::PromptTemplate(std::string name, const Tokenizer& tok, const TemplateVars& vars)
    : name_(std::move(name)), tok_(tok) {
  if (name_ == kModelTemplate) model_.emplace(tok, vars);
}

std::vector<int> PromptTemplate::ids(const Record& r) const {
  if (model_) return model_->generation_prompt(r);
  const TokenizedSample t = tokenize(render_generation_prompt(name_, r, tok_.special().add_bos), tok_, r, name_);
  if (t.ids.empty())
    fail_input(where(r) + ": the prompt renders to no tokens", "give the sample a non-empty prompt");
  return {t.ids.begin(), t.ids.end()};
}

}  // namespace loratune::data
