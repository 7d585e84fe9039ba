"""GGUF export of tokenizer.json (byte-level BPE) vocabularies, as llama.cpp reads them.

For the real SmolLM2-135M-Instruct and for tiny models that `loratune init --tokenizer tokenizer.json` builds
on the GPT-2, Qwen2.5, Qwen3 and Llama-3.2 tokenizers of the reference cache, this runs
`loratune export --format gguf` and loads the file in llama.cpp (llama-cpp-python, vocab_only), then checks:
  - the metadata: tokenizer.ggml.model "gpt2", the pre-tokenizer name of the family (gpt-2, qwen2,
    llama-bpe), the BOS/EOS ids and add_bos as loratune's tokenizer has them;
  - llama.cpp's tokenization (add_bos=False, special=True: special-token strings in the text are the tokens)
    of every line of the tokenizer identity corpus (make_tokenizer_corpus.py, >= 20k lines) against
    loratune's (loratune-hftok, the reader loratune's tokenizer uses, add_special_tokens=False, which equals
    HF tokenizers on all of it). llama.cpp's own tokenizer departs from HF on a few lines (control
    characters, combining marks in Llama-3's regex, and vocabulary tokens such as "</s>" in Qwen's that it
    promotes to control tokens), so the same model directory is also converted by llama.cpp's own
    convert_hf_to_gguf.py (--vocab-only, from the llama-cpp-python sdist that setup fetches): every line
    must tokenize in llama.cpp from loratune's GGUF as loratune does, or exactly as from the converter's
    GGUF (a difference of llama.cpp's, not of the export). Both counts are printed. Qwen's tokenizer.json
    normalizes to NFC and llama.cpp does not normalize, so for those the lines that NFC changes are left
    out (and counted);
  - the exported SmolLM2 GGUF runs in llama.cpp: greedy "The capital of France is" gives Paris.
A tokenizer.json llama.cpp's gpt2 vocabulary cannot express is refused, exit 2, leaving no file: a
SentencePiece-style BPE (Mistral's, with byte_fallback) and an unknown pre-tokenizer (Qwen3.5's).

CTest runs it as: scripts/refpy test_gguf_vocab.py --loratune BIN --logits-tool BIN (loratune-hftok is
taken from beside loratune-logits).
"""
import json
import os
import subprocess
import sys
import unicodedata


import ltref

TOK = os.path.join(ltref.CACHE, "tokenizers")
# name: (model directory or tokenizer.json to init a tiny model from, expected tokenizer.ggml.pre, NFC-normalizing)
FAMILIES = {
    "smollm2-135m-instruct": (ltref.SMOLLM2_HF, "gpt-2", False),
    "gpt-2": (os.path.join(TOK, "gpt-2", "tokenizer.json"), "gpt-2", False),
    "qwen2.5": (os.path.join(TOK, "qwen2.5", "tokenizer.json"), "qwen2", True),
    "qwen3": (os.path.join(TOK, "qwen3", "tokenizer.json"), "qwen2", True),
    "llama-3.2": (os.path.join(TOK, "llama-3.2", "tokenizer.json"), "llama-bpe", False),
}
REFUSED = {
    "mistral-v3 (SentencePiece-style BPE)": (os.path.join(TOK, "mistral-v3", "tokenizer.json"), "SentencePiece-style"),
    "qwen3.5 (pre-tokenizer unknown to llama.cpp here)": (os.path.join(TOK, "qwen3.5", "tokenizer.json"), "pre-tokenizer"),
}


def corpus(ref):
    out = ref.path("corpus.jsonl")
    gen = os.path.join(ltref.SOURCE_DIR, "tests", "reference", "make_tokenizer_corpus.py")
    subprocess.run([sys.executable, gen, out], check=True, capture_output=True)
    with open(out, encoding="utf-8") as f:
        return out, [json.loads(l)["text"] for l in f if l.strip()]


def loratune_ids(ref, tokenizer_json, corpus_path):
    hftok = os.path.join(os.path.dirname(ref.args.logits_tool), "loratune-hftok")
    out = ref.path("hftok.jsonl")
    subprocess.run([hftok, tokenizer_json, corpus_path, out], check=True, capture_output=True)
    with open(out, encoding="utf-8") as f:
        return [json.loads(l)["ids_nospecial"] for l in f if l.strip()]


def model_for(ref, name, source):
    if os.path.isdir(source):
        return source
    d = ref.path("model-" + name)
    ref.loratune("init", "--out", d, "--tokenizer", source)
    return d


def converter(ref):
    """llama.cpp's convert_hf_to_gguf.py (and its gguf-py) unpacked from the llama-cpp-python sdist."""
    import tarfile

    sdist = os.path.join(ltref.CACHE, "downloads", "llama_cpp_python-0.3.36.tar.gz")
    root = "llama_cpp_python-0.3.36/vendor/llama.cpp/"
    with tarfile.open(sdist) as t:
        members = [m for m in t.getmembers() if m.name == root + "convert_hf_to_gguf.py" or
                   m.name.startswith(root + "gguf-py/") or m.name.startswith(root + "conversion/")]
        t.extractall(ref.path("llama.cpp-src"), members=members, filter="data")
    return os.path.join(ref.path("llama.cpp-src"), root)


def convert_vocab(ref, conv_dir, model, out):
    env = dict(os.environ, PYTHONPATH=os.path.join(conv_dir, "gguf-py"))
    r = subprocess.run([sys.executable, os.path.join(conv_dir, "convert_hf_to_gguf.py"), model, "--vocab-only",
                        "--outfile", out], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"convert_hf_to_gguf.py {model} failed:\n{r.stderr[-2000:]}")


def gguf_meta(path):
    from gguf import GGUFReader

    r = GGUFReader(path)

    def val(key):
        f = r.fields.get(key)
        if f is None:
            return None
        v = f.parts[f.data[0]]
        return bytes(v).decode("utf-8") if f.types[0].name == "STRING" else v.tolist()[0]

    return {k: val(k) for k in ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.bos_token_id",
                                "tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_bos_token")}


def check_family(ref, name, source, pre, nfc, corpus_path, texts, conv_dir):
    model = model_for(ref, name, source)
    conv = ref.path(name + ".converted.gguf")
    convert_vocab(ref, conv_dir, model, conv)
    gguf = ref.path(name + ".gguf")
    ref.loratune("export", "--model", model, "--format", "gguf", "--out", gguf)
    meta = gguf_meta(gguf)
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(model)
    ok_meta = meta["tokenizer.ggml.model"] == "gpt2" and meta["tokenizer.ggml.pre"] == pre
    ref.check(f"{name}: tokenizer.ggml.model gpt2, pre {pre}", ok_meta, json.dumps(meta))
    llm = ltref.llama_cpp_model(gguf, vocab_only=True, verbose=False)
    ref_llm = ltref.llama_cpp_model(conv, vocab_only=True, verbose=False)
    try:
        ours = loratune_ids(ref, os.path.join(model, "tokenizer.json"), corpus_path)
        same = llama_cpp_own = compared = skipped = conv_same = 0
        first_bad = None
        for i, (text, mine) in enumerate(zip(texts, ours)):
            if nfc and unicodedata.normalize("NFC", text) != text:
                skipped += 1
                continue
            compared += 1
            theirs = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
            converted = ref_llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
            conv_same += converted == mine
            if theirs == mine:
                same += 1
            elif theirs == converted:
                llama_cpp_own += 1
            elif first_bad is None:
                first_bad = (i, text[:40], mine[:10], theirs[:10], converted[:10])
        ref.check(f"{name}: llama.cpp tokenizes the corpus from the export as loratune does, else as from "
                  "llama.cpp's converter", same + llama_cpp_own == compared and compared > 0,
                  f"{same}/{compared} lines equal loratune's, {llama_cpp_own} differ as llama.cpp's own "
                  f"tokenizer does (converter's GGUF: {conv_same}/{compared} equal loratune's)" +
                  (f", {skipped} lines NFC changes left out" if nfc else "") +
                  ("" if first_bad is None else f"; first line differing otherwise {first_bad}"))
        bos, eos = llm.token_bos(), llm.token_eos()
        ref.check(f"{name}: llama.cpp's BOS/EOS ids are the tokenizer's (transformers)",
                  eos == hf.eos_token_id and (hf.bos_token_id is None or bos == hf.bos_token_id),
                  f"llama.cpp bos {bos} eos {eos}; transformers bos {hf.bos_token_id} eos {hf.eos_token_id}")
    finally:
        llm.close()
        ref_llm.close()
    os.remove(conv)
    return gguf


def check_smollm2_runs(ref, gguf):
    llm = ltref.llama_cpp_model(gguf, n_ctx=128, n_threads=2, n_threads_batch=2, seed=0, verbose=False)
    try:
        out = llm("The capital of France is", max_tokens=8, temperature=0.0)
        text = out["choices"][0]["text"]
        ref.check("the exported SmolLM2 GGUF (f16) runs in llama.cpp: greedy 'The capital of France is'",
                  "Paris" in text, repr(text))
    finally:
        llm.close()


def main():
    ref = ltref.Ref(__doc__.splitlines()[0])
    try:
        corpus_path, texts = corpus(ref)
        conv_dir = converter(ref)
        ref.check("the corpus has >= 20,000 lines", len(texts) >= 20000, f"{len(texts)} lines")
        for name, (source, pre, nfc) in FAMILIES.items():
            if not os.path.exists(source):
                ref.check(f"{name}: reference files present (scripts/setup.sh --test)", False, source)
                continue
            try:
                gguf = check_family(ref, name, source, pre, nfc, corpus_path, texts, conv_dir)
                if name.startswith("smollm2"):
                    check_smollm2_runs(ref, gguf)
                os.remove(gguf)
            except Exception as e:
                ref.check(f"{name}: the check ran to the end", False, f"{type(e).__name__}: {e}")
        for name, (source, needle) in REFUSED.items():
            model = model_for(ref, name.split(" ")[0], source)
            out = ref.path(name.split(" ")[0] + ".gguf")
            _, err, code = ref.loratune("export", "--model", model, "--format", "gguf", "--out", out, expect=None)
            left = [e for e in os.listdir(ref.tmp) if e.startswith(os.path.basename(out))]
            ref.check(f"{name}: export gguf refuses it by name and leaves nothing",
                      code == 2 and needle in err and "llama.cpp" in err and not left,
                      f"exit {code}: {err.strip().splitlines()[0] if err.strip() else ''}")
    except Exception as e:
        ref.check("the test ran to the end", False, f"{type(e).__name__}: {e}")
    ref.finish()


if __name__ == "__main__":
    main()
