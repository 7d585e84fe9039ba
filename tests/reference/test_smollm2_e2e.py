"""The real SmolLM2-135M-Instruct end to end, as a user runs it: chat data prepared with the model's own chat
template, a LoRA finetune, eval against the base, generate with the adapter, export to GGUF and run in llama.cpp.

Data: the bundled legal Q&A (data/legal/qa.jsonl, 60 records) as chat conversations: "Continue this license
text: <prompt>" -> the reference words; a third with a system message, a quarter with a second exchange (which
file the text is from). The model: the fixture directory of scripts/setup.sh --test (tokenizer.json and
chat_template.jinja only, no tokenizer.model).

Checks, each against the real consumer:
  - prepare (default template: the model's): every sample's ids equal transformers' apply_chat_template of its
    conversation, and exactly each answer and its <|im_end|> are trained;
  - finetune (the defaults: bf16 on the CPU, q/k/v/o) for STEPS steps: the training loss falls;
  - eval (fp32): loratune's val loss with the adapter equals the loss transformers + PEFT compute with the same
    adapter on the same rows (relative 1e-4), the tuned loss is below the base's by >= MIN_GAIN nats, a gate on
    it passes (exit 0) and an unreachable gate fails with exit 3;
  - generate (fp32, greedy) with the adapter through the chat template answers the val prompts exactly as
    transformers + PEFT's greedy generate does;
  - export gguf (f32, merged, verified by loratune on export) in llama.cpp: its vocabulary tokenizes the chat
    prompt to loratune's ids, its logits on the val conversations equal transformers + PEFT's within
    LOGIT_TOL, and its greedy answers equal loratune's;
  - export gguf-lora applied by llama.cpp to the fixture's own Q4_1 GGUF (how llama.cpp / ollama users load an
    adapter): the adapter lowers the NLL of the val answers, as it does in transformers.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ltref  # noqa: E402

STEPS = 12
MIN_GAIN = 0.3     # nats of val loss the tuned adapter must gain over the base (measured: 2.1)
LOGIT_TOL = 1e-3   # max |logit| difference, llama.cpp f32 GGUF vs transformers + PEFT fp32 (measured 9.0e-5)
N_NEW = 12
SEQ_LEN = 256


def conversations():
    with open(os.path.join(ltref.SOURCE_DIR, "data", "legal", "qa.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(l) for l in f if l.strip()]
    out = []
    for i, r in enumerate(rows):
        msgs = [{"role": "system", "content": "You continue license texts word for word."}] if i % 3 == 0 else []
        msgs += [{"role": "user", "content": "Continue this license text:\n" + r["prompt"].strip()},
                 {"role": "assistant", "content": r["reference"].strip()}]
        if i % 4 == 1:
            msgs += [{"role": "user", "content": "Which file is it from?"},
                     {"role": "assistant", "content": r["source"]}]
        out.append(msgs)
    return out


def check_prepare(ref, tok, convs, data):
    manifest, rows = ltref.read_split(data, "train")
    _, val = ltref.read_split(data, "val")
    by_ids = {tuple(tok.apply_chat_template(c, tokenize=True, return_dict=False)): c for c in convs}
    matched = [by_ids.get(tuple(ids)) for ids, _ in rows + val]
    ref.check("prepare: template 'model' (the model's own) is the default and is recorded",
              manifest["template"] == "model", manifest["template"])
    ref.check("prepare: every sample's ids equal transformers' apply_chat_template of one conversation",
              len(rows) + len(val) == len(convs) and all(m is not None for m in matched) and
              len({id(m) for m in matched}) == len(convs),
              f"{sum(m is not None for m in matched)}/{len(rows) + len(val)} samples matched, {len(convs)} conversations")
    bad = [i for (ids, mask), c in zip(rows + val, matched) if c is not None and
           ltref.trained_runs(tok, ids, mask) != [m["content"] + "<|im_end|>" for m in c if m["role"] == "assistant"]]
    ref.check("prepare: exactly each answer and its <|im_end|> are trained", not bad,
              f"{len(rows) + len(val) - len(bad)}/{len(rows) + len(val)} samples" +
              (f"; first bad: {ltref.trained_runs(tok, *(rows + val)[bad[0]])!r}" if bad else ""))
    return [c for (ids, _), c in zip(val, matched[len(rows):])], val


def peft_model(hf, adapter):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(hf, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, adapter)
    model.eval()
    return model


def eval_json(ref, *args, expect=0):
    out, _, code = ref.loratune("eval", *args, "--json", "--device", "cpu", "--dtype", "fp32", expect=expect)
    return json.loads(out), code


def main():
    ref = ltref.Ref(__doc__.splitlines()[0])
    hf = ltref.SMOLLM2_HF
    try:
        if not (os.path.isfile(os.path.join(hf, ".complete")) and os.path.isfile(ltref.SMOLLM2_GGUF)):
            ref.check("fixture present", False, f"{hf}: run scripts/setup.sh --test")
            ref.finish()
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(hf)
        convs = conversations()
        src, data, run = ref.path("chat.jsonl"), ref.path("data"), ref.path("run")
        with open(src, "w", encoding="utf-8") as f:
            for c in convs:
                f.write(json.dumps({"messages": c}, ensure_ascii=False) + "\n")
        ref.loratune("prepare", src, "--model", hf, "--out", data, "--seq-len", str(SEQ_LEN), "--val-fraction", "0.15")
        val_convs, val_rows = check_prepare(ref, tok, convs, data)

        out, _, _ = ref.loratune("finetune", "--model", hf, "--data", data, "--out", run, "--steps", str(STEPS),
                                 "--batch-size", "4", "--lr", "2e-3", "--threads", "2", "--json")
        with open(os.path.join(run, "metrics.jsonl"), encoding="utf-8") as f:
            losses = [m["loss"] for m in map(json.loads, f) if m.get("event", "step") == "step" and "loss" in m]
        ref.check("finetune: the training loss falls", len(losses) >= 2 and losses[-1] < losses[0],
                  f"{len(losses)} steps logged, loss {losses[0]:.3f} -> {losses[-1]:.3f}" if losses else "no losses")
        adapter = os.path.join(run, "adapter")

        tuned, _ = eval_json(ref, "--model", hf, "--adapter", adapter, "--data", data, "--compare-base",
                             "--gate", f"delta.loss<=-{MIN_GAIN}")
        model = peft_model(hf, adapter)
        peft_loss = ltref.masked_nll(ltref.torch_logits(model), val_rows)
        ours = tuned["metrics"]["loss"]
        ref.check("eval: val loss with the adapter equals transformers + PEFT's (relative 1e-4)",
                  abs(ours - peft_loss) <= 1e-4 * peft_loss, f"loratune {ours:.6f}, PEFT {peft_loss:.6f}")
        ref.check(f"eval: the tuned model beats the base on val by >= {MIN_GAIN} nats and the gate passes",
                  tuned["passed"] and tuned["delta"]["loss"] <= -MIN_GAIN,
                  f"base {tuned['base']['metrics']['loss']:.3f}, tuned {ours:.3f}, delta {tuned['delta']['loss']:.3f}")
        _, code = eval_json(ref, "--model", hf, "--adapter", adapter, "--data", data, "--gate", "loss<=0.001",
                            expect=None)
        ref.check("eval: an unreachable gate fails with exit 3", code == 3, f"exit {code}")

        prompts = [c for c in val_convs if c[0]["role"] == "user"][:3]  # no system message: generate -p USER
        ref.check("val conversations to prompt", len(prompts) >= 1, f"{len(prompts)}")
        answers = []
        for c in prompts:
            user = c[0]["content"]
            out, _, _ = ref.loratune("generate", "--model", hf, "--adapter", adapter, "-p", user, "--json",
                                     "--device", "cpu", "--dtype", "fp32", "--set", "generate.temperature=0",
                                     "-n", str(N_NEW))
            got = json.loads(out)
            ids = tok.apply_chat_template([{"role": "user", "content": user}], tokenize=True, add_generation_prompt=True,
                                          return_dict=False)
            with torch.no_grad():
                gen = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                     max_new_tokens=N_NEW, do_sample=False)
            theirs = tok.decode(gen[0, len(ids):], skip_special_tokens=True)
            ref.check(f"generate with the adapter (chat template, greedy) answers as transformers + PEFT: {user[-40:]!r}",
                      got["template"] == "model" and got["prompt_tokens"] == len(ids) and got["text"] == theirs,
                      f"{got['prompt_tokens']} vs {len(ids)} prompt ids; {got['text']!r} vs {theirs!r}")
            answers.append((user, ids, got))

        gguf, lora = ref.path("tuned-f32.gguf"), ref.path("adapter.gguf")
        ref.loratune("export", "--model", hf, "--adapter", adapter, "--format", "gguf", "--dtype", "f32", "--out", gguf)
        ref.loratune("export", "--model", hf, "--adapter", adapter, "--format", "gguf-lora", "--out", lora)
        import llama_cpp

        # As close to fp32 as llama.cpp goes: f32 K/V cache (its default is f16), no flash attention.
        llm = ltref.llama_cpp_model(gguf, n_ctx=512, n_batch=512, n_threads=2, n_threads_batch=2, logits_all=True,
                                    type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32, flash_attn=False,
                                    seed=0, verbose=False)
        try:
            cpp_of, peft_of = ltref.cpp_logits(llm), ltref.torch_logits(model)
            worst = max((cpp_of(ids) - peft_of(ids)).abs().max().item() for ids, _ in val_rows)
            ref.check(f"llama.cpp runs the merged f32 GGUF: logits on the val conversations equal transformers + PEFT's",
                      worst <= LOGIT_TOL, f"max |diff| {worst:.2e} over {len(val_rows)} conversations (tolerance {LOGIT_TOL:g})")
            for user, ids, got in answers:
                text = tok.apply_chat_template([{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True)
                cpp_ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
                new = ltref.llama_cpp_greedy(llm, cpp_ids, N_NEW)
                cpp_text = llm.detokenize(new).decode("utf-8", errors="replace")
                ref.check(f"llama.cpp (tuned GGUF) tokenizes the chat prompt as loratune and answers the same: {user[-40:]!r}",
                          cpp_ids == ids and cpp_text == got["text"], f"{len(cpp_ids)} vs {len(ids)} ids; {cpp_text!r} vs {got['text']!r}")
        finally:
            llm.close()

        nll = {}
        for name, lora_path in (("Q4_1 base", None), ("Q4_1 base + GGUF LoRA", lora)):
            q = ltref.llama_cpp_model(ltref.SMOLLM2_GGUF, lora_path, n_ctx=512, n_batch=512, n_threads=2,
                                      n_threads_batch=2, logits_all=True, seed=0, verbose=False)
            try:
                nll[name] = ltref.masked_nll(ltref.cpp_logits(q), val_rows)
            finally:
                q.close()
        ref.check(f"llama.cpp applies the GGUF LoRA to the fixture's Q4_1 GGUF: the val answers' NLL falls by >= {MIN_GAIN}",
                  nll["Q4_1 base"] - nll["Q4_1 base + GGUF LoRA"] >= MIN_GAIN,
                  f"{nll['Q4_1 base']:.3f} -> {nll['Q4_1 base + GGUF LoRA']:.3f} (transformers + PEFT fp32: "
                  f"{tuned['base']['metrics']['loss']:.3f} -> {peft_loss:.3f})")
    except Exception as e:
        ref.check("the test ran to the end", False, f"{type(e).__name__}: {e}")
    ref.finish()


if __name__ == "__main__":
    main()
