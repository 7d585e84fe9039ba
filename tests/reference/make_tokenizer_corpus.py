"""Writes the corpus of the tokenizer identity test: JSONL, one {"text": ..., "category": ...} object a line,
deterministic (a seeded RNG, no network), >= 20,000 lines of text that stresses byte-level and SentencePiece
BPE tokenizers: prose, legal text, source code, CJK, Arabic/Hebrew, emoji sequences, combining marks,
digit runs, whitespace runs, special-token strings, normalization variants, full-width forms, zero-width
and unusual whitespace characters, control characters.

    python3 tests/reference/make_tokenizer_corpus.py OUT.jsonl [--seed N] [--lines N]

Text sources: templated sentences and word lists below, characters chosen by unicodedata, and the running
interpreter's standard library (its .py sources for code, their docstrings for English prose). The output is
byte-identical for the same seed, line count and Python version; it prints the line count, the count of each
category and the output's sha256.
"""
import argparse
import ast
import hashlib
import json
import os
import random
import sys
import unicodedata

# ---------------------------------------------------------------------------------------------------------
# word lists (written here; nothing is downloaded)

EN_SUBJECTS = ["The committee", "A small dog", "Our new compiler", "Every student", "The old lighthouse keeper",
               "This function", "The river", "My neighbour's cat", "The government", "A quiet engineer",
               "The 3rd-party library", "Nobody", "The weather service", "She", "They", "The CPU", "Dr. Smith"]
EN_VERBS = ["approved", "chased", "optimizes", "questioned", "repaired", "returns", "flooded", "ignored",
            "announced", "refactored", "couldn't find", "won't accept", "has measured", "was reviewing",
            "didn't expect", "is rewriting", "'ll replace", "examined"]
EN_OBJECTS = ["the budget", "a red ball", "tail calls", "the answer", "the lamp", "a null pointer",
              "the valley", "the mailman", "new taxes", "the parser", "3.14159 radians", "everything",
              "the forecast for 2025-06-01", "the L1 cache", "Mr. O'Neill's proposal", "UTF-8 input"]
EN_TAILS = [".", "!", "?", "...", " yesterday.", " again!", " (twice).", ", didn't it?", " -- or so they say.",
            "; nobody knows why.", ": see section 4.2.", " in 1987.", " at 10:45 a.m.", " for $1,299.99.",
            " \u2014 \u201cquickly\u201d.", " at https://example.com/a?b=c&d=e#f.", " (e-mail: j.doe@example.org)."]
CONTRACTIONS = ["it's", "IT'S", "we're", "WE'RE", "they've", "THEY'VE", "I'm", "I'M", "you'll", "YOU'LL",
                "he'd", "HE'D", "don't", "DON'T", "o'clock", "rock'n'roll", "'tis", "ma'am", "y'all'd've"]

LEGAL = [
    "Subject to the terms and conditions of this License, each Contributor hereby grants to You a perpetual, "
    "worldwide, non-exclusive, no-charge, royalty-free, irrevocable copyright license",
    "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT "
    "LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.",
    "IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY",
    "Redistributions of source code must retain the above copyright notice, this list of conditions and the "
    "following disclaimer.",
    "Notwithstanding the foregoing, nothing herein shall supersede or modify the terms of any separate license "
    "agreement you may have executed with Licensor regarding such Contributions.",
    "The Licensee shall indemnify and hold harmless the Licensor from and against any and all claims, losses, "
    "liabilities, damages, costs and expenses (including reasonable attorneys' fees)",
    "This Agreement shall be governed by and construed in accordance with the laws of the State of Delaware, "
    "without regard to its conflict-of-laws principles.",
    "Any dispute arising under or in connection with this Agreement shall be submitted to binding arbitration.",
    "If any provision of this Agreement is held to be unenforceable, such provision shall be reformed only to "
    "the extent necessary to make it enforceable.",
    "\u00a7 2(a)(iii): \u201cConfidential Information\u201d means all non-public information disclosed by "
    "either Party (the \u201cDisclosing Party\u201d).",
]
LEGAL_HEADS = ["ARTICLE", "Section", "Clause", "Schedule", "Exhibit", "\u00a7", "\u00b6", "Art."]

ZH = ["\u4eca\u5929\u5929\u6c14\u5f88\u597d", "\u6211\u4eec\u4e00\u8d77\u53bb\u5403\u996d\u5427",
      "\u673a\u5668\u5b66\u4e60\u6a21\u578b", "\u8fd9\u4e2a\u95ee\u9898\u5f88\u590d\u6742",
      "\u4e2d\u534e\u4eba\u6c11\u5171\u548c\u56fd", "\u5206\u8bcd\u5668\u6d4b\u8bd5",
      "\u4f60\u597d\uff0c\u4e16\u754c\uff01", "\u300a\u7ea2\u697c\u68a6\u300b\u662f\u4e00\u90e8\u5c0f\u8bf4\u3002",
      "\u5317\u4eac\u3001\u4e0a\u6d77\u548c\u5e7f\u5dde", "\u7e41\u9ad4\u4e2d\u6587\u8207\u7c21\u9ad4\u4e2d\u6587"]
JA = ["\u3053\u3093\u306b\u3061\u306f\u3001\u4e16\u754c\uff01", "\u6771\u4eac\u306f\u65e5\u672c\u306e\u9996\u90fd\u3067\u3059\u3002",
      "\u30c8\u30fc\u30af\u30ca\u30a4\u30b6\u30fc\u3092\u30c6\u30b9\u30c8\u3057\u307e\u3059",
      "\u543e\u8f29\u306f\u732b\u3067\u3042\u308b\u3002\u540d\u524d\u306f\u307e\u3060\u7121\u3044\u3002",
      "\u30d7\u30ed\u30b0\u30e9\u30df\u30f3\u30b0\u8a00\u8a9e", "\u3072\u3089\u304c\u306a\u3068\u30ab\u30bf\u30ab\u30ca",
      "\uff8a\uff9d\uff76\uff78\uff76\uff80\uff76\uff85", "\u304a\u75b2\u308c\u69d8\u3067\u3057\u305f\uff01"]
KO = ["\uc548\ub155\ud558\uc138\uc694", "\ub300\ud55c\ubbfc\uad6d\uc758 \uc218\ub3c4\ub294 \uc11c\uc6b8\uc785\ub2c8\ub2e4.",
      "\ud1a0\ud06c\ub098\uc774\uc800 \ud14c\uc2a4\ud2b8", "\ud55c\uad6d\uc5b4\ub97c \ubc30\uc6b0\uace0 \uc788\uc5b4\uc694",
      "\uac10\uc0ac\ud569\ub2c8\ub2e4!", "\ud504\ub85c\uadf8\ub798\ubc0d \uc5b8\uc5b4"]
AR = ["\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
      "\u0627\u0644\u0644\u063a\u0629 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u062c\u0645\u064a\u0644\u0629",
      "\u0628\u0650\u0633\u0652\u0645\u0650 \u0671\u0644\u0644\u0651\u064e\u0647\u0650",
      "\u0643\u064a\u0641 \u062d\u0627\u0644\u0643\u061f", "\u0661\u0662\u0663\u0664\u0665 \u0648 \u0666\u0667\u0668",
      "\u0634\u0643\u0631\u0627 \u062c\u0632\u064a\u0644\u0627"]
HE = ["\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd", "\u05e2\u05d1\u05e8\u05d9\u05ea \u05e0\u05db\u05ea\u05d1\u05ea \u05de\u05d9\u05de\u05d9\u05df \u05dc\u05e9\u05de\u05d0\u05dc",
      "\u05d1\u05b0\u05bc\u05e8\u05b5\u05d0\u05e9\u05b4\u05c1\u05d9\u05ea \u05d1\u05b8\u05bc\u05e8\u05b8\u05d0",
      "\u05ea\u05d5\u05d3\u05d4 \u05e8\u05d1\u05d4", "\u05de\u05d4 \u05e9\u05dc\u05d5\u05de\u05da?"]
VI = ["Ti\u1ebfng Vi\u1ec7t c\u00f3 nhi\u1ec1u d\u1ea5u thanh", "Xin ch\u00e0o c\u00e1c b\u1ea1n",
      "H\u00e0 N\u1ed9i l\u00e0 th\u1ee7 \u0111\u00f4 c\u1ee7a Vi\u1ec7t Nam", "C\u1ea3m \u01a1n r\u1ea5t nhi\u1ec1u",
      "Ng\u01b0\u1eddi ta h\u1ecdc m\u00e1y t\u00ednh \u1edf tr\u01b0\u1eddng \u0111\u1ea1i h\u1ecdc"]
HI = ["\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
      "\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e \u0926\u0947\u0935\u0928\u093e\u0917\u0930\u0940 \u092e\u0947\u0902 \u0932\u093f\u0916\u0940 \u091c\u093e\u0924\u0940 \u0939\u0948",
      "\u0915\u094d\u0937\u0924\u094d\u0930\u093f\u092f \u0936\u094d\u0930\u0940 \u0926\u094d\u0935\u093e\u0930",
      "\u0967\u0968\u0969\u096a \u0930\u0941\u092a\u092f\u0947", "\u0938\u0902\u0938\u094d\u0915\u0943\u0924\u092e\u094d"]
ACCENTED = ["caf\u00e9", "na\u00efve", "r\u00e9sum\u00e9", "se\u00f1or", "\u00fcber", "Stra\u00dfe", "fa\u00e7ade",
            "co\u00f6perate", "\u00c5ngstr\u00f6m", "\u0142\u00f3d\u017a", "\u010desk\u00fd", "\u00e0 la carte",
            "S\u00e3o Paulo", "Krak\u00f3w", "\u00cele-de-France", "\u1e9e", "\u01c4", "\u0130stanbul"]
COMPAT = ["\ufb01", "\ufb02", "\u2126", "\u212b", "\u2460", "\u2474", "\u338f", "\u33a1", "\u2153", "\u00bd",
          "\u2122", "\u210c", "\U0001d400\U0001d401", "\u00b2", "\u2082", "\u2168", "\u3250", "\uff21"]

SPECIAL = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<unk>", "<pad>", "<|begin_of_text|>",
           "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>",
           "<|python_tag|>", "[INST]", "[/INST]", "[TOOL_CALLS]", "<<SYS>>", "<</SYS>>", "<start_of_turn>",
           "<end_of_turn>", "<bos>", "<eos>", "<mask>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>",
           "<think>", "</think>", "<tool_call>", "</tool_call>", "<|im_sep|>", "<|fim_prefix|>", "<|fim_middle|>",
           "<|fim_suffix|>", "<|reserved_special_token_5|>", "<\uff5cbegin\u2581of\u2581sentence\uff5c>",
           "<\uff5cend\u2581of\u2581sentence\uff5c>", "<\uff5cUser\uff5c>", "<\uff5cAssistant\uff5c>",
           "<|image|>", "<start_of_image>"]
NEAR_SPECIAL = ["<|im_start", "im_start|>", "<| im_start |>", "< s>", "<s >", "<S>", "<|IM_START|>", "[inst]",
                "[ INST ]", "<|endoftext", "<<s>>", "<</s>", "<|begin_of_text|", "<start_of_turn",
                "<|eot_id||>", "<s><s>", "</s></s>", "[INST][/INST]"]

EMOJI = ["\U0001f600", "\U0001f602", "\U0001f60d", "\U0001f914", "\U0001f44d", "\U0001f44b", "\U0001f64f",
         "\U0001f680", "\U0001f389", "\U0001f525", "\u2764\ufe0f", "\u2764", "\u2728", "\u2600\ufe0f", "\u263a",
         "\U0001f9d1", "\U0001f469", "\U0001f468", "\U0001f466", "\U0001f467", "\U0001f3c3", "\U0001f937",
         "\U0001f4a9", "\U0001f916", "\U0001f98a", "\U0001f355", "\u26bd", "\u2705", "\u274c", "\U0001f1fa"]
TONABLE = ["\U0001f44d", "\U0001f44b", "\U0001f64f", "\U0001f9d1", "\U0001f469", "\U0001f468", "\U0001f3c3",
           "\U0001f937", "\u270c", "\U0001f918", "\U0001f476", "\U0001f575"]
TONES = ["\U0001f3fb", "\U0001f3fc", "\U0001f3fd", "\U0001f3fe", "\U0001f3ff"]
ZWJ_SEQS = ["\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466", "\U0001f469\u200d\U0001f4bb",
            "\U0001f3f3\ufe0f\u200d\U0001f308", "\U0001f9d1\U0001f3fd\u200d\U0001f680",
            "\U0001f469\U0001f3fe\u200d\u2764\ufe0f\u200d\U0001f48b\u200d\U0001f468\U0001f3fb",
            "\U0001f3f4\u200d\u2620\ufe0f", "\U0001f415\u200d\U0001f9ba", "\U0001f441\ufe0f\u200d\U0001f5e8\ufe0f",
            "\U0001f9d4\u200d\u2642\ufe0f", "\U0001f46e\U0001f3ff\u200d\u2640\ufe0f"]
COUNTRIES = ["US", "GB", "DE", "FR", "JP", "CN", "KR", "IN", "BR", "IL", "SA", "VN", "UA", "NG", "ZA", "CA", "MX",
             "EU", "UN", "AQ"]
TAG_FLAGS = ["\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
             "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"]

ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u200f", "\u202a", "\u202b",
              "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u034f", "\u180e"]
ODD_SPACE = ["\u00a0", "\u2009", "\u3000", "\u2002", "\u2003", "\u2004", "\u2005", "\u2006", "\u2007", "\u2008",
             "\u200a", "\u202f", "\u205f", "\u1680", "\u0085", "\u2028", "\u2029", "\x0b", "\x0c", "\r", "\r\n"]

CPP_TYPES = ["int", "std::size_t", "double", "const std::string&", "std::vector<float>", "uint8_t*", "auto"]
CPP_NAMES = ["count", "buffer", "merge_rank", "token_id", "offset", "piece", "vocab", "scores", "n"]


# ---------------------------------------------------------------------------------------------------------
# helpers

def sentence(rng):
    s = f"{rng.choice(EN_SUBJECTS)} {rng.choice(EN_VERBS)} {rng.choice(EN_OBJECTS)}{rng.choice(EN_TAILS)}"
    if rng.random() < 0.3:
        s = s.replace(" ", f" {rng.choice(CONTRACTIONS)} ", 1)
    return s


def chars_in(rng, lo, hi, n, cat_prefix=None):
    """n random assigned characters from [lo, hi] (optionally only of categories starting with cat_prefix)."""
    out = []
    while len(out) < n:
        c = chr(rng.randint(lo, hi))
        cat = unicodedata.category(c)
        if cat in ("Cn", "Cs", "Co"):
            continue
        if cat_prefix and not cat.startswith(cat_prefix):
            continue
        out.append(c)
    return "".join(out)


def random_words(rng, lo, hi, words, wlen=(1, 6), sep=" "):
    return sep.join(chars_in(rng, lo, hi, rng.randint(*wlen), "L") for _ in range(words))


def fullwidth(s):
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in s)


def sprinkle(rng, s, pool, rate):
    out = []
    for c in s:
        out.append(c)
        if rng.random() < rate:
            out.append(rng.choice(pool))
    return "".join(out)


def stdlib_files():
    root = os.path.dirname(os.__file__)
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("site-packages", "dist-packages", "__pycache__",
                                                               "test", "tests", "idlelib", "lib2to3"))
        files.extend(os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".py"))
    return files


def stdlib_texts(limit):
    """(source text, docstrings) of up to `limit` standard-library files, in a fixed order."""
    sources, docs = [], []
    for path in stdlib_files()[:limit]:
        try:
            with open(path, encoding="utf-8") as f:
                src = f.read()
            tree = ast.parse(src)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        if src.strip():
            sources.append(src)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                d = ast.get_docstring(node, clean=False)
                if d and len(d) > 40:
                    docs.append(d)
    return sources, docs


# ---------------------------------------------------------------------------------------------------------
# generators: each returns one text

def g_prose(rng, ctx):
    if ctx["docs"] and rng.random() < 0.5:
        d = rng.choice(ctx["docs"])
        lines = d.splitlines()
        i = rng.randrange(len(lines))
        return "\n".join(lines[i:i + rng.randint(1, 12)])
    return " ".join(sentence(rng) for _ in range(rng.randint(1, 8)))


def g_legal(rng, ctx):
    parts = []
    for _ in range(rng.randint(1, 4)):
        head = f"{rng.choice(LEGAL_HEADS)} {rng.randint(1, 40)}.{rng.randint(1, 9)}"
        if rng.random() < 0.4:
            head += f"({rng.choice('abcdefgh')})({rng.choice(['i', 'ii', 'iii', 'iv', 'v'])})"
        parts.append(f"{head} {rng.choice(LEGAL)}")
    return ("\n\n" if rng.random() < 0.5 else " ").join(parts)


def g_python(rng, ctx):
    src = rng.choice(ctx["sources"]).splitlines()
    i = rng.randrange(len(src))
    return "\n".join(src[i:i + rng.randint(1, 40)])


def g_cpp(rng, ctx):
    ind = rng.choice(["  ", "    ", "\t"])
    t, n = rng.choice(CPP_TYPES), rng.choice(CPP_NAMES)
    body = [f"// {sentence(rng)}", "#include <vector>", "#include <string>", "",
            f"namespace lt{rng.randint(0, 9)} {{", "",
            f"template <typename T> static {t} f_{n}(const std::vector<T>& v, int k = {rng.randint(-5, 99)}) {{",
            f"{ind}for (std::size_t i = 0; i < v.size(); ++i) {{",
            f"{ind}{ind}if (v[i] != T{{}} && (k & 0x{rng.randint(0, 0xffff):04X}) >= 0) return v[i] * {rng.random():.6f};",
            f"{ind}{ind}/* nested {{ braces }} and \"strings\\n\" */ k <<= 1; k ^= ~k;",
            f"{ind}}}", f"{ind}return {n}_default<T>::value;  // TODO(someone): why?", "}", "",
            f"}}  // namespace lt{rng.randint(0, 9)}"]
    i = rng.randrange(len(body))
    return "\n".join(body[i:i + rng.randint(2, len(body))])


def g_json(rng, ctx):
    def value(depth):
        r = rng.random()
        if depth > 2 or r < 0.3:
            return rng.choice([rng.randint(-10**9, 10**9), rng.random() * 1e6, True, None, sentence(rng),
                               rng.choice(ZH + JA + KO + AR + ACCENTED), rng.choice(EMOJI)])
        if r < 0.6:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {rng.choice(CPP_NAMES) + str(i): value(depth + 1) for i in range(rng.randint(0, 4))}

    obj = {"id": rng.randint(0, 10**6), "name": sentence(rng), "data": value(0)}
    return json.dumps(obj, indent=rng.choice([None, 2, 4, "\t"]), ensure_ascii=rng.random() < 0.3)


def g_cjk(rng, ctx):
    r = rng.random()
    if r < 0.5:
        pool = rng.choice([ZH, JA, KO])
        return rng.choice(["", " ", "\u3002", "\uff0c"]).join(rng.choice(pool) for _ in range(rng.randint(1, 5)))
    if r < 0.8:
        lo, hi = rng.choice([(0x4E00, 0x9FFF), (0x3041, 0x30FF), (0xAC00, 0xD7A3), (0x3400, 0x4DBF),
                             (0x20000, 0x2A6DF)])
        return random_words(rng, lo, hi, rng.randint(1, 8), (1, 10), rng.choice(["", " ", "\u3001"]))
    return f"{sentence(rng)} {rng.choice(ZH + JA + KO)} {rng.randint(0, 9999)}"


def g_rtl(rng, ctx):
    r = rng.random()
    if r < 0.5:
        pool = rng.choice([AR, HE])
        return " ".join(rng.choice(pool) for _ in range(rng.randint(1, 4)))
    if r < 0.8:
        lo, hi = rng.choice([(0x0621, 0x064A), (0x05D0, 0x05EA), (0xFB50, 0xFDFF), (0x0750, 0x077F)])
        return random_words(rng, lo, hi, rng.randint(1, 8), (2, 8))
    return f"{rng.choice(AR + HE)} (English: {sentence(rng)}) \u200f{rng.randint(0, 999)}\u200e"


def g_emoji(rng, ctx):
    bits = []
    for _ in range(rng.randint(1, 10)):
        r = rng.random()
        if r < 0.25:
            bits.append(rng.choice(EMOJI))
        elif r < 0.45:
            bits.append(rng.choice(TONABLE) + rng.choice(TONES))
        elif r < 0.65:
            bits.append(rng.choice(ZWJ_SEQS))
        elif r < 0.8:
            cc = rng.choice(COUNTRIES)
            bits.append("".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in cc))
        elif r < 0.87:
            bits.append(rng.choice(TAG_FLAGS))
        elif r < 0.94:
            bits.append(rng.choice("0123456789#*") + "\ufe0f\u20e3")
        else:
            bits.append(chars_in(rng, 0x1F300, 0x1FAFF, rng.randint(1, 3)))
    sep = rng.choice(["", " ", "", "  "])
    text = sep.join(bits)
    return f"{sentence(rng)} {text}" if rng.random() < 0.4 else text


def g_combining(rng, ctx):
    r = rng.random()
    if r < 0.3:
        return unicodedata.normalize("NFD", " ".join(rng.choice(ACCENTED) for _ in range(rng.randint(1, 6))))
    if r < 0.5:
        return unicodedata.normalize(rng.choice(["NFC", "NFD"]), rng.choice(VI))
    if r < 0.7:
        return rng.choice(HI) + rng.choice(["", " ", "\u0964 "]) + rng.choice(HI)
    if r < 0.85:  # stacked marks on random letters
        base = "".join(rng.choice("aeiouxyzAEIOU") for _ in range(rng.randint(1, 8)))
        return "".join(c + chars_in(rng, 0x0300, 0x036F, rng.randint(0, 6)) for c in base)
    return random_words(rng, 0x0900, 0x097F, rng.randint(1, 6), (2, 8))


def g_digits(rng, ctx):
    r = rng.random()
    if r < 0.3:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 300)))
    if r < 0.5:
        return f"{rng.randint(0, 10**12):,} {rng.random() * 10**rng.randint(0, 12):.{rng.randint(0, 9)}f} " \
               f"-{rng.randint(0, 999)}e{rng.randint(-30, 30)} 0x{rng.randint(0, 2**64):X}"
    if r < 0.65:
        return f"+1 ({rng.randint(200, 999)}) {rng.randint(100, 999)}-{rng.randint(1000, 9999)}, " \
               f"{rng.randint(1900, 2100)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T" \
               f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z"
    if r < 0.8:  # other scripts' digits
        base = rng.choice([0x0660, 0x06F0, 0x0966, 0xFF10, 0x1D7CE, 0x09E6, 0x0E50])
        return "".join(chr(base + rng.randint(0, 9)) for _ in range(rng.randint(1, 40)))
    return " ".join(str(rng.randint(0, 10**rng.randint(1, 20))) for _ in range(rng.randint(2, 20)))


def g_whitespace(rng, ctx):
    parts = []
    for _ in range(rng.randint(1, 12)):
        r = rng.random()
        if r < 0.4:
            parts.append(rng.choice([" ", "\t", "\n", "\r\n", "  ", "\n\n", " \n", "\t\t", "    "])
                         * rng.randint(1, 20))
        elif r < 0.8:
            parts.append(rng.choice(["word", "x", "Hello", "def f():", "a b", sentence(rng)]))
        else:
            parts.append(rng.choice(["", " "]) + rng.choice(CONTRACTIONS) + rng.choice(["", " ", "\n"]))
    return "".join(parts)


def g_special(rng, ctx):
    parts = []
    for _ in range(rng.randint(1, 8)):
        r = rng.random()
        if r < 0.45:
            parts.append(rng.choice(SPECIAL))
        elif r < 0.6:
            parts.append(rng.choice(NEAR_SPECIAL))
        elif r < 0.85:
            parts.append(rng.choice([sentence(rng), "user", "assistant\n", "system", "Hi", "\n", " ", "x"]))
        else:
            parts.append(rng.choice(ZH + EMOJI))
    return rng.choice(["", " ", "\n"]).join(parts)


def g_normalization(rng, ctx):
    s = rng.choice([rng.choice(ACCENTED) + " " + rng.choice(VI), " ".join(rng.choice(COMPAT) for _ in range(4)),
                    rng.choice(ACCENTED + COMPAT) + sentence(rng), rng.choice(KO), rng.choice(HI)])
    return unicodedata.normalize(rng.choice(["NFC", "NFD", "NFKC", "NFKD"]), s)


def g_fullwidth(rng, ctx):
    r = rng.random()
    if r < 0.6:
        return fullwidth(sentence(rng))
    if r < 0.8:
        return f"{sentence(rng)} {fullwidth(str(rng.randint(0, 10**6)))} {rng.choice(JA)}"
    return chars_in(rng, 0xFF01, 0xFFEE, rng.randint(1, 30))


def g_zero_width(rng, ctx):
    s = rng.choice([sentence(rng), rng.choice(ZH + AR + HI + EMOJI), rng.choice(SPECIAL) + "x"])
    return sprinkle(rng, s, ZERO_WIDTH, rng.choice([0.05, 0.2, 0.5]))


def g_odd_space(rng, ctx):
    s = rng.choice([sentence(rng), " ".join(rng.choice(ZH + JA) for _ in range(3)), "1 000 000 km", "a  b"])
    if rng.random() < 0.5:
        return s.replace(" ", rng.choice(ODD_SPACE))
    return sprinkle(rng, s, ODD_SPACE, 0.15)


def g_controls(rng, ctx):
    pool = [chr(c) for c in range(0x00, 0x20) if c not in (0x09, 0x0A, 0x0D)] + ["\x7f", "\x1b[31m", "\x1b[0m",
                                                                                   "\x80", "\x9f"]
    return sprinkle(rng, sentence(rng), pool, 0.2)


def g_misc(rng, ctx):
    r = rng.random()
    if r < 0.15:
        return rng.choice("a-=_*#.~") * rng.randint(50, 2000)
    if r < 0.3:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(100, 1500)))
    if r < 0.45:
        host = rng.choice(["example.com", "xn--bcher-kva.example", "b\u00fccher.de"])
        return f"https://{host}/" \
               f"{rng.choice(CPP_NAMES)}?q={rng.randint(0, 999)}&lang={rng.choice(['en', 'zh-CN', 'ar'])}#" \
               f"{rng.choice(ACCENTED)} mailto:someone+tag@example.org"
    if r < 0.6:
        return f"# {sentence(rng)}\n\n- **bold** _it_ `code` [link](http://x.y)\n> quote\n\n| a | b |\n|---|---|\n" \
               f"| {rng.randint(0, 9)} | {rng.choice(EMOJI)} |\n"
    if r < 0.75:  # other planes and rare scripts
        lo, hi = rng.choice([(0x10000, 0x1007F), (0x1D400, 0x1D7FF), (0x0400, 0x04FF), (0x0370, 0x03FF),
                             (0x0E00, 0x0E7F), (0x10A0, 0x10FF), (0x1200, 0x137F), (0x13A0, 0x13FF)])
        return random_words(rng, lo, hi, rng.randint(1, 8), (1, 8))
    if r < 0.85:  # private use and noncharacter-adjacent
        return "".join(chr(rng.choice([rng.randint(0xE000, 0xF8FF), rng.randint(0xF0000, 0xF00FF), 0xFFFD,
                                       0xFFFC])) for _ in range(rng.randint(1, 10)))
    return rng.choice(["", " ", "\n", "a", "\u00e9", "\U0001f600", "<s>", " <s>", "'s", "'S", "  '", "\t"])


CATEGORIES = [  # name, generator, share of the lines
    ("prose", g_prose, 10), ("legal", g_legal, 5), ("python", g_python, 8), ("cpp", g_cpp, 5),
    ("json", g_json, 5), ("cjk", g_cjk, 8), ("arabic_hebrew", g_rtl, 6), ("emoji", g_emoji, 7),
    ("combining", g_combining, 6), ("digits", g_digits, 5), ("whitespace", g_whitespace, 6),
    ("special_tokens", g_special, 7), ("normalization", g_normalization, 5), ("fullwidth", g_fullwidth, 3),
    ("zero_width", g_zero_width, 4), ("odd_whitespace", g_odd_space, 4), ("controls", g_controls, 1),
    ("misc", g_misc, 5),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--lines", type=int, default=24000)
    a = ap.parse_args()
    if a.lines < len(CATEGORIES):
        sys.exit(f"make_tokenizer_corpus: --lines must be at least {len(CATEGORIES)}")
    sources, docs = stdlib_texts(600)
    if not sources:
        sys.exit("make_tokenizer_corpus: no standard-library sources found next to the os module")
    ctx = {"sources": sources, "docs": docs}
    total = sum(w for _, _, w in CATEGORIES)
    counts = {name: max(1, a.lines * w // total) for name, _, w in CATEGORIES}
    counts["prose"] += a.lines - sum(counts.values())
    rng = random.Random(a.seed)
    order = [name for name, _, _ in CATEGORIES for _ in range(counts[name])]
    rng.shuffle(order)
    gen = {name: g for name, g, _ in CATEGORIES}
    digest = hashlib.sha256()
    tmp = a.out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for name in order:
            line = json.dumps({"text": gen[name](rng, ctx), "category": name}, ensure_ascii=False) + "\n"
            line.encode("utf-8")  # every text is valid UTF-8 (no lone surrogates)
            digest.update(line.encode("utf-8"))
            f.write(line)
    os.replace(tmp, a.out)
    print(f"make_tokenizer_corpus: {a.out}: {len(order)} lines, sha256 {digest.hexdigest()}, "
          f"python {sys.version.split()[0]}, seed {a.seed}")
    for name, _, _ in CATEGORIES:
        print(f"  {name:15} {counts[name]}")


if __name__ == "__main__":
    main()
