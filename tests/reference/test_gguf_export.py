"""Back to where it came from: an adapter tuned on the real SmolLM2-135M-Instruct Q4_1 GGUF, exported, in the
consumers.

  - export gguf-lora: llama.cpp (llama-cpp-python) applies it to the original Q4_1 file (--lora). llama.cpp
    quantizes the activations of its Q4_1 matmuls (to Q8_1), loratune does not, so the base already differs;
    the checks are per answer token (its log-prob in llama.cpp with the LoRA is loratune's tuned one within
    TOKEN_LOGP_TOL on average) and per answer (the val answers' NLL in llama.cpp equals loratune's within
    NLL_TOL, both for the base and the tuned model);
  - export merged (f32): transformers loads the directory (config.json, tokenizer.json, tokenizer_config.json
    with the chat template, all written from the GGUF's metadata): its chat template tokenizes every val
    conversation to the ids loratune trained on, and its logits equal loratune's tuned logits within LOGIT_TOL;
  - export gguf (f32): llama.cpp runs it with logits equal to loratune's tuned logits within CPP_F32_TOL;
  - merged and gguf say that the quantized base was dequantized; gguf-lora says which file it applies to.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ltref  # noqa: E402

LOGIT_TOL = 3e-4     # transformers fp32 on the merged f32 directory vs loratune (summation order; measured below)
CPP_F32_TOL = 1e-3   # llama.cpp on an f32 GGUF vs loratune fp32
TOKEN_LOGP_TOL = 0.05  # mean |log p(answer token)| difference, llama.cpp Q4_1 + LoRA vs loratune
NLL_TOL = 0.02       # |NLL llama.cpp Q4_1 - NLL loratune| on the val answers, nats per token
MIN_GAIN = 0.3       # nats the tuned adapter must gain in llama.cpp


def conversations():
    return [[{"role": "user", "content": f"Which clause covers item {i} of the licence?"},
             {"role": "assistant", "content": f"Clause {i % 7 + 2}.{i % 5 + 1}: ITEM-{i * 7:04d}-X"}]
            for i in range(48)]


def token_logp_diff(cpp_of, table, rows):
    """Mean |log p_llama.cpp - log p_loratune| of the trained (answer) tokens of `rows`."""
    total, n = 0.0, 0
    for ids, mask in rows:
        a = torch.log_softmax(cpp_of(ids).double()[:-1], dim=-1)
        b = torch.log_softmax(table[tuple(ids)].double()[:-1], dim=-1)
        for t in range(1, len(ids)):
            if mask[t]:
                total += abs(a[t - 1, ids[t]].item() - b[t - 1, ids[t]].item())
                n += 1
    return total / n


def main():
    ref = ltref.Ref(__doc__.splitlines()[0])
    gguf = ltref.SMOLLM2_GGUF
    try:
        if not os.path.isfile(gguf):
            ref.check("fixture present", False, f"{gguf}: run scripts/setup.sh --test")
            ref.finish()
        src, data, run = ref.path("chat.jsonl"), ref.path("data"), ref.path("run")
        convs = conversations()
        with open(src, "w", encoding="utf-8") as fh:
            for c in convs:
                fh.write(json.dumps({"messages": c}) + "\n")
        ref.loratune("prepare", src, "--model", gguf, "--out", data, "--val-fraction", "0.2", "--seq-len", "64")
        ref.loratune("finetune", "--model", gguf, "--data", data, "--out", run, "--steps", "10", "--batch-size", "4",
                     "--lr", "3e-3", "--threads", "2")
        adapter = os.path.join(run, "adapter")
        _, val = ltref.read_split(data, "val")

        def ours(adapter_dir=None):
            return {tuple(ids): ref.logits(gguf, [ids], adapter=adapter_dir)[0] for ids, _ in val}

        base, tuned = ours(), ours(adapter)

        def of(table):
            return lambda ids: table[tuple(ids)]

        lt_nll = {"base": ltref.masked_nll(of(base), val), "tuned": ltref.masked_nll(of(tuned), val)}

        # gguf-lora onto the original Q4_1 file
        lora = ref.path("adapter.gguf")
        out, _, _ = ref.loratune("export", "--model", gguf, "--adapter", adapter, "--format", "gguf-lora", "--out", lora)
        ref.check("export gguf-lora names the file the adapter applies to", f"-m {gguf} --lora {lora}" in out,
                  out.strip().splitlines()[1] if len(out.strip().splitlines()) > 1 else out.strip())
        cpp_nll, drift = {}, {}
        for name, lora_path, table in (("base", None, base), ("tuned", lora, tuned)):
            q = ltref.llama_cpp_model(gguf, lora_path, n_ctx=256, n_batch=256, n_threads=2, n_threads_batch=2,
                                      logits_all=True, seed=0, verbose=False)
            try:
                cpp_of = ltref.cpp_logits(q)
                cpp_nll[name] = ltref.masked_nll(cpp_of, val)
                drift[name] = token_logp_diff(cpp_of, table, val)
            finally:
                q.close()
        ref.check(f"llama.cpp applies the GGUF LoRA to the original Q4_1 file: per answer token, its log-prob differs "
                  f"from loratune's tuned one by <= {TOKEN_LOGP_TOL} on average",
                  drift["tuned"] <= TOKEN_LOGP_TOL,
                  f"mean |diff| base {drift['base']:.4f}, tuned {drift['tuned']:.4f} over {len(val)} conversations")
        for name in ("base", "tuned"):
            ref.check(f"llama.cpp's val-answer NLL on the Q4_1 file ({name}) equals loratune's within {NLL_TOL}",
                      abs(cpp_nll[name] - lt_nll[name]) <= NLL_TOL,
                      f"llama.cpp {cpp_nll[name]:.4f}, loratune {lt_nll[name]:.4f}")
        ref.check(f"in llama.cpp the adapter lowers the val answers' NLL by >= {MIN_GAIN}",
                  cpp_nll["base"] - cpp_nll["tuned"] >= MIN_GAIN, f"{cpp_nll['base']:.3f} -> {cpp_nll['tuned']:.3f}")

        # merged directory in transformers
        merged = ref.path("merged")
        out, _, _ = ref.loratune("export", "--model", gguf, "--adapter", adapter, "--format", "merged", "--dtype",
                                 "f32", "--out", merged)
        ref.check("export merged says the quantized base was dequantized", "Q4_1" in out and "dequantized" in out,
                  out.strip()[:200])
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(merged)
        prepared = {tuple(ids) for ids, _ in val}
        got = {tuple(tok.apply_chat_template(c, tokenize=True, return_dict=False)) for c in convs}
        ref.check("the merged directory's tokenizer and chat template (from the GGUF) give the ids loratune trained on",
                  prepared <= got, f"{len(prepared & got)}/{len(prepared)} val conversations")
        model = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32)
        model.eval()
        hf_of = ltref.torch_logits(model)
        worst = max((hf_of(ids) - tuned[tuple(ids)]).abs().max().item() for ids, _ in val)
        ref.check("transformers on the merged f32 directory gives loratune's tuned logits", worst <= LOGIT_TOL,
                  f"max |diff| {worst:.2e} (tolerance {LOGIT_TOL:g})")
        del model

        # merged f32 GGUF in llama.cpp
        import llama_cpp

        f32 = ref.path("tuned-f32.gguf")
        out, _, _ = ref.loratune("export", "--model", gguf, "--adapter", adapter, "--format", "gguf", "--dtype", "f32",
                                 "--out", f32)
        ref.check("export gguf says the quantized base was dequantized", "dequantized" in out, out.strip()[:200])
        llm = ltref.llama_cpp_model(f32, n_ctx=256, n_batch=256, n_threads=2, n_threads_batch=2, logits_all=True,
                                    type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32, flash_attn=False,
                                    seed=0, verbose=False)
        try:
            cpp_of = ltref.cpp_logits(llm)
            worst = max((cpp_of(ids) - tuned[tuple(ids)]).abs().max().item() for ids, _ in val)
        finally:
            llm.close()
        ref.check("llama.cpp on the merged f32 GGUF gives loratune's tuned logits", worst <= CPP_F32_TOL,
                  f"max |diff| {worst:.2e} (tolerance {CPP_F32_TOL:g})")
    except Exception as e:
        ref.check("the test ran to the end", False, f"{type(e).__name__}: {e}")
    ref.finish()


if __name__ == "__main__":
    main()
