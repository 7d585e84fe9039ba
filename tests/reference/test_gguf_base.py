"""A GGUF file as the base model: loratune loads the real SmolLM2-135M-Instruct Q4_1 GGUF (metadata, tokenizer,
dequantized tensors) and computes what transformers computes from it.

  - loratune's fp32 logits from the GGUF are bit-identical to its logits from the Hugging Face directory that
    transformers made from the same GGUF (the fixture): the dequantized weights, the q/k un-permutation and the
    hyper-parameters are exactly transformers' (which dequantizes with gguf-py);
  - they equal transformers' `from_pretrained(dir, gguf_file=...)` fp32 logits within LOGIT_TOL (fp32 summation
    order only);
  - `generate -m FILE.gguf` (greedy, fp32) completes a prompt and answers a chat question exactly as with the
    directory.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ltref  # noqa: E402

# max |logit| difference against transformers (fp32, 30 layers, |logits| up to ~38): measured 1.07e-4, the same
# as loratune's forward on the Hugging Face directory shows (the difference is summation order, not weights).
LOGIT_TOL = 3e-4


def main():
    ref = ltref.Ref(__doc__.splitlines()[0])
    gguf, hf = ltref.SMOLLM2_GGUF, ltref.SMOLLM2_HF
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(hf)
        text = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                       tokenize=False, add_generation_prompt=True)
        ids = [tok(text, add_special_tokens=False).input_ids, tok("The licensee shall not sublicense the "
                                                                  "Software, 123 日本語.", add_special_tokens=False).input_ids]
        n = min(len(x) for x in ids)
        ids = [x[:n] for x in ids]
        ours = ref.logits(gguf, ids)
        ours_dir = ref.logits(hf, ids)
        d = (ours - ours_dir).abs().max().item()
        ref.check("loratune's logits from the GGUF are bit-identical to those from the directory transformers made of it",
                  d == 0.0, f"max |diff| {d:.3g}")
        model = AutoModelForCausalLM.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf),
                                                     dtype=torch.float32)
        model.eval()
        with torch.no_grad():
            theirs = model(torch.tensor(ids)).logits
        ref.check_close("loratune's fp32 logits from the GGUF equal transformers' from_pretrained(gguf_file=...)",
                        ours, theirs, LOGIT_TOL)
        for args, what in ((["--raw", "-p", "The capital of France is"], "a raw prompt"),
                           (["-p", "What is the capital of France?"], "a chat question")):
            outs = []
            for m in (gguf, hf):
                out, _, _ = ref.loratune("generate", "--model", m, *args, "--json", "--device", "cpu", "--dtype", "fp32",
                                         "--set", "generate.temperature=0", "-n", "10")
                outs.append(json.loads(out))
            ref.check(f"generate -m FILE.gguf answers {what} as with the directory",
                      outs[0]["text"] == outs[1]["text"] and outs[0]["prompt_tokens"] == outs[1]["prompt_tokens"] and
                      "Paris" in outs[0]["text"], f"{outs[0]['text']!r} vs {outs[1]['text']!r}")
        src, data, run = ref.path("chat.jsonl"), ref.path("data"), ref.path("run")
        with open(src, "w", encoding="utf-8") as fh:
            for i in range(48):
                fh.write(json.dumps({"messages": [{"role": "user", "content": f"Code for item {i}?"},
                                                  {"role": "assistant", "content": f"ITEM-{i * 7:04d}-X"}]}) + "\n")
        ref.loratune("prepare", src, "--model", gguf, "--out", data, "--val-fraction", "0.2", "--seq-len", "64")
        ref.loratune("finetune", "--model", gguf, "--data", data, "--out", run, "--steps", "8", "--batch-size", "4",
                     "--lr", "3e-3", "--threads", "2")
        out, _, _ = ref.loratune("eval", "--model", gguf, "--adapter", os.path.join(run, "adapter"), "--data", data,
                                 "--compare-base", "--json", "--dtype", "fp32", "--device", "cpu")
        ev = json.loads(out)
        ref.check("finetune -m FILE.gguf trains: the tuned val loss is below the base's",
                  ev["metrics"]["loss"] < ev["base"]["metrics"]["loss"] - 0.3,
                  f"base {ev['base']['metrics']['loss']:.3f}, tuned {ev['metrics']['loss']:.3f}")
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(hf, dtype=torch.float32)
        peft = PeftModel.from_pretrained(base, os.path.join(run, "adapter"))
        peft.eval()
        with torch.no_grad():
            theirs = peft(torch.tensor(ids)).logits
        ref.check_close("the adapter tuned on the GGUF, applied by PEFT to the directory, gives loratune's logits",
                        ref.logits(gguf, ids, adapter=os.path.join(run, "adapter")), theirs, LOGIT_TOL)
        for name in ("llama-bpe", "bert-bge"):
            bad = os.path.join(ltref.CACHE, "gguf-vocab", f"ggml-vocab-{name}.gguf")
            _, err, code = ref.loratune("generate", "--model", bad, "-p", "hi", "--device", "cpu", expect=None)
            ref.check(f"ggml-vocab-{name}.gguf (not a loadable model) is refused with exit 2 naming the file",
                      code == 2 and bad in err, f"exit {code}: {err.strip()[:160]}")
    except Exception as e:
        ref.check("the test ran to the end", False, f"{type(e).__name__}: {e}")
    ref.finish()


if __name__ == "__main__":
    main()
