"""GGUF base models written by gguf-py at several tensor types: loratune computes what transformers and llama.cpp
compute from the same file.

For each architecture (llama, mistral, qwen2, qwen3: small random models made by `loratune init`, hidden 256 so
that every type's blocks fit) the model is exported to an f32 GGUF by loratune (metadata, vocabulary), then
rewritten by gguf-py (GGUFReader -> GGUFWriter: every key copied, every 2-D tensor stored as F32, F16, BF16,
Q8_0, Q4_0, Q4_1, Q5_0 or Q5_1 with gguf.quants.quantize). On each file:
  - loratune's fp32 logits equal transformers' `from_pretrained(dir, gguf_file=...)` fp32 logits within
    LOGIT_TOL (both dequantize as ggml does);
  - llama.cpp (llama-cpp-python) on the F32 and F16 files continues a prompt greedily with exactly loratune's
    tokens, and its logits are within CPP_TOL of loratune's (F16: llama.cpp rounds activations to f16);
  - on the BF16 and quantized files llama.cpp rounds or quantizes the activations of its matmuls (Q8_0 / Q8_1) where loratune and
    transformers do not: the mean NLL of a text differs from loratune's by at most NLL_TOL nats per token.
The K-quants (Q2_K..Q6_K) are not here because gguf-py cannot write them; test_gguf_quants.py checks their
dequantization bit for bit on real K-quant blocks.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ltref  # noqa: E402

import gguf  # noqa: E402

LOGIT_TOL = 1e-4   # loratune vs transformers, fp32, same dequantized weights
# loratune vs llama.cpp logits (f32 K/V cache): F32 weights (measured 1.9e-5); F16 weights, where llama.cpp also
# rounds the activations to f16 for the matmul (measured 6.4e-3)
CPP_TOL = {"F32": 1e-3, "F16": 2e-2}
NLL_TOL = 0.03     # |mean NLL llama.cpp - loratune| on the other files, nats per token (measured <= 0.0064)
ARCHS = ("llama", "mistral", "qwen2", "qwen3")
TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1")
TEXT = ("The licensee may copy and distribute verbatim copies of the Program's source code as received, in any "
        "medium, provided that each copy carries an appropriate copyright notice and disclaimer of warranty.")


def copy_fields(reader, writer):
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == gguf.Keys.General.ARCHITECTURE:
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), vtype, sub_type=sub)


def rewrite(src, dst, qtype_name):
    """src (an f32 GGUF) with every 2-D tensor stored as qtype, through gguf-py."""
    qtype = gguf.GGMLQuantizationType[qtype_name]
    reader = gguf.GGUFReader(src)
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    writer = gguf.GGUFWriter(dst, arch)
    copy_fields(reader, writer)
    for t in reader.tensors:
        data = np.array(t.data, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)])
        if data.ndim == 2 and qtype != gguf.GGMLQuantizationType.F32:
            if qtype == gguf.GGMLQuantizationType.F16:
                writer.add_tensor(t.name, data.astype(np.float16))
            else:
                writer.add_tensor(t.name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
        else:
            writer.add_tensor(t.name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def ours_greedy(ref, model, prompt, n):
    ids = list(prompt)
    for _ in range(n):
        ids.append(int(ref.logits(model, [ids])[0, -1].argmax()))
    return ids[len(prompt):]


def main():
    ref = ltref.Ref(__doc__.splitlines()[0])
    try:
        import llama_cpp
        from transformers import AutoModelForCausalLM

        corpus = os.path.join(ltref.FIXTURES, "text", "corpus.txt")
        worst = {"transformers": 0.0, "llama.cpp": 0.0, "nll": 0.0}
        for arch in ARCHS:
            model = ref.path(f"{arch}-model")
            # qwen3: transformers' GGUF reader ignores qwen3.attention.key_length (it keeps Qwen3Config's head_dim
            # 128), so the qwen3 model has head_dim 128.
            heads = ["--heads", "2", "--kv-heads", "1"] if arch == "qwen3" else ["--heads", "4", "--kv-heads", "2"]
            ref.loratune("init", "--out", model, "--arch", arch, "--hidden", "256", "--intermediate", "512",
                         "--layers", "2", *heads, "--corpus", corpus,
                         "--tokenizer-vocab", "400", "--init-std", "0.08", "--tie-embeddings", "no")
            base = ref.path(f"{arch}-f32.gguf")
            ref.loratune("export", "--model", model, "--format", "gguf", "--dtype", "f32", "--out", base)
            ids, _ = ref.encode(model, TEXT)
            g = torch.Generator().manual_seed(1)
            probe = torch.randint(0, 400, (2, 24), generator=g).tolist()
            for qt in TYPES:
                path = ref.path(f"{arch}-{qt}.gguf")
                rewrite(base, path, qt)
                ours = ref.logits(path, probe)
                hf = AutoModelForCausalLM.from_pretrained(ref.tmp, gguf_file=os.path.basename(path), dtype=torch.float32)
                hf.eval()
                with torch.no_grad():
                    theirs = hf(torch.tensor(probe)).logits
                d = (ours.double() - theirs.double()).abs().max().item()
                worst["transformers"] = max(worst["transformers"], d)
                ref.check(f"{arch} {qt} (gguf-py): loratune's logits equal transformers' from_pretrained(gguf_file=...)",
                          d <= LOGIT_TOL, f"max |diff| {d:.2e} (max |logit| {theirs.abs().max().item():.2f})")
                del hf
                llm = ltref.llama_cpp_model(path, n_ctx=256, n_batch=256, n_threads=2, n_threads_batch=2,
                                            logits_all=True, type_k=llama_cpp.GGML_TYPE_F32,
                                            type_v=llama_cpp.GGML_TYPE_F32, flash_attn=False, seed=0, verbose=False)
                try:
                    cpp_of = ltref.cpp_logits(llm)
                    mine = ref.logits(path, [ids])[0]
                    nll_cpp = ltref.masked_nll(cpp_of, [(ids, [0] + [1] * (len(ids) - 1))])
                    nll_ours = ltref.masked_nll(lambda _: mine, [(ids, [0] + [1] * (len(ids) - 1))])
                    if qt in ("F32", "F16"):
                        d = (cpp_of(ids) - mine).abs().max().item()
                        worst["llama.cpp"] = max(worst["llama.cpp"], d)
                        prompt = ids[:8]
                        theirs_new = ltref.llama_cpp_greedy(llm, prompt, 8)
                        ours_new = ours_greedy(ref, path, prompt, len(theirs_new))
                        ref.check(f"{arch} {qt}: llama.cpp's logits are loratune's and its greedy tokens the same",
                                  d <= CPP_TOL[qt] and theirs_new == ours_new,
                                  f"max |diff| {d:.2e}; {theirs_new} vs {ours_new}")
                    else:
                        dn = abs(nll_cpp - nll_ours)
                        worst["nll"] = max(worst["nll"], dn)
                        ref.check(f"{arch} {qt}: llama.cpp's NLL of a text equals loratune's within {NLL_TOL}",
                                  dn <= NLL_TOL, f"llama.cpp {nll_cpp:.4f}, loratune {nll_ours:.4f}")
                finally:
                    llm.close()
                os.remove(path)
        print(f"     worst: transformers {worst['transformers']:.2e}, llama.cpp F32/F16 logits "
              f"{worst['llama.cpp']:.2e}, llama.cpp quantized NLL {worst['nll']:.4f}")
    except Exception as e:
        ref.check("the test ran to the end", False, f"{type(e).__name__}: {e}")
    ref.finish()


if __name__ == "__main__":
    main()
