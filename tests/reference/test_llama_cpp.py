"""llama.cpp (through llama-cpp-python, pinned in scripts/requirements-reference.txt) reads loratune's GGUF exports
and computes what loratune computes.

Models: tiny llama and qwen3 (explicit head_dim) models made by `loratune init`, each LoRA-tuned for a few steps
on all linear layers (so B != 0), plus untuned qwen2 (q/k/v biases) and llama3-RoPE-scaled llama models. Their
exports: merged GGUF at f32, f16, bf16 and q8_0, base GGUF (f32) and GGUF LoRA (applied by llama.cpp on the
base GGUF, the way llama.cpp users load an adapter).

Comparisons (token ids are fed to llama.cpp directly, so its tokenizer plays no part):
  - greedy: llama.cpp's greedy continuation of the prompt (argmax of its logits, one token at a time through its
    KV cache) equals `loratune generate ... --json --device cpu --dtype fp32`, for merged f32, base f32 and base
    + LoRA. loratune stops at EOS; llama.cpp is run to the same length and must give the EOS where loratune
    stopped.
  - per-position NLL: for each position t of a sequence, -log p(x[t+1] | x[..t]) from llama.cpp's logits vs from
    loratune's fp32 logits (loratune-logits, the base model + the PEFT adapter the export was made from). The
    figure is max over positions of |NLL_cpp - NLL_lt| / max(NLL_lt, NLL_FLOOR): relative, with an absolute
    floor so that near-certain tokens (NLL ~ 0) do not turn rounding noise into huge ratios. Two sequences: a
    passage of the training corpus (typical NLL) and random ids (high NLL).

llama.cpp runs without its extra weight buffer types (AMX / CPU_REPACK; see ltref.llama_cpp_model: its AMX path
segfaults here). Tolerances: TOLERANCES below, each set from the measured figure (llama-cpp-python 0.3.36 on an x86-64 CPU,
n_threads=1, f32 K/V cache, no flash attention) with the margin stated there. So that they mean something, the same
figure between loratune's tuned and base logits (what a lost or wrongly applied adapter would show) must exceed
every one of them.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ltref  # noqa: E402

import llama_cpp  # noqa: E402

PROMPT = "The licensee shall"
N_GREEDY = 24
SEQ_LEN = 96
N_CTX = 256
# NLLs below this (nats) are compared absolutely: a relative figure of near-certain tokens is noise.
NLL_FLOOR = 1.0
# max |NLL_cpp - NLL_lt| / max(NLL_lt, NLL_FLOOR) over all positions, per GGUF weight type, against loratune's fp32
# logits of the model the file was exported from. Measured (largest over the llama, qwen3, qwen2 and llama3-rope
# models and both sequences; llama-cpp-python 0.3.36, x86-64 with AVX-512) and the margin chosen:
TOLERANCES = {
    "f32": 2e-4,  # measured 3.0e-6: the bound, ~65x headroom for other fp32 summation orders
    "f16": 5e-3,  # measured 1.8e-3 (f16 weights; llama.cpp also rounds the activations to f16): 2.7x
    "bf16": 4e-2,  # measured 1.4e-2 (8-bit mantissa weights and activations): 2.8x
    "q8_0": 1e-1,  # measured 4.3e-2 (8-bit blocks of 32, activations quantized to q8_0 too): 2.3x
    "lora": 2e-4,  # base f32 GGUF + f32 GGUF LoRA, measured 1.3e-6: fp32 arithmetic only, as merged f32
}


def tune(ref, root, arch_flags):
    """A tiny model (trained byte-fallback tokenizer) and a LoRA adapter tuned on it: (model_dir, adapter_dir)."""
    corpus = os.path.join(ltref.FIXTURES, "text", "corpus.txt")
    model, data, run = ref.path(root + "-model"), ref.path(root + "-data"), ref.path(root + "-run")
    ref.loratune("init", "--out", model, "--corpus", corpus, "--tokenizer-vocab", "400", "--init-std", "0.2",
                 "--seed", "5", *arch_flags)
    ref.loratune("prepare", corpus, "--model", model, "--split-text", "blank-line", "--seq-len", "64",
                 "--val-fraction", "0.1", "--out", data)
    ref.loratune("finetune", "--model", model, "--data", data, "--out", run, "--steps", "8", "--batch-size", "4",
                 "--lr", "5e-3", "--targets", "all-linear", "--threads", "2")
    return model, os.path.join(run, "adapter")


def export(ref, out, *args):
    stdout, _, _ = ref.loratune("export", *args, "--out", out, "--json")
    return json.loads(stdout)


def loratune_greedy(ref, model, adapter=None):
    args = ["generate", "--model", model, "-p", PROMPT, "-n", str(N_GREEDY), "--json", "--device", "cpu",
            "--dtype", "fp32"]
    if adapter:
        args += ["--adapter", adapter]
    stdout, _, _ = ref.loratune(*args)
    return json.loads(stdout)["tokens"]


class LlamaCpp:
    """One GGUF (+ an optional GGUF LoRA) loaded by llama.cpp on the CPU as close to fp32 as it goes."""

    def __init__(self, gguf, lora=None):
        self.llm = ltref.llama_cpp_model(gguf, lora, n_ctx=N_CTX, n_batch=N_CTX, n_threads=1, n_threads_batch=1,
                                         logits_all=True, type_k=llama_cpp.GGML_TYPE_F32,
                                         type_v=llama_cpp.GGML_TYPE_F32, flash_attn=False, seed=0, verbose=False)

    def logits(self, ids):
        """llama.cpp's logits [T, V] of one sequence `ids` (from an empty KV cache)."""
        self.llm.reset()
        self.llm.eval(ids)
        return torch.from_numpy(np.array(self.llm.scores[: len(ids)], dtype=np.float32))

    def greedy(self, prompt, n, eos):
        """Greedy continuation through llama.cpp's KV cache, up to n tokens or through the first EOS."""
        self.llm.reset()
        self.llm.eval(prompt)
        out = []
        while len(out) < n:
            t = int(np.argmax(self.llm.scores[self.llm.n_tokens - 1]))
            out.append(t)
            if t == eos:
                break
            self.llm.eval([t])
        return out

    def close(self):
        self.llm.close()


def nll(logits, ids):
    """-log p(ids[t+1] | ids[..t]) for t in [0, T-1): logits [T, V], ids [T] -> [T-1] (float64)."""
    lp = torch.log_softmax(logits.double(), dim=-1)
    return -lp[:-1].gather(1, torch.tensor(ids[1:]).unsqueeze(1)).squeeze(1)


def nll_figure(ours, theirs, seqs):
    """(max relative NLL difference, max |NLL diff|, mean NLL of loratune) over the sequences."""
    rel, absd, means = 0.0, 0.0, []
    for o, t, ids in zip(ours, theirs, seqs):
        a, b = nll(o, ids), nll(t, ids)
        d = (a - b).abs()
        rel = max(rel, (d / a.clamp(min=NLL_FLOOR)).max().item())
        absd = max(absd, d.max().item())
        means.append(a.mean().item())
    return rel, absd, means


class Measured:
    """The largest figure per tolerance key, printed at the end (what the tolerances were set from)."""

    def __init__(self):
        self.max = {}

    def add(self, key, value):
        self.max[key] = max(self.max.get(key, 0.0), value)


def check_nll(ref, measured, name, key, ours, gguf, seqs, lora=None):
    cpp = LlamaCpp(gguf, lora)
    try:
        theirs = [cpp.logits(ids) for ids in seqs]
    finally:
        cpp.close()
    rel, absd, means = nll_figure(ours, theirs, seqs)
    measured.add(key, rel)
    tol = TOLERANCES[key]
    ref.check(f"{name}: per-position NLL", rel <= tol,
              f"max rel diff {rel:.3g} (tolerance {tol:g}; floor {NLL_FLOOR:g} nat), "
              f"max |diff| {absd:.3g} nat, mean NLL {', '.join(f'{m:.3f}' for m in means)}")


def check_greedy(ref, name, ours, theirs, eos):
    """loratune stops at EOS (its tokens end before it); llama.cpp's list ends with the EOS where it stopped."""
    ours = list(ours)
    if ours and ours[-1] == eos:
        ours = ours[:-1]
    expect = ours + ([eos] if len(ours) < N_GREEDY else [])
    ref.check(f"{name}: greedy tokens", theirs == expect,
              f"{len(ours)} tokens{' + EOS' if len(ours) < N_GREEDY else ''}"
              + ("" if theirs == expect else f"\n    loratune  {expect}\n    llama.cpp {theirs}"))


def sequences(ref, model, vocab):
    """Two sequences of SEQ_LEN ids: a corpus passage as loratune encodes it (with BOS) and BOS + random ids."""
    with open(os.path.join(ltref.FIXTURES, "text", "corpus.txt"), encoding="utf-8") as f:
        text = f.read()
    ids, eos = ref.encode(model, text[2000:6000])
    if len(ids) < SEQ_LEN:
        raise RuntimeError(f"the corpus passage encodes to {len(ids)} ids, fewer than {SEQ_LEN}")
    rnd = [ids[0]] + ltref.random_ids(vocab, 1, SEQ_LEN - 1, seed=3)[0]
    return [ids[:SEQ_LEN], rnd], eos


def vocab_size(model):
    with open(os.path.join(model, "config.json"), encoding="utf-8") as f:
        return json.load(f)["vocab_size"]


def main():
    ref = ltref.Ref(__doc__.splitlines()[0])
    measured = Measured()
    print(f"llama-cpp-python {llama_cpp.__version__}", flush=True)
    try:
        tuned = {"llama": tune(ref, "llama", []), "qwen3": tune(ref, "qwen3", ["--arch", "qwen3", "--head-dim", "32"])}
        for name, (model, adapter) in tuned.items():
            seqs, eos = sequences(ref, model, vocab_size(model))
            prompt, _ = ref.encode(model, PROMPT)
            ours_tuned = [t[0] for t in ref.logits(model, seqs, adapter=adapter).split(1)]
            ours_base = [t[0] for t in ref.logits(model, seqs).split(1)]
            base, lora = ref.path(f"{name}-base.gguf"), ref.path(f"{name}-lora.gguf")
            export(ref, base, "--model", model, "--format", "gguf", "--dtype", "f32")
            export(ref, lora, "--model", model, "--adapter", adapter, "--format", "gguf-lora")
            merged = {}
            for dtype in ("f32", "f16", "bf16", "q8_0"):
                merged[dtype] = ref.path(f"{name}-tuned-{dtype}.gguf")
                export(ref, merged[dtype], "--model", model, "--adapter", adapter, "--format", "gguf", "--dtype", dtype)

            # Greedy at f32: merged, base, base + LoRA.
            g_tuned = loratune_greedy(ref, model, adapter)
            g_base = loratune_greedy(ref, model)
            ref.check(f"{name}: the adapter changes loratune's greedy tokens", g_tuned != g_base)
            rel, _, _ = nll_figure(ours_tuned, ours_base, seqs)
            ref.check(f"{name}: the NLL tolerances tell the tuned model from the base", rel > max(TOLERANCES.values()),
                      f"tuned vs base (loratune) max rel diff {rel:.3g} > {max(TOLERANCES.values()):g}")
            for label, gguf, lora_path, ours in ((f"{name} merged f32 GGUF", merged["f32"], None, g_tuned),
                                                 (f"{name} base f32 GGUF", base, None, g_base),
                                                 (f"{name} base GGUF + GGUF LoRA", base, lora, g_tuned)):
                cpp = LlamaCpp(gguf, lora_path)
                try:
                    check_greedy(ref, label, ours, cpp.greedy(prompt, N_GREEDY, eos), eos)
                finally:
                    cpp.close()

            # Per-position NLL.
            for dtype, gguf in merged.items():
                check_nll(ref, measured, f"{name} merged {dtype} GGUF", dtype, ours_tuned, gguf, seqs)
            check_nll(ref, measured, f"{name} base f32 GGUF", "f32", ours_base, base, seqs)
            check_nll(ref, measured, f"{name} base GGUF + GGUF LoRA", "lora", ours_tuned, base, seqs, lora=lora)

        # Untuned qwen2 (q/k/v biases) and llama3 RoPE scaling, sharing the llama model's tokenizer.
        tokenizer = os.path.join(tuned["llama"][0], "tokenizer.model")
        q2, l3 = ref.path("qwen2-model"), ref.path("llama3rope-model")
        ref.loratune("init", "--out", q2, "--arch", "qwen2", "--tokenizer", tokenizer, "--init-std", "0.2")
        ref.loratune("init", "--out", l3, "--tokenizer", tokenizer, "--init-std", "0.2", "--seed", "9")
        with open(os.path.join(l3, "config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
        cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                               "original_max_position_embeddings": 64}
        with open(os.path.join(l3, "config.json"), "w", encoding="utf-8") as f:
            json.dump(cfg, f, indent=2)
        for name, model in (("qwen2", q2), ("llama3-rope", l3)):
            seqs, eos = sequences(ref, model, vocab_size(model))
            prompt, _ = ref.encode(model, PROMPT)
            gguf = ref.path(f"{name}.gguf")
            export(ref, gguf, "--model", model, "--format", "gguf", "--dtype", "f32")
            cpp = LlamaCpp(gguf)
            try:
                check_greedy(ref, f"{name} base f32 GGUF", loratune_greedy(ref, model), cpp.greedy(prompt, N_GREEDY, eos),
                             eos)
            finally:
                cpp.close()
            ours = [t[0] for t in ref.logits(model, seqs).split(1)]
            check_nll(ref, measured, f"{name} base f32 GGUF", "f32", ours, gguf, seqs)
    except Exception as e:  # a loratune or llama.cpp failure is a failed comparison, reported with its output
        ref.check("the test ran to the end", False, f"{type(e).__name__}: {e}")
    print("largest figures: " + ", ".join(f"{k} {v:.3g}" for k, v in sorted(measured.max.items())))
    ref.finish()


if __name__ == "__main__":
    main()
