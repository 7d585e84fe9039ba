"""The real pretrained-model fixture SmolLM2-135M-Instruct (scripts/setup-reference.sh) is there, complete and real,
and loratune reads its tokenizer.json-only directory.

  - the Hugging Face directory ($LORATUNE_CACHE/smollm2-135m-instruct/hf, made by transformers from the Q4_1
    GGUF): safetensors, config.json (llama, 30 layers, hidden 576, vocab 49152), tokenizer.json,
    tokenizer_config.json, chat_template.jinja, and no tokenizer.model;
  - transformers loads it and completes short factual prompts sensibly (greedy);
  - the GGUF itself loads in llama.cpp (llama-cpp-python), its vocabulary tokenizes a chat-template prompt to the
    same ids as the directory's tokenizer.json, and it completes the same prompts sensibly (greedy);
  - loratune uses its tokenizer.json: `loratune tokenize` gives transformers' ids on the corpus with and without
    special tokens; `generate --raw` completes a plain prompt and `generate` answers a question through the chat
    template as transformers does (greedy); `finetune --dry-run` counts the parameters as transformers does.
    (The GGUF export of its BPE vocabulary is checked in test_gguf_vocab.py.)
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ltref  # noqa: E402

QUESTION = "What is the capital of France?"  # rendered with the chat template: tokenization check
# Greedy completions and the word each must contain. Plain completions, not the chat answer: the chat answer's
# first token is a near-tie in transformers' fp32 logits ("The" 25.33 vs "L" 25.24) that llama.cpp's Q4_1 kernels
# (activations quantized to q8_1, logits ~0.7 off) flip; these have margins of 2.5-3 logits in both.
COMPLETIONS = {"The capital of France is": "Paris", "The capital of Germany is": "Berlin"}
N_NEW = 10
FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
         "generation_config.json")


def check_files(ref, hf, gguf):
    ok = ref.check("fixture present", os.path.isfile(os.path.join(hf, ".complete")) and os.path.isfile(gguf),
                   f"{hf} (with .complete) and {gguf}" + ("" if os.path.isfile(os.path.join(hf, ".complete")) and
                                                            os.path.isfile(gguf) else ": run scripts/setup.sh --test"))
    if not ok:
        return False
    missing = [f for f in FILES if not os.path.isfile(os.path.join(hf, f))]
    ref.check("fixture complete", not missing, f"missing {missing}" if missing else ", ".join(FILES))
    ref.check("no tokenizer.model (tokenizer.json only)", not os.path.exists(os.path.join(hf, "tokenizer.model")))
    with open(os.path.join(hf, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    got = {k: cfg.get(k) for k in ("model_type", "num_hidden_layers", "hidden_size", "vocab_size")}
    want = {"model_type": "llama", "num_hidden_layers": 30, "hidden_size": 576, "vocab_size": 49152}
    ref.check("config.json is SmolLM2-135M's", got == want, json.dumps(got))
    from safetensors import safe_open

    with safe_open(os.path.join(hf, "model.safetensors"), "pt") as st:
        keys = set(st.keys())
        emb = list(st.get_slice("model.embed_tokens.weight").get_shape())
    layers = {int(k.split(".")[2]) for k in keys if k.startswith("model.layers.")}
    ref.check("model.safetensors holds the weights", emb == [49152, 576] and layers == set(range(30)),
              f"{len(keys)} tensors, embed_tokens {emb}, layers {min(layers) if layers else '-'}..{max(layers) if layers else '-'}")
    return True


def check_transformers(ref, hf):
    """Greedy completions of transformers; returns (chat prompt text, its ids, parameter count, tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(hf)
    model = AutoModelForCausalLM.from_pretrained(hf, dtype=torch.float32)
    model.eval()
    for prompt, word in COMPLETIONS.items():
        ids = tok(prompt, add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=N_NEW, do_sample=False)
        answer = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        ref.check(f"transformers completes sensibly (greedy): {prompt!r}", word in answer, repr(answer))
    text = tok.apply_chat_template([{"role": "user", "content": QUESTION}], tokenize=False, add_generation_prompt=True)
    chat_ids = tok(text, add_special_tokens=False).input_ids
    ids = torch.tensor([chat_ids])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=N_NEW, do_sample=False)
    chat_answer = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    ref.check(f"transformers answers the chat question (greedy): {QUESTION!r}", "Paris" in chat_answer, repr(chat_answer))
    return text, chat_ids, sum(p.numel() for p in model.parameters()), tok, chat_answer


def check_llama_cpp(ref, gguf, text, hf_ids, tok):
    llm = ltref.llama_cpp_model(gguf, n_ctx=256, n_threads=1, n_threads_batch=1, logits_all=True, seed=0,
                                verbose=False)
    try:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        ref.check("the GGUF's vocabulary tokenizes the chat prompt like tokenizer.json", ids == hf_ids,
                  f"{len(ids)} ids" + ("" if ids == hf_ids else f": llama.cpp {ids} vs transformers {hf_ids}"))
        for prompt, word in COMPLETIONS.items():
            out = ltref.llama_cpp_greedy(llm, tok(prompt, add_special_tokens=False).input_ids, N_NEW)
            answer = llm.detokenize(out).decode("utf-8", errors="replace")
            ref.check(f"llama.cpp completes sensibly from the Q4_1 GGUF (greedy): {prompt!r}", word in answer,
                      repr(answer))
    finally:
        llm.close()


def check_chat_prepare(ref, hf, tok):
    """prepare renders chat records with the model's own template: tokens equal transformers'
    apply_chat_template(tokenize=True); exactly each answer and its <|im_end|> are trained."""
    import numpy as np
    convs = [
        [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris."},
         {"role": "user", "content": "And of Germany?"}, {"role": "assistant", "content": "Berlin."}],
        [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "2+2?"},
         {"role": "assistant", "content": " 4 "}],
        [{"role": "user", "content": "Write <b>bold</b> and 日本語."}, {"role": "assistant", "content": "<b>OK</b> 日本語\n"}],
    ]
    src = ref.path("chats.jsonl")
    with open(src, "w", encoding="utf-8") as f:
        for c in convs:
            f.write(json.dumps({"messages": c}, ensure_ascii=False) + "\n")
    out_dir = ref.path("chat-data")
    ref.loratune("prepare", src, "--model", hf, "--out", out_dir, "--val-fraction", "0", "--seq-len", "256")
    with open(os.path.join(out_dir, "manifest.json")) as f:
        manifest = json.load(f)
    dt = {2: np.uint16, 4: np.uint32}[manifest["token_bytes"]]
    ids = np.fromfile(os.path.join(out_dir, "train", "tokens.bin"), dtype=dt).tolist()
    mask = np.fromfile(os.path.join(out_dir, "train", "mask.bin"), dtype=np.uint8).tolist()
    theirs, answers = [], []
    for c in convs:
        theirs += tok.apply_chat_template(c, tokenize=True, return_dict=False)
        answers += [m["content"] + "<|im_end|>" for m in c if m["role"] == "assistant"]
    runs = ltref.trained_runs(tok, ids, mask)
    ref.check("prepare with the model's template: template 'model' recorded", manifest["template"] == "model",
              manifest["template"])
    ref.check("prepare with the model's template: ids equal apply_chat_template's", ids == theirs,
              f"{len(ids)} vs {len(theirs)} ids")
    ref.check("prepare with the model's template: the trained tokens are each answer and its <|im_end|>",
              runs == answers, f"{runs!r} vs {answers!r}")


def check_loratune_reads(ref, hf, n_params, tok, chat_ids, chat_answer):
    """loratune uses the directory's tokenizer.json: ids equal transformers' on a corpus, greedy generation agrees."""
    corpus = os.path.join(ltref.FIXTURES, "text", "corpus.txt")
    lines_file = ref.path("lines.txt")
    with open(corpus, encoding="utf-8") as f:
        lines = [l for l in f.read().split("\n") if l.strip()]
    extra = [QUESTION, "  leading spaces\tand tabs", "<|im_start|>user Hi<|im_end|>", "123456789 1,000.5", "héllo wörld 日本語 🙂"]
    lines = lines + extra
    with open(lines_file, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    for special in (False, True):
        args = ["tokenize", "--model", hf, "--file", lines_file, "--lines", "--json"] + ([] if special else ["--no-special"])
        out, _, _ = ref.loratune(*args)
        ours = [t["ids"] for t in json.loads(out)["texts"]]
        theirs = [tok(l, add_special_tokens=special)["input_ids"] for l in lines]
        same = sum(a == b for a, b in zip(ours, theirs))
        first_bad = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), None)
        ref.check(f"loratune tokenize equals transformers (add_special_tokens={special})",
                  len(ours) == len(theirs) and same == len(lines),
                  f"{same}/{len(lines)} lines" + ("" if first_bad is None else
                                                  f"; first difference line {first_bad}: {ours[first_bad][:12]} vs "
                                                  f"{theirs[first_bad][:12]}"))
    check_chat_prepare(ref, hf, tok)
    prompt = next(iter(COMPLETIONS))
    out, _, code = ref.loratune("generate", "--model", hf, "--raw", "-p", prompt, "--json", "--dtype", "fp32", "--device", "cpu",
                                "--set", "generate.temperature=0", "--set", f"generate.max_new_tokens={N_NEW}",
                                expect=None)
    text = json.loads(out)["text"] if code == 0 else ""
    ref.check(f"loratune generate completes '{prompt}' with '{COMPLETIONS[prompt]}'", COMPLETIONS[prompt] in text,
              f"exit {code}: {text!r}")
    out, _, code = ref.loratune("generate", "--model", hf, "-p", QUESTION, "--json", "--dtype", "fp32", "--device", "cpu",
                                "--set", "generate.temperature=0", "--set", f"generate.max_new_tokens={N_NEW}",
                                expect=None)
    got = json.loads(out) if code == 0 else {}
    ref.check("loratune generate renders the question with the model's chat template and answers as transformers does",
              got.get("template") == "model" and got.get("prompt_tokens") == len(chat_ids) and
              got.get("text", "").strip() == chat_answer.strip(),
              f"exit {code}: template {got.get('template')}, {got.get('prompt_tokens')} vs {len(chat_ids)} prompt ids, "
              f"{got.get('text')!r} vs {chat_answer!r}")
    data = ref.path("tiny-data")
    tiny = ref.path("tiny-model")
    ref.loratune("init", "--out", tiny, "--corpus", corpus, "--tokenizer-vocab", "400")
    ref.loratune("prepare", corpus, "--model", tiny, "--split-text", "blank-line", "--seq-len", "64", "--out", data)
    out, _, code = ref.loratune("finetune", "--model", hf, "--data", data, "--out", ref.path("dry"), "--dry-run",
                                "--json", expect=None)
    planned = json.loads(out)["plan"]["parameters"] if code == 0 else None
    ref.check("finetune --dry-run counts the parameters as transformers does", planned == n_params,
              f"loratune {planned}, transformers {n_params}")


def main():
    ref = ltref.Ref(__doc__.splitlines()[0])
    hf, gguf = ltref.SMOLLM2_HF, ltref.SMOLLM2_GGUF
    try:
        if check_files(ref, hf, gguf):
            text, ids, n_params, tok, chat_answer = check_transformers(ref, hf)
            check_llama_cpp(ref, gguf, text, ids, tok)
            check_loratune_reads(ref, hf, n_params, tok, ids, chat_answer)
    except Exception as e:
        ref.check("the test ran to the end", False, f"{type(e).__name__}: {e}")
    ref.finish()


if __name__ == "__main__":
    main()
