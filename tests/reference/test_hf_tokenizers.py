"""loratune's tokenizer.json reader (lib/tokenizer/hf_*.cpp, through the test tool loratune-hftok) against the
Hugging Face `tokenizers` library on every real tokenizer.json of the reference cache:
    ~/.cache/loratune/tokenizers/<family>/tokenizer.json   (scripts/setup-reference.sh)
    ~/.cache/loratune/smollm2-135m-instruct/hf/tokenizer.json
For each one and each corpus line it compares encode(text, add_special_tokens=True / False).ids and
decode(ids, skip_special_tokens=False / True); any difference fails the test (the first few are shown).

    scripts/refpy tests/reference/test_hf_tokenizers.py --hftok-tool build/apps/tools/loratune-hftok
        [--corpus FILE.jsonl] [--lines N] [--only FAMILY]
The corpus is FILE.jsonl ({"text": ...} lines) when given, else the one tests/reference/make_tokenizer_corpus.py
writes when that script is present, else a built-in one (see builtin_corpus): repository text, hand-picked hard
cases, and random strings over many scripts, kinds of white space, digits, emoji, and the added tokens of the
tokenizers under test. Arguments the other reference tests take (--loratune, --logits-tool) are ignored.
"""
import argparse
import glob
import json
import os
import random
import subprocess
import sys
import tempfile

os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
from tokenizers import Tokenizer  # noqa: E402

SOURCE_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CACHE = os.environ.get("LORATUNE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "loratune"))

HARD_CASES = [
    "", " ", "  ", "\n", "\n\n\n", "\t", " \t\n\r ", "\r\n", "a\r\nb\rc\n", "Hello world!", "  leading", "trailing   ",
    "DON'T YOU'LL we'VE I'M it'S", "'s 't 're 've 'm 'll 'd", "it's \u02bcs \u2019s", "naïve café résumé",
    "e\u0301 decomposed, \u0301 combining first", "日本語のテキストです。", "中文测试，标点！", "한국어 텍스트", "Привет, мир!",
    "Ελληνικά ΣΑΣ σας", "İstanbul ǅ ß ẞ ſ K Ω", "emoji 😀🎉👍🏽 family 👨\u200d👩\u200d👧", "flags 🇫🇷🇩🇪", "math ∑∫√π ≤ ≥ ∞",
    "numbers 1234567890 3.14159 1,000,000 ١٢٣ ½ ² Ⅻ", "\u00a0nbsp\u2009thin\u3000ideographic\u202fnarrow", "\u180e mongolian",
    "x\u200by zero width\u200dj", "\u0085next line\u2028line sep\u2029para\x0bvt\x0cff", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "ﬁ ﬀ ① ㎏ ™",
    "    def f(x):\n        return x**2\n", "if (a&&b||!c) { x->y = *p++; }", "\\s+(?!\\S) [^\\r\\n]", "a" * 300,
    "ab " * 200, "1" * 50, " " * 40 + "x", "\U0010FFFD\U000E0001 tags", "\ufeffBOM", "\ufffd replacement",
    "<0x41> <0xZZ> ▁ ▁▁a ▁ b", "Ġ Ċ ĉ", "<s></s><s>", " <s> ", "<unk>",
]

POOLS = [
    "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    " ", "     ", "\t\n\r\x0b\x0c\u0085\u00a0\u1680\u180e\u2000\u2003\u200a\u2028\u2029\u202f\u205f\u3000",
    "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿœšžÀÉÎÕÜŒŠŽ", "\u0300\u0301\u0302\u0308\u0327\u20dd\u0e31\u093f",
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年", "가나다라마바사아자차카타파하한국어", "абвгдежзийклмнопрстуфхцчшщъыьэюяАБВГ",
    "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΣ", "ابتثجحخدذرزسشصضطظعغفقكلمنهوي", "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह",
    "กขฃคฅฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮ", "😀😃😄😁😆😅🤣😂🙂🙃😉😊🎉👍🏽👨\u200d👩\u200d👧🇫🇷",
    "ｆｕｌｌＡＢＣ１２３ﬁﬀ①㎏™½²Ⅻ١٢٣", "İıßẞſKΩǅǈǋ", "’‘“”«»…—–·•§¶†‡", "'s't're've'm'll'd'S'T'RE",
]


def find_tokenizers():
    found = sorted(glob.glob(os.path.join(CACHE, "tokenizers", "*", "tokenizer.json")))
    smol = os.path.join(CACHE, "smollm2-135m-instruct", "hf", "tokenizer.json")
    if os.path.isfile(smol):
        found.insert(0, smol)
    return found


def family(path):
    d = os.path.dirname(path)
    return "smollm2" if d.endswith(os.path.join("smollm2-135m-instruct", "hf")) else os.path.basename(d)


def builtin_corpus(n_lines, tokenizer_paths):
    rnd = random.Random(12)
    src = []
    for pat in ("README.md", "docs/*.md", "lib/*/*.cpp", "lib/*/*.h", "tests/reference/*.py", "scripts/*.sh"):
        for f in sorted(glob.glob(os.path.join(SOURCE_DIR, pat))):
            with open(f, encoding="utf-8", errors="replace") as fh:
                src += fh.read().split("\n")
    added = set()
    for p in tokenizer_paths:
        with open(p, encoding="utf-8") as fh:
            toks = json.load(fh).get("added_tokens") or []
        added.update(t["content"] for t in toks[:40])
        added.update(t["content"] for t in toks if t.get("lstrip") or t.get("rstrip") or t.get("single_word"))
    added = sorted(added)
    lines = list(HARD_CASES) + [" ".join(added)]
    while len(lines) < n_lines:
        kind = rnd.random()
        if kind < 0.45 and src:
            start = rnd.randrange(len(src))
            t = "\n".join(src[start:start + rnd.randint(1, 8)])
            if rnd.random() < 0.1:
                t = t.upper()
        else:
            parts = []
            for _ in range(rnd.randint(1, 12)):
                pool = rnd.choice(POOLS)
                parts.append("".join(rnd.choice(pool) for _ in range(rnd.randint(1, 10))))
            t = "".join(parts) if rnd.random() < 0.5 else " ".join(parts)
        for _ in range(rnd.choice((0, 0, 0, 1, 2))):
            if added:
                pos = rnd.randint(0, len(t))
                pad = rnd.choice(("", " ", "  ", "\n"))
                t = t[:pos] + pad + rnd.choice(added) + rnd.choice(("", " ", "\n")) + t[pos:]
        lines.append(t)
    return lines[:n_lines]


def load_corpus(args, tokenizer_paths):
    if args.corpus:
        with open(args.corpus, encoding="utf-8") as fh:
            return [json.loads(l)["text"] for l in fh if l.strip()][: args.lines or None]
    gen = os.path.join(SOURCE_DIR, "tests", "reference", "make_tokenizer_corpus.py")
    if os.path.isfile(gen) and not args.builtin:
        out = os.path.join(tempfile.mkdtemp(prefix="lt-hftok-"), "corpus.jsonl")
        subprocess.run([sys.executable, gen, out], check=True)
        with open(out, encoding="utf-8") as fh:
            texts = [json.loads(l)["text"] for l in fh if l.strip()]
        # The generator's corpus plus the built-in hard cases and random strings.
        return texts[: args.lines or None] + builtin_corpus(5000, tokenizer_paths)
    return builtin_corpus(args.lines or 20000, tokenizer_paths)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hftok-tool", help="the loratune-hftok binary (required unless --write-corpus)")
    p.add_argument("--corpus", help="a JSONL file of {\"text\": ...} lines")
    p.add_argument("--lines", type=int, default=0, help="use at most this many corpus lines")
    p.add_argument("--only", help="only the tokenizer family of this name")
    p.add_argument("--builtin", action="store_true", help="the built-in corpus even when the generator exists")
    p.add_argument("--write-corpus", help="only write the corpus to this JSONL file (for scripts/bench-tokenize.sh)")
    args, _ignored = p.parse_known_args()

    if not args.hftok_tool and not args.write_corpus:
        p.error("--hftok-tool is required")
    paths = find_tokenizers()
    if args.only:
        paths = [x for x in paths if family(x) == args.only]
    if not paths:
        print(f"FAIL: no tokenizer.json under {CACHE}/tokenizers/*/ (run scripts/setup-reference.sh)")
        return 1
    texts = load_corpus(args, paths)
    tmp = tempfile.mkdtemp(prefix="lt-hftok-")
    corpus = args.write_corpus or os.path.join(tmp, "corpus.jsonl")
    with open(corpus, "w", encoding="utf-8") as fh:
        for t in texts:
            fh.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    print(f"corpus: {len(texts)} lines, {sum(len(t.encode()) for t in texts)} bytes")
    if args.write_corpus:
        return 0

    failed = 0
    for path in paths:
        name = family(path)
        out = os.path.join(tmp, name + ".jsonl")
        r = subprocess.run([args.hftok_tool, path, corpus, out], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL {name}: loratune-hftok exited {r.returncode}: {r.stderr.strip()}")
            failed += 1
            continue
        with open(out, encoding="utf-8") as fh:
            mine = [json.loads(l) for l in fh]
        tok = Tokenizer.from_file(path)
        ids = [e.ids for e in tok.encode_batch(texts, add_special_tokens=True)]
        ids_ns = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
        dec = tok.decode_batch(ids, skip_special_tokens=False)
        dec_skip = tok.decode_batch(ids, skip_special_tokens=True)
        dec_ns = tok.decode_batch(ids_ns, skip_special_tokens=False)
        counts = {"ids": 0, "ids_nospecial": 0, "decoded": 0, "decoded_skip": 0, "decoded_nospecial": 0}
        bad_lines, shown = 0, 0
        if len(mine) != len(texts):
            print(f"FAIL {name}: loratune-hftok wrote {len(mine)} lines for {len(texts)}")
            failed += 1
            continue
        for k, t in enumerate(texts):
            ref = {"ids": ids[k], "ids_nospecial": ids_ns[k], "decoded": dec[k], "decoded_skip": dec_skip[k],
                   "decoded_nospecial": dec_ns[k]}
            diff = [key for key in counts if mine[k][key] != ref[key]]
            for key in diff:
                counts[key] += 1
            if diff:
                bad_lines += 1
                if shown < 3:
                    shown += 1
                    print(f"  {name} line {k} {diff}: {t[:100]!r}")
                    for key in diff[:2]:
                        a, b = ref[key], mine[k][key]
                        if isinstance(a, list):
                            i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                            a = [(x, tok.id_to_token(x)) for x in a[max(0, i - 2):i + 4]]
                            b = [(x, tok.id_to_token(x)) for x in b[max(0, i - 2):i + 4]]
                        print(f"    {key}: tokenizers {str(a)[:200]}\n    {' ' * len(key)}  loratune   {str(b)[:200]}")
        rate = 100.0 * (len(texts) - bad_lines) / len(texts)
        status = "ok" if bad_lines == 0 else "FAIL"
        detail = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        print(f"{status} {name}: {len(texts)} lines, {bad_lines} mismatching ({rate:.3f}% match){': ' + detail if detail else ''}")
        failed += bad_lines > 0
    print(f"{len(paths) - failed}/{len(paths)} tokenizers match tokenizers {__import__('tokenizers').__version__} exactly")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
