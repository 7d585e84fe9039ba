# Writes tests/tokenizer/hf_expected.inc: tiny tokenizer.json components and tokenizers, the inputs, and what
# the Hugging Face `tokenizers` library (the judge) returns for them. Re-run after changing a case:
#   scripts/refpy tests/tokenizer/hf_expected.py tests/tokenizer/hf_expected.inc
import json, sys
from tokenizers import Tokenizer

def bpe(tokens, merges, **kw):
    vocab = {}
    for t in tokens:
        if t not in vocab: vocab[t] = len(vocab)
    for a, b in merges:
        pre = kw.get("continuing_subword_prefix") or ""
        m = a + b[len(pre):]
        if m not in vocab: vocab[m] = len(vocab)
    d = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None,
         "fuse_unk": False, "byte_fallback": False, "ignore_merges": False, "vocab": vocab, "merges": [list(m) for m in merges]}
    d.update(kw)
    return d

def tj(model, normalizer=None, pre=None, post=None, decoder=None, added=()):
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": [dict(id=i, content=c, single_word=sw, lstrip=ls, rstrip=rs, normalized=n, special=sp)
                             for i, (c, sp, n, ls, rs, sw) in enumerate(added)],
            "normalizer": normalizer, "pre_tokenizer": pre, "model": model, "post_processor": post, "decoder": decoder}

BYTES = [chr(c) for c in list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))] + [chr(0x100 + i) for i in range(68)]
cases = {}

def mk(normalizer=None, pre=None, decoder=None):
    return Tokenizer.from_str(json.dumps(tj(bpe(["a"], []), normalizer=normalizer, pre=pre, decoder=decoder)))

def cstr(s):
    # A C++ literal: ASCII as is (with escapes), other characters as universal character names.
    esc = {'"': '\\"', '\\': '\\\\', '\n': '\\n', '\t': '\\t', '\r': '\\r'}
    out = '"'
    for c in s:
        o = ord(c)
        if c in esc: out += esc[c]
        elif 32 <= o < 127: out += c
        elif o < 0xA0: out += '\\x%02x""' % o
        elif o < 0x10000: out += '\\u%04x' % o
        else: out += '\\U%08x' % o
    return out + '"'

R = lambda p: {"Regex": p}
S = lambda p: {"String": p}
norm_cases = [
  ({"type": "NFC"}, ["e\u0301 \u212b ﬁ", "caf\u00e9"]),
  ({"type": "NFD"}, ["\u00e9\u00c5", "ﬁ"]),
  ({"type": "NFKC"}, ["ﬁ ① ｆｕｌｌ ㎏ e\u0301"]),
  ({"type": "NFKD"}, ["ﬁ \u00e9"]),
  ({"type": "Lowercase"}, ["HeLLo İSTANBUL ΣΑΣ ẞ Ǆ"]),
  ({"type": "Prepend", "prepend": "\u2581"}, ["hi there", ""]),
  ({"type": "Replace", "pattern": S(" "), "content": "\u2581"}, [" a  b "]),
  ({"type": "Replace", "pattern": R("\\s+"), "content": " "}, ["a \t\n b\u3000c"]),
  ({"type": "Strip", "strip_left": True, "strip_right": False}, ["  \u3000 x  "]),
  ({"type": "Strip", "strip_left": True, "strip_right": True}, ["\n x y \t"]),
  ({"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}, {"type": "Replace", "pattern": R("[0-9]+"), "content": "#"}]}, ["ＡＢＣ 123 x9"]),
]
pre_cases = [
  ({"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}, ["Hello world's  end\n\n 12 ok!", "héllo"]),
  ({"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}, ["Hi", " Hi"]),
  ({"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}, ["a b"]),
  ({"type": "Split", "pattern": S("-"), "behavior": "Removed", "invert": False}, ["a-b--c-"]),
  ({"type": "Split", "pattern": S("-"), "behavior": "Isolated", "invert": False}, ["a-b--c-"]),
  ({"type": "Split", "pattern": S("-"), "behavior": "MergedWithPrevious", "invert": False}, ["a-b--c-"]),
  ({"type": "Split", "pattern": S("-"), "behavior": "MergedWithNext", "invert": False}, ["-a-b--c"]),
  ({"type": "Split", "pattern": S("-"), "behavior": "Contiguous", "invert": False}, ["a-b--c-"]),
  ({"type": "Split", "pattern": R("\\p{N}{1,3}"), "behavior": "Isolated", "invert": False}, ["a1234567b"]),
  ({"type": "Split", "pattern": R("[a-z]+"), "behavior": "Removed", "invert": True}, ["ab, cd!ef"]),
  ({"type": "Split", "pattern": R("(?i:'s|'t)|\\s+(?!\\S)|\\s+"), "behavior": "Isolated", "invert": False}, ["IT'S it's  x \u00a0y"]),
  ({"type": "Split", "pattern": R("(?m:a.b)"), "behavior": "Isolated", "invert": False}, ["xa\nbx a b"]),
  ({"type": "Split", "pattern": R("^b|c$"), "behavior": "Isolated", "invert": False}, ["ab\nbc\nc"]),
  ({"type": "Split", "pattern": R("a*"), "behavior": "Isolated", "invert": False}, ["baab"]),
  ({"type": "Digits", "individual_digits": True}, ["a123b\u0663"]),
  ({"type": "Digits", "individual_digits": False}, ["a123b45"]),
  ({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}, ["Hey  friend", "\u2581x"]),
  ({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "never", "split": True}, ["Hey friend"]),
  ({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}, ["Hey friend"]),
  ({"type": "Punctuation", "behavior": "Isolated"}, ["Hey, you!? \u00bfs\u00ed\u300c"]),
  ({"type": "Punctuation", "behavior": "Contiguous"}, ["a...b"]),
  ({"type": "Whitespace"}, ["Hey, you_2 \u00e9t\u00e9!! x\u0301"]),
  ({"type": "WhitespaceSplit"}, ["  a\u3000b\tc\n"]),
  ({"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, {"type": "Digits", "individual_digits": True}]}, ["ab12 c3"]),
]
dec_cases = [
  ({"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}, [["Hello", "Ġw", "orld", "Ċ"], ["\u00e6\u0139", "x"], ["\u00e6", "<|x|>"]]),
  ({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}, [["\u2581Hey", "\u2581\u2581friend"], ["a\u2581", "\u2581b"]]),
  ({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "never", "split": True}, [["\u2581Hey", "\u2581friend"]]),
  ({"type": "ByteFallback"}, [["<0x61>", "<0xC3>", "<0xA9>", "b", "<0xE2>", "<0x82>", "c", "<0xff>"]]),
  ({"type": "Fuse"}, [["a", "b", " c"]]),
  ({"type": "Strip", "content": " ", "start": 1, "stop": 1}, [["  a  ", " b", "c"]]),
  ({"type": "Replace", "pattern": S("\u2581"), "content": " "}, [["\u2581a\u2581\u2581b"]]),
  ({"type": "Sequence", "decoders": [{"type": "Replace", "pattern": S("\u2581"), "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
   [["\u2581Hi", "\u2581", "<0xE2>", "<0x9C>", "<0x93>", "\u2581<0x41>"]]),
]

BL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
BLD = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
def template(single, specials):
    return {"type": "TemplateProcessing", "single": single, "pair": single, "special_tokens": {k: {"id": k, "ids": [v], "tokens": [k]} for k, v in specials.items()}}
def sp(k): return {"SpecialToken": {"id": k, "type_id": 0}}
A = {"Sequence": {"id": "A", "type_id": 0}}
BYTE_TOKENS = ["<0x%02X>" % b for b in range(256)]
SPM_DEC = {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": S("\u2581"), "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
BASE_BL = tj(bpe(BYTES, [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("l", "l"), ("e", "ll")]), pre=BL, decoder=BLD,
              post=template([sp("<s>"), A, sp("</s>")], {"<s>": 261, "</s>": 262}),
              added=[("<s>", True, False, False, False, False), ("</s>", True, False, False, False, False),
                     ("<pad>", True, False, False, False, False)])
SPM_FIRST = tj(bpe(["<unk>", "<s>", "</s>"] + BYTE_TOKENS + ["\u2581", "a", "b", "c"], [("\u2581", "a"), ("a", "b"), ("\u2581a", "b")],
                  unk_token="<unk>", fuse_unk=True, byte_fallback=True),
               pre={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}, decoder=SPM_DEC,
               added=[("<unk>", True, False, False, False, False), ("<s>", True, False, False, False, False)])
full_cases = [
  ("bytelevel_template", tj(bpe(BYTES, [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("l", "l"), ("e", "ll")]), pre=BL, decoder=BLD,
      post=template([sp("<s>"), A, sp("</s>")], {"<s>": 261, "</s>": 262}),
      added=[("<s>", True, False, False, False, False), ("</s>", True, False, False, False, False), ("<pad>", True, False, False, False, False)]),
   ["the hello", " the  theft\n", "x<s>y</s>", "h\u00e9llo \U0001F600", "", "<s>"]),
  ("bytelevel_prefix_space", tj(bpe(BYTES, [("Ġ", "a")]), pre=dict(BL, add_prefix_space=True), decoder=BLD,
      added=[("<s>", True, False, False, False, False)]), ["a<s>a", " a", "<s>"]),
  ("spm_byte_fallback", tj(bpe(["<unk>", "<s>", "</s>"] + BYTE_TOKENS + ["\u2581", "a", "b", "c"], [("\u2581", "a"), ("a", "b"), ("\u2581a", "b")],
      unk_token="<unk>", fuse_unk=True, byte_fallback=True),
      pre={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}, decoder=SPM_DEC,
      post=template([sp("<s>"), A], {"<s>": 1}), added=[("<unk>", True, False, False, False, False), ("<s>", True, False, False, False, False), ("</s>", True, False, False, False, False)]),
   ["ab a", "a \u00e9", "<s>ab", "ab<s>ab", "x\ny", " ab"]),
  ("spm_legacy_prepend", tj(bpe(["<unk>", "<s>", "</s>"] + BYTE_TOKENS + ["\u2581", "a", "b"], [("\u2581", "a"), ("a", "b")], unk_token="<unk>", fuse_unk=True, byte_fallback=True),
      normalizer={"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": S(" "), "content": "\u2581"}]},
      decoder=SPM_DEC, post=template([sp("<s>"), A, sp("</s>")], {"<s>": 1, "</s>": 2}),
      added=[("<unk>", True, False, False, False, False), ("<s>", True, False, False, False, False), ("</s>", True, False, False, False, False)]),
   ["ab ba", "a</s>b", "\u00e7a"]),
  ("metaspace_first_after_strip", dict(SPM_FIRST, normalizer={"type": "Sequence", "normalizers": [
      {"type": "Strip", "strip_left": True, "strip_right": True}, {"type": "Replace", "pattern": S("x"), "content": ""}]}),
   ["  ab a", "ab", "xab", "axb", " <s>ab", "x"]),
  ("unk_separate", tj(bpe(["<unk>", "a", "b"], [("a", "b")], unk_token="<unk>", fuse_unk=False), pre={"type": "WhitespaceSplit"}), ["axxb ab", "xx"]),
  ("unk_fused", tj(bpe(["<unk>", "a", "b"], [("a", "b")], unk_token="<unk>", fuse_unk=True), pre={"type": "WhitespaceSplit"}), ["axxb ab", "xx"]),
  ("no_unk_drops", tj(bpe(["a", "b"], [("a", "b")]), pre={"type": "WhitespaceSplit"}), ["axxb"]),
  ("prefix_suffix", tj(bpe(["a", "##b", "##c", "c</w>", "##b</w>", "##c</w>"], [("a", "##b")], continuing_subword_prefix="##", end_of_word_suffix="</w>"),
      pre={"type": "WhitespaceSplit"}), ["abc ab c"]),
  ("ignore_merges", tj(bpe(["a", "b", "c", "abc"], [("a", "b")], ignore_merges=True), pre={"type": "WhitespaceSplit"}), ["abc abcc"]),
  ("merge_ranks", tj(dict(bpe(["a", "b", "c"], [("b", "c"), ("a", "b"), ("a", "bc")]), merges=["#version: 0.2", "b c", "a b", "a bc"]), pre={"type": "WhitespaceSplit"}), ["abc abab cab"]),
  ("truncate_right", dict(BASE_BL, truncation={"direction": "Right", "max_length": 5, "strategy": "LongestFirst", "stride": 0}),
   ["the hello the hello", "x", ""]),
  ("truncate_left", dict(BASE_BL, truncation={"direction": "Left", "max_length": 4, "strategy": "OnlyFirst", "stride": 1}),
   ["the hello the hello"]),
  ("truncate_below_template", dict(BASE_BL, truncation={"direction": "Right", "max_length": 1, "strategy": "LongestFirst", "stride": 0}),
   ["the hello"]),
  ("truncate_to_template", dict(BASE_BL, truncation={"direction": "Right", "max_length": 2, "strategy": "LongestFirst", "stride": 0}),
   ["the hello"]),
  ("pad_fixed", dict(BASE_BL, padding={"strategy": {"Fixed": 12}, "direction": "Right", "pad_to_multiple_of": None, "pad_id": 263, "pad_type_id": 0, "pad_token": "<pad>"}),
   ["the hello", "the hello the hello the hello"]),
  ("pad_multiple_left", dict(BASE_BL, padding={"strategy": "BatchLongest", "direction": "Left", "pad_to_multiple_of": 8, "pad_id": 263, "pad_type_id": 0, "pad_token": "<pad>"}),
   ["the hello", ""]),
  ("added_options", tj(bpe(BYTES, []), normalizer={"type": "Lowercase"}, pre=BL, decoder=BLD,
      added=[("<mask>", True, False, True, True, False), ("hi", False, False, False, False, True), ("YES", False, True, False, False, False), ("[SEP]", True, False, False, False, False), ("[SEPX]", True, False, False, False, False)]),
   ["a  <mask>  b", "hi ohi hi!", "say YES yes Yes", "x[SEP]y[SEPX]z", "<mask>"]),
]
out = []
out.append("// Generated from tokenizers %s by tests/tokenizer/hf_expected.py: component, input, tokenizers' output." % __import__("tokenizers").__version__)
out.append("const ComponentCase kNormalizerCases[] = {")
for j, ins in norm_cases:
    t = mk(normalizer=j)
    for s in ins: out.append("    {%s, %s, {%s}}," % (cstr(json.dumps(j)), cstr(s), cstr(t.normalizer.normalize_str(s))))
out.append("};")
out.append("const ComponentCase kPreTokenizerCases[] = {")
for j, ins in pre_cases:
    t = mk(pre=j)
    for s in ins: out.append("    {%s, %s, {%s}}," % (cstr(json.dumps(j)), cstr(s), ", ".join(cstr(p) for p, _ in t.pre_tokenizer.pre_tokenize_str(s))))
out.append("};")
out.append("const DecoderCase kDecoderCases[] = {")
for j, ins in dec_cases:
    t = mk(decoder=j)
    for toks in ins: out.append("    {%s, {%s}, %s}," % (cstr(json.dumps(j)), ", ".join(cstr(x) for x in toks), cstr(t.decoder.decode(toks))))
out.append("};")
out.append("const FullCase kFullCases[] = {")
for name, j, texts in full_cases:
    t = Tokenizer.from_str(json.dumps(j))
    for x in texts:
        e = t.encode(x, add_special_tokens=True).ids
        en = t.encode(x, add_special_tokens=False).ids
        ids = lambda v: "{" + ", ".join(map(str, v)) + "}"
        out.append("    {%s, %s, %s, %s, %s, %s, %s}," % (cstr(name), cstr(json.dumps(j)), cstr(x), ids(e), ids(en), cstr(t.decode(e, skip_special_tokens=False)), cstr(t.decode(e, skip_special_tokens=True))))
out.append("};")
open(sys.argv[1], "w").write("\n".join(out) + "\n")
