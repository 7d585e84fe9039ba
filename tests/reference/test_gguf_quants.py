"""loratune dequantizes every ggml tensor type it reads bit for bit as gguf-py does (pinned in
scripts/requirements-reference.txt; gguf-py's numpy code mirrors ggml's dequantize_row_* reference functions).

Types: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and the K-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
  - random blocks: every byte random (every bit pattern of the quants, the packed scales and the high-bit
    planes), the f16 scale fields drawn from normal, subnormal and zero values (F16/BF16 tensors: every bit
    pattern, NaN and inf included; NaNs compare as NaN);
  - for the types gguf-py can quantize (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): real-valued rows quantized by gguf-py;
  - the real SmolLM2-135M-Instruct Q4_1 file of the fixture, every tensor.
Each set is written with gguf-py's GGUFWriter (the fixture as it is), read by loratune's validating GGUF reader
and dequantized by loratune-gguf-dequant; the float32 bits must equal gguf.quants.dequantize's.
"""
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ltref  # noqa: E402

import gguf  # noqa: E402
from gguf import GGMLQuantizationType as Q  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

# f16 scale fields (byte offsets within a block) of each block-quantized type.
SCALES = {Q.Q8_0: [0], Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q2_K: [80, 82],
          Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208]}
TYPES = [Q.F32, Q.F16, Q.BF16] + list(SCALES)
QUANTIZABLE = [Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0]
ROWS, COLS = 16, 512  # 512 = two K-quant super-blocks a row


def random_tensor(rng, qtype):
    """(raw bytes [ROWS, row bytes] uint8) of one type, random as described above."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(ROWS * COLS // block, size), dtype=np.uint8)
    if qtype in SCALES:
        n = raw.shape[0]
        for off in SCALES[qtype]:
            kind = rng.integers(0, 10, size=n)
            vals = rng.normal(0.0, 0.02, size=n).astype(np.float16)
            vals = np.where(kind == 0, np.float16(0), vals)
            vals = np.where(kind == 1, (rng.integers(1, 1024, size=n).astype(np.uint16)).view(np.float16), vals)
            raw[:, off:off + 2] = vals.astype(np.float16).view(np.uint8).reshape(n, 2)
    return raw.reshape(ROWS, -1)


def write_gguf(path, tensors):
    w = gguf.GGUFWriter(path, "llama")
    for name, (data, qtype) in tensors.items():
        w.add_tensor(name, data, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def dequant_loratune(ref, gguf_path):
    tool = os.path.join(os.path.dirname(ref.args.logits_tool), "loratune-gguf-dequant")
    out = ref.path(os.path.basename(gguf_path) + ".safetensors")
    r = subprocess.run([tool, gguf_path, out], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{tool} {gguf_path} exited {r.returncode}: {r.stderr}")
    t = load_file(out)
    os.remove(out)
    return t


def same_bits(a, b):
    """Number of equal float32 values (bitwise; NaN equals NaN) and the first difference."""
    a, b = np.ascontiguousarray(a, dtype=np.float32).ravel(), np.ascontiguousarray(b, dtype=np.float32).ravel()
    if a.shape != b.shape:
        return 0, f"shapes {a.shape} vs {b.shape}"
    eq = (a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))
    bad = np.flatnonzero(~eq)
    return int(eq.sum()), ("" if bad.size == 0 else f"first at {bad[0]}: {a[bad[0]]!r} vs {b[bad[0]]!r}")


def compare(ref, label, ours, theirs):
    n, first = same_bits(ours, theirs)
    total = np.asarray(theirs).size
    ref.check(label, n == total, f"{n}/{total} values bit-equal" + (f"; {first}" if first else ""))


def main():
    ref = ltref.Ref(__doc__.splitlines()[0])
    try:
        rng = np.random.default_rng(0)
        tensors = {f"random.{qtype.name}": (random_tensor(rng, qtype), qtype) for qtype in TYPES}
        rows = (rng.standard_normal((ROWS, COLS)) * rng.uniform(0.001, 2.0, size=(ROWS, 1))).astype(np.float32)
        rows[0, :40] = 0.0  # an all-zero block
        for qtype in QUANTIZABLE:
            tensors[f"quantized.{qtype.name}"] = (gguf.quants.quantize(rows, qtype), qtype)
        path = ref.path("types.gguf")
        write_gguf(path, tensors)
        ours = dequant_loratune(ref, path)
        for name, (data, qtype) in tensors.items():
            theirs = gguf.quants.dequantize(data, qtype).reshape(ROWS, COLS)
            compare(ref, f"{name}: loratune's dequantization equals gguf-py's", ours[name], theirs)

        reader = gguf.GGUFReader(ltref.SMOLLM2_GGUF)
        ours = dequant_loratune(ref, ltref.SMOLLM2_GGUF)
        by_type = {}
        for t in reader.tensors:
            theirs = gguf.quants.dequantize(t.data, t.tensor_type)
            n, first = same_bits(ours[t.name], theirs)
            s = by_type.setdefault(t.tensor_type.name, [0, 0, 0, ""])
            s[0] += 1
            s[1] += n
            s[2] += theirs.size
            s[3] = s[3] or (f"{t.name}: {first}" if first else "")
        for name, (count, n, total, first) in sorted(by_type.items()):
            ref.check(f"SmolLM2-135M-Instruct Q4_1 GGUF, {count} {name} tensors: loratune's values equal gguf-py's",
                      n == total, f"{n}/{total} values bit-equal" + (f"; {first}" if first else ""))
    except Exception as e:
        ref.check("the test ran to the end", False, f"{type(e).__name__}: {e}")
    ref.finish()


if __name__ == "__main__":
    main()
