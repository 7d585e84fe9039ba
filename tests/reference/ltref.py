"""Shared helpers of the reference tests (tests/reference/test_*.py): each one runs the real loratune binary,
hands what it wrote to the real consumer (transformers, PEFT, llama.cpp through llama-cpp-python) and compares
the numbers with loratune's own, which come from the test-side tool loratune-logits.

CTest runs every tests/reference/test_*.py as
    scripts/refpy tests/reference/test_X.py --loratune BIN --logits-tool BIN
A test prints what it measured, one line per comparison, and exits non-zero when any comparison failed.
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from lt_llama_cpp import llama_cpp_model  # noqa: E402,F401  (the tests call ltref.llama_cpp_model)

SOURCE_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures")
CACHE = os.environ.get("LORATUNE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "loratune"))
SMOLLM2_HF = os.path.join(CACHE, "smollm2-135m-instruct", "hf")
SMOLLM2_GGUF = os.path.join(CACHE, "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")


class Ref:
    """Command-line arguments, a scratch directory and the list of failed comparisons of one test script."""

    def __init__(self, description):
        p = argparse.ArgumentParser(description=description)
        p.add_argument("--loratune", required=True, help="the loratune binary")
        p.add_argument("--logits-tool", required=True, help="the loratune-logits binary")
        p.add_argument("--keep", action="store_true", help="keep the scratch directory")
        self.args = p.parse_args()
        self.tmp = tempfile.mkdtemp(prefix="lt-ref-")
        self.failures = []
        torch.manual_seed(0)
        torch.set_num_threads(1)
        # fp32 everywhere: no TF32, no reduced-precision reductions.
        torch.backends.cuda.matmul.allow_tf32 = False

    def path(self, name):
        return os.path.join(self.tmp, name)

    def loratune(self, *args, expect=0):
        """Runs `loratune args...`; returns (stdout, stderr, exit code). An exit code other than `expect` raises."""
        cmd = [self.args.loratune, *args]
        r = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if expect is not None and r.returncode != expect:
            raise RuntimeError(f"{shlex.join(cmd)} exited {r.returncode} (expected {expect}):\n{r.stderr}{r.stdout}")
        return r.stdout, r.stderr, r.returncode

    def logits(self, model, ids, adapter=None):
        """loratune's fp32 logits [B, T, V] of `ids` ([B, T] int lists) for `model` (+ PEFT `adapter`)."""
        out = self.path("logits.safetensors")
        cmd = [self.args.logits_tool, "--model", model, "--ids", json.dumps(ids), "--out", out]
        if adapter:
            cmd += ["--adapter", adapter]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{shlex.join(cmd)} exited {r.returncode}:\n{r.stderr}")
        t = load_file(out)["logits"]
        os.remove(out)
        return t

    def encode(self, model, text):
        """(ids, eos) as loratune's tokenizer of `model` encodes `text` (with BOS as the model adds it)."""
        r = subprocess.run([self.args.logits_tool, "--model", model, "--encode", text], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"loratune-logits --encode failed:\n{r.stderr}")
        j = json.loads(r.stdout)
        return j["ids"], j["eos"]

    def check(self, name, ok, detail=""):
        print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
        if not ok:
            self.failures.append(name)
        return ok

    def check_close(self, name, ours, theirs, tol):
        """max |ours - theirs| <= tol (both [.., V] tensors of one shape)."""
        if ours.shape != theirs.shape:
            return self.check(name, False, f"shapes differ: {tuple(ours.shape)} vs {tuple(theirs.shape)}")
        d = (ours.double() - theirs.double()).abs().max().item()
        scale = theirs.abs().max().item()
        return self.check(name, d <= tol, f"max |diff| {d:.3g} (tolerance {tol:g}; max |logit| {scale:.3g})")

    def finish(self):
        if self.args.keep:
            print(f"scratch directory kept: {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if self.failures:
            print(f"{len(self.failures)} comparison(s) failed: {', '.join(self.failures)}")
            sys.exit(1)
        print("all comparisons passed")


def trained_runs(tok, ids, mask):
    """The decoded text of each maximal run of trained tokens (mask 1) of a prepared sample."""
    runs, cur = [], []
    for i, k in zip(ids, mask):
        if k:
            cur.append(i)
        elif cur:
            runs.append(tok.decode(cur))
            cur = []
    if cur:
        runs.append(tok.decode(cur))
    return runs


def masked_nll(logits_of, rows):
    """Mean -log p over the trained tokens of `rows` ([(ids, mask)]; mask[t] = 1 predicts ids[t] from ids[..t-1]),
    as loratune eval computes its loss; logits_of(ids) gives the [T, V] logits of one sequence."""
    total, n = 0.0, 0
    for ids, mask in rows:
        logp = torch.log_softmax(logits_of(ids).double()[:-1], dim=-1)
        for t in range(1, len(ids)):
            if mask[t]:
                total -= logp[t - 1, ids[t]].item()
                n += 1
    return total / n


def llama_cpp_greedy(llm, prompt_ids, n):
    """llama.cpp's greedy continuation of prompt_ids (argmax through its KV cache): up to n tokens, stopping
    before its EOS."""
    llm.reset()
    llm.eval(prompt_ids)
    out, eos = [], llm.token_eos()
    while len(out) < n:
        t = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        if t == eos:
            break
        out.append(t)
        llm.eval([t])
    return out


def read_split(data, split):
    """[(ids, mask)] per row of a prepared split (unpacked: one sample a row)."""
    with open(os.path.join(data, "manifest.json")) as f:
        manifest = json.load(f)
    dt = {2: np.uint16, 4: np.uint32}[manifest["token_bytes"]]
    ids = np.fromfile(os.path.join(data, split, "tokens.bin"), dtype=dt)
    mask = np.fromfile(os.path.join(data, split, "mask.bin"), dtype=np.uint8)
    rows = np.fromfile(os.path.join(data, split, "rows.bin"),
                       dtype=np.dtype([("off", "<u8"), ("len", "<u4"), ("n", "<u4"), ("starts", "<u8")]))
    return manifest, [(ids[r["off"]:r["off"] + r["len"]].tolist(), mask[r["off"]:r["off"] + r["len"]].tolist())
                      for r in rows]


def torch_logits(model):
    def logits_of(ids):
        with torch.no_grad():
            return model(torch.tensor([ids])).logits[0]
    return logits_of


def cpp_logits(llm):
    def logits_of(ids):
        llm.reset()
        llm.eval(ids)
        return torch.from_numpy(np.array(llm.scores[:len(ids)], dtype=np.float32))
    return logits_of


def random_ids(vocab, batch, length, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, length), generator=g).tolist()


