"""loratune reads a GGUF file's own tokenizer (tokenizer.ggml.*: byte-level BPE "gpt2" and SentencePiece
"llama") and tokenizes as the model's Hugging Face tokenizer does.

  - llama.cpp's vocabulary-only GGUFs (ggml-vocab-{gpt-2,llama-bpe,qwen2,llama-spm,phi-3}.gguf from the
    llama-cpp-python sdist,
    written by llama.cpp's convert_hf_to_gguf.py) with their test inputs (.inp) and the ids Hugging Face
    tokenizers gives them (.out, add_special_tokens=False): `loratune tokenize -m FILE.gguf --no-special` gives
    those ids for every input;
  - the real SmolLM2-135M-Instruct Q4_1 GGUF (tokenizer.ggml.pre "smollm": llama.cpp splits off every digit,
    then applies the GPT-2 regex) on the 24k-line tokenizer corpus, with and without special tokens:
    `loratune tokenize -m FILE.gguf` equals HF tokenizers running the model's tokenizer.json with that
    pre-tokenizer (Digits(individual_digits) + ByteLevel) on every line, and equals llama.cpp's tokenization
    of the same file (llama-cpp-python, vocab_only) on every line without C0/C1 control characters (llama.cpp
    treats those differently from HF; the count is printed). Against the directory's own tokenizer.json
    (plain ByteLevel) the lines that differ are counted: the GGUF names another pre-tokenizer than the
    directory has, and loratune follows the GGUF. Its chat template is the directory's; `prepare -m FILE.gguf`
    on chat data writes the same tokens and masks as `prepare -m DIR`;
  - Llama 2's SentencePiece vocabulary (ggml-vocab-llama-spm.gguf) on the same corpus: equal to llama.cpp's
    tokenization of the file on every line (the count against the fixture's non-legacy tokenizer.json, which
    departs from SentencePiece after leading spaces, is printed);
  - a GGUF whose pre-tokenizer loratune does not know is refused with exit 2 naming it.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ltref  # noqa: E402

import unicodedata  # noqa: E402

import gguf  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

VOCABS = os.path.join(ltref.CACHE, "gguf-vocab")


def llama_cpp_cases(name):
    with open(os.path.join(VOCABS, f"ggml-vocab-{name}.gguf.inp"), encoding="utf-8") as f:
        inputs = f.read().split("\n__ggml_vocab_test__\n")
    with open(os.path.join(VOCABS, f"ggml-vocab-{name}.gguf.out"), encoding="utf-8") as f:
        outputs = [[int(x) for x in line.split()] for line in f.read().split("\n")]
    if inputs and inputs[-1].endswith("\n__ggml_vocab_test__"):
        inputs[-1] = inputs[-1][: -len("\n__ggml_vocab_test__")]
    inputs = [t for t in inputs]
    return inputs, outputs[: len(inputs)]


def tokenize(ref, model, texts=None, file=None, special=True):
    args = ["tokenize", "--model", model, "--json", "--quiet-counts"]
    args += ["--file", file, "--lines"] if file else sum((["--text", t] for t in texts), [])
    if not special:
        args.append("--no-special")
    out, _, _ = ref.loratune(*args)
    return [t["ids"] for t in json.loads(out)["texts"]]


def check_same_as_llama_cpp(ref, label, texts, ours, cpp, control):
    """loratune's ids equal llama.cpp's on every line without C0/C1 control characters (counted apart)."""
    n = len(texts)
    eq = [a == b for a, b in zip(ours, cpp)]
    bad = [i for i, (e, c) in enumerate(zip(eq, control)) if not e and not c]
    ref.check(f"{label}: ids equal llama.cpp's tokenization of the same file",
              len(ours) == n and not bad, f"{sum(eq)}/{n} lines equal; {sum(control)} lines with control characters, "
              f"{sum(1 for e, c in zip(eq, control) if not e and c)} of them differ" +
              (f"; first other difference {texts[bad[0]]!r}: {ours[bad[0]][:12]} vs {cpp[bad[0]][:12]}" if bad else ""))


def main():
    ref = ltref.Ref(__doc__.splitlines()[0])
    try:
        for name in ("gpt-2", "llama-bpe", "qwen2", "llama-spm", "phi-3"):
            path = os.path.join(VOCABS, f"ggml-vocab-{name}.gguf")
            inputs, want = llama_cpp_cases(name)
            got = tokenize(ref, path, texts=inputs, special=False)
            same = sum(a == b for a, b in zip(got, want))
            bad = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
            ref.check(f"ggml-vocab-{name}.gguf: loratune gives Hugging Face's ids for llama.cpp's test inputs",
                      len(got) == len(want) and same == len(want),
                      f"{same}/{len(want)} inputs" + ("" if bad is None else
                                                      f"; first difference {inputs[bad]!r}: {got[bad]} vs {want[bad]}"))

        hf, q = ltref.SMOLLM2_HF, ltref.SMOLLM2_GGUF
        corpus = ref.path("corpus.jsonl")
        import subprocess
        subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "test_hf_tokenizers.py"),
                        "--write-corpus", corpus, "--builtin"], check=True, capture_output=True)
        lines = ref.path("lines.txt")
        with open(corpus, encoding="utf-8") as f, open(lines, "w", encoding="utf-8") as o:
            n = 0
            for l in f:
                for part in json.loads(l)["text"].split("\n"):
                    if part.strip() and "\r" not in part:
                        o.write(part + "\n")
                        n += 1
        with open(lines, encoding="utf-8") as fh:
            texts = fh.read().split("\n")[:n]
        with open(os.path.join(hf, "tokenizer.json"), encoding="utf-8") as fh:
            doc = json.load(fh)
        plain = Tokenizer.from_str(json.dumps(doc))
        doc["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                                                     doc["pre_tokenizer"]]}
        smollm = Tokenizer.from_str(json.dumps(doc))
        llm = ltref.llama_cpp_model(q, vocab_only=True, verbose=False)
        try:
            cpp = [llm.tokenize(t.encode("utf-8"), add_bos=False, special=True) for t in texts]
        finally:
            llm.close()
        control = [any(unicodedata.category(c) == "Cc" and c not in "\t\n" for c in t) for t in texts]
        for special in (True, False):
            ours = tokenize(ref, q, file=lines, special=special)
            want = [e.ids for e in smollm.encode_batch(texts, add_special_tokens=special)]
            same = sum(a == b for a, b in zip(ours, want))
            ref.check(f"SmolLM2 Q4_1 GGUF (special tokens {special}): ids equal HF tokenizers with its named "
                      "pre-tokenizer", len(ours) == n and same == n, f"{same}/{n} lines")
        ours = tokenize(ref, q, file=lines, special=False)
        check_same_as_llama_cpp(ref, "SmolLM2 Q4_1 GGUF", texts, ours, cpp, control)
        base = [e.ids for e in plain.encode_batch(texts, add_special_tokens=False)]
        print(f"     (against the directory's tokenizer.json, plain ByteLevel: "
              f"{sum(a == b for a, b in zip(ours, base))}/{n} lines equal)")
        # SentencePiece ("llama") vocabularies: Llama 2's, against its Hugging Face tokenizer.json and llama.cpp.
        spm = os.path.join(VOCABS, "ggml-vocab-llama-spm.gguf")
        ours = tokenize(ref, spm, file=lines, special=False)
        theirs = tokenize(ref, os.path.join(ltref.CACHE, "tokenizers", "llama-2"), file=lines, special=False)
        # Not a check: the fixture's tokenizer.json is transformers' non-legacy conversion (Metaspace,
        # prepend_scheme "first"), which departs from SentencePiece after leading spaces; the GGUF (like llama.cpp
        # and the .out vectors above, made with the legacy tokenizer) follows SentencePiece.
        print(f"     (against Llama 2's non-legacy tokenizer.json fixture: "
              f"{sum(a == b for a, b in zip(ours, theirs))}/{n} lines equal)")
        llm = ltref.llama_cpp_model(spm, vocab_only=True, verbose=False)
        try:
            cpp = [llm.tokenize(t.encode("utf-8"), add_bos=False, special=False) for t in texts]
        finally:
            llm.close()
        check_same_as_llama_cpp(ref, "ggml-vocab-llama-spm.gguf", texts, ours, cpp, control)

        r = gguf.GGUFReader(q)
        f = r.fields["tokenizer.chat_template"]
        gguf_tpl = bytes(f.parts[f.data[0]]).decode("utf-8")
        with open(os.path.join(hf, "chat_template.jinja"), encoding="utf-8") as fh:
            dir_tpl = fh.read()
        ref.check("SmolLM2 Q4_1 GGUF: its chat template is the directory's", gguf_tpl.strip() == dir_tpl.strip())

        src = ref.path("chat.jsonl")
        with open(src, "w", encoding="utf-8") as fh:
            for i in range(40):
                fh.write(json.dumps({"messages": [{"role": "user", "content": f"Question {i}: what is {i} + {i}?"},
                                                  {"role": "assistant", "content": f"{2 * i}."}]}) + "\n")
        outs = {}
        for label, model in (("gguf", q), ("dir", hf)):
            d = ref.path("prep-" + label)
            ref.loratune("prepare", src, "--model", model, "--out", d, "--val-fraction", "0.2", "--seq-len", "64")
            outs[label] = {rel: open(os.path.join(d, rel), "rb").read()
                           for rel in ("train/tokens.bin", "train/mask.bin", "val/tokens.bin", "val/mask.bin")}
            with open(os.path.join(d, "manifest.json")) as fh:
                outs[label]["template"] = json.load(fh)["template"]
        ref.check("prepare -m FILE.gguf writes the tokens and masks prepare -m DIR writes (the model's template)",
                  outs["gguf"] == outs["dir"] and outs["gguf"]["template"] == "model",
                  f"template {outs['gguf']['template']}")

        bad = ref.path("unknown-pre.gguf")
        w = gguf.GGUFWriter(bad, "llama")
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("no-such-pre")
        w.add_token_list(["a", "b", "ab"])
        w.add_token_types([1, 1, 1])
        w.add_token_merges(["a b"])
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        _, err, code = ref.loratune("tokenize", "--model", bad, "--text", "ab", expect=None)
        ref.check("a GGUF with an unknown pre-tokenizer is refused with exit 2 naming it",
                  code == 2 and "no-such-pre" in err and "tokenizer.ggml.pre" in err, f"exit {code}: {err.strip()[:200]}")
    except Exception as e:
        ref.check("the test ran to the end", False, f"{type(e).__name__}: {e}")
    ref.finish()


if __name__ == "__main__":
    main()
