// Chat templates: rendering records into segments of text (and BOS/EOS ids) with per-segment loss flags,
// recognising a model's Jinja chat_template as one of the built-ins, and tokenizing segments into ids with
// an exact per-token loss mask. Torch-free.
//
// The built-in templates follow the Hugging Face chat templates of their model families. Notation:
// <s>/</s> are Segment::Kind::Bos/Eos (the tokenizer's special ids, never tokenized from text), [..] is
// trained text, everything else is untrained unless train_on_inputs. Every assistant turn (and every
// completion) is closed by a trained EOS; text after that EOS (a newline) is untrained. The leading <s> is
// present only when render(..., add_bos=true).
//
//   template  turn rendering                                          notes
//   --------  ------------------------------------------------------  ----------------------------------------
//   chatml    <|im_start|>system\n{system}<|im_end|>\n                 Qwen / OpenHermes. The assistant's
//             <|im_start|>user\n{user}<|im_end|>\n                     <|im_end|> is the EOS id (it is the EOS of
//             <|im_start|>assistant\n[{assistant}]</s>\n               ChatML models); the other <|im_end|> and
//                                                                      every <|im_start|> are text.
//   llama2    <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST]   Llama-2-chat. Contents are stripped of
//              [{assistant} ]</s>                                      surrounding whitespace as HF does; the
//             <s>[INST] {user} [/INST] [{assistant} ]</s>              space after [/INST] is untrained, the one
//                                                                      before </s> trained. Every later user turn
//                                                                      starts with a BOS id that is always
//                                                                      emitted (it is in the template).
//   mistral   <s>[INST] {system}\n\n{user} [/INST][{assistant}]</s>     Mistral-Instruct v0.1: the system prompt
//             [INST] {user} [/INST][{assistant}]</s>                   is prepended to the first user message.
//   zephyr    <s><|system|>\n{system}</s>\n                            Zephyr / TinyLlama-chat: the template
//             <|user|>\n{user}</s>\n                                   writes eos_token after every turn; each is
//             <|assistant|>\n[{assistant}]</s>\n                       the EOS id, trained only after assistant.
//   alpaca    <s>{preamble}\n\n### Instruction:\n{instruction}\n\n     Stanford Alpaca. preamble = "Below is an
//             ### Input:\n{input}\n\n### Response:\n[{output}]</s>     instruction that describes a task, paired
//                                                                      with an input that provides further
//                                                                      context. Write a response that
//                                                                      appropriately completes the request."
//                                                                      With no input the "### Input" block is
//                                                                      left out and the preamble is "Below is an
//                                                                      instruction that describes a task. Write a
//                                                                      response that appropriately completes the
//                                                                      request." Chat records: the system message
//                                                                      (else the no-input preamble) + "\n\n",
//                                                                      each user turn "### Instruction:\n{user}
//                                                                      \n\n", each assistant turn "### Response:
//                                                                      \n[{assistant}]</s>"; a turn after an
//                                                                      assistant turn starts with "\n\n".
//   plain     <s>{prompt}[{completion}]</s>                            No markup: prompt and completion are
//             chat records, one line per message:                      concatenated as they are. Alpaca records:
//             <s>system: {system}\n                                    prompt = instruction (+ "\n\n" + input) +
//             user: {user}\n                                           "\n\n", completion = output.
//             assistant: [{assistant}]</s>\n
//
// Record formats: Text records ignore the template: <s>[{text}]</s> with the text and EOS trained.
// PromptCompletion is one user turn (prompt) and one assistant turn (completion). Alpaca records are one
// user turn (instruction, + "\n\n" + input when the input is not empty) and one assistant turn (output)
// for the chat templates, and the classic prompt above for "alpaca". Chat records are their messages.
// llama2 and mistral need an optional leading system message followed by user/assistant turns that
// alternate starting with a user turn; alpaca accepts a system message only first; chatml, zephyr and
// plain accept any order. A record that does not fit its template is an input error naming its file:line.
//
// Tokenization and SentencePiece's dummy prefix: SentencePiece prepends "▁" to every text it encodes, so
// encoding each segment separately would insert a space at every segment boundary ("[/INST]" + " Hi"
// becomes "▁[/INST]" "▁▁Hi") and produce tokens the model never sees at inference. tokenize() therefore
// encodes each run of consecutive text segments (between BOS/EOS ids) as one string, exactly as the whole
// rendered conversation is tokenized at inference (a run after a BOS/EOS id gets the dummy prefix, as
// Hugging Face's legacy Llama tokenizer does), and maps every token back to the bytes it
// covers: the concatenated piece surfaces (decode_piece) reproduce the run's text, apart from spaces the
// tokenizer inserted (the dummy prefix; a tokenizer.json Metaspace prepend after each special token), which
// cover no byte. A token is trained when any of its bytes belongs to a trained segment, so a token
// that straddles an untrained/trained boundary ("[/INST] " + "Hi" -> "▁Hi") is trained: the model must
// generate it. If the surfaces do not reproduce the text (a non-identity normalizer or <unk> pieces), the
// segments of that run are encoded one by one instead (the mask is still exact; the tokens may differ from
// whole-text encoding at the boundaries), as Hugging Face's per-turn masking tools do.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "data/sample.h"

namespace loratune {
class Tokenizer;
}

namespace loratune::data {

// "chatml", "llama2", "mistral", "zephyr", "alpaca", "plain".
std::vector<std::string> template_names();
bool is_template_name(const std::string& name);

// A PromptCompletion, Alpaca or Chat record as a conversation (PromptCompletion and Alpaca become one user
// and one assistant turn). A role other than system/user/assistant is an input error naming file:line.
std::vector<Message> record_conversation(const Record& r);

// Renders a record with a template (see the table above). Prompt/user/system text is untrained unless
// train_on_inputs, which trains everything except BOS. add_bos puts a Bos segment first (the caller passes
// the tokenizer's add_bos flag). An unknown template name or a record that does not fit the template
// is an input error; a Tokens record (pre-tokenized, never rendered) is an internal error.
std::vector<Segment> render(const std::string& template_name, const Record& r, bool train_on_inputs,
                            bool add_bos);

// The prompt a model continues at inference: the record rendered as for training up to where the
// (final) assistant answer begins, i.e. what Hugging Face's add_generation_prompt gives. `r` is a
// PromptCompletion record (its completion is ignored) or a Chat record whose last message is not an
// assistant turn (an input error naming its file:line otherwise). Trailing spaces (U+0020) of the
// prompt are dropped: SentencePiece attaches a space to the word after it, so a training answer " Hi"
// after "[/INST]" is the token "▁Hi", which the model must generate itself (llama2's " " after [/INST],
// plain's "assistant: "). Newlines stay ("<|im_start|>assistant\n"). Every segment is untrained.
std::vector<Segment> render_generation_prompt(const std::string& template_name, const Record& r, bool add_bos);

// Tokenizes segments (see "Tokenization" above): Text through tok.encode(text, /*add_bos=*/false), Bos/Eos
// as tok.special().bos/eos. Each token's trained flag follows the segment(s) it covers. A tokenizer without
// the BOS/EOS the segments need is an input error naming template_name (when given) and the tokenizer.
// The sample carries origin's source and line.
TokenizedSample tokenize(const std::vector<Segment>& segments, const Tokenizer& tok, const Record& origin,
                         const std::string& template_name = "");

}  // namespace loratune::data
