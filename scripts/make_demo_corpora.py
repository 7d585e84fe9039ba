#!/usr/bin/python3
"""Builds the demo corpora under data/ from text that Debian packages ship (run by scripts/make-demo-data.sh).

general/  English prose: the Debian Reference (debian-reference-en, HTML -> text) and the fortune cookie
          database (fortunes). train.txt + heldout.txt, documents separated by blank lines.
legal/    Licence and copyright texts: /usr/share/common-licenses and the machine-readable (DEP-5) copyright
          files of installed packages. train/ and heldout/ (one document per file), and qa.jsonl: completion
          prompts cut from the held-out documents (the text up to the last words of a licence sentence) with
          the words that follow in the document as the reference.
Deterministic: files are sorted and split by a hash of their name.
"""
import glob
import hashlib
import html.parser
import json
import os
import re
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else "data"
MAX_DOC = 12000          # bytes kept per legal document
LEGAL_TRAIN_BYTES = 1_600_000
LEGAL_HELDOUT_BYTES = 200_000


def bucket(name, modulo=20):
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % modulo


class TextOf(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "pre", "code", "table"):
            self.skip += 1
        if tag in ("p", "div", "li", "h1", "h2", "h3", "h4", "dt", "dd", "br"):
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "pre", "code", "table") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def paragraphs(text):
    for p in re.split(r"\n\s*\n", text):
        p = " ".join(p.split())
        if len(p) >= 80 and sum(c.isalpha() for c in p) > 0.6 * len(p):
            yield p


def general_docs():
    docs = []
    for f in sorted(glob.glob("/usr/share/debian-reference/*.en.html")):
        t = TextOf()
        t.feed(open(f, encoding="utf-8", errors="replace").read())
        docs += list(paragraphs("".join(t.parts)))
    for f in sorted(glob.glob("/usr/share/games/fortunes/*")):
        if "." in os.path.basename(f) or os.path.islink(f) or not os.path.isfile(f):
            continue
        for cookie in open(f, encoding="utf-8", errors="replace").read().split("\n%\n"):
            c = "\n".join(line.rstrip() for line in cookie.strip().splitlines())
            if 40 <= len(c) <= 2000 and sum(ch.isalpha() for ch in c) > 0.5 * len(c):
                docs.append(c)
    return docs


def dep5_license(text):
    """The licence short name of the first 'Files: *' stanza (DEP-5), or None."""
    if not text.startswith("Format:"):
        return None
    for stanza in re.split(r"\n\s*\n", text):
        if re.search(r"^Files:\s*\*\s*$", stanza, re.M):
            m = re.search(r"^License:\s*(\S[^\n]*)$", stanza, re.M)
            if m:
                return m.group(1).strip()
    return None


def cloze_items(text, pkg, per_doc=2, answer_words=3):
    """Completion prompts from a held-out document: a licence-text line of >= 8 words, its last words as the
    reference and up to 300 characters of the document before them as the prompt."""
    items = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        words = line.split()
        if len(words) < 8 or not line.startswith(" ") or line.strip() == ".":
            continue
        cut = line.rstrip().rsplit(" ", answer_words)[0]
        prefix = "\n".join(lines[max(0, i - 3):i] + [cut])[-300:]
        items.append({"prompt": prefix, "reference": " ".join(words[-answer_words:]), "source": f"copyright-{pkg}.txt"})
        if len(items) >= per_doc:
            break
    return items


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    docs = general_docs()
    train = [d for d in docs if bucket(d) != 0]
    held = [d for d in docs if bucket(d) == 0]
    write(f"{OUT}/general/train.txt", "\n\n".join(train) + "\n")
    write(f"{OUT}/general/heldout.txt", "\n\n".join(held[:300]) + "\n")

    legal_train, legal_held, qa = 0, 0, []
    for f in sorted(glob.glob("/usr/share/common-licenses/*")):
        name = os.path.basename(f)
        if os.path.islink(f):
            continue
        text = open(f, encoding="utf-8", errors="replace").read()[:MAX_DOC]
        dest = "heldout" if name in ("MPL-2.0", "LGPL-2.1") else "train"
        write(f"{OUT}/legal/{dest}/license-{name}.txt", text)
        if dest == "train":
            legal_train += len(text)
        else:
            legal_held += len(text)
    seen = set()
    for f in sorted(glob.glob("/usr/share/doc/*/copyright")):
        pkg = f.split("/")[4]
        text = open(f, encoding="utf-8", errors="replace").read()
        key = hashlib.sha256(text.encode()).hexdigest()
        if key in seen or not text.startswith("Format:"):
            continue
        seen.add(key)
        text = text[:MAX_DOC]
        lic = dep5_license(text)
        if bucket(pkg) < 2 and legal_held < LEGAL_HELDOUT_BYTES:
            write(f"{OUT}/legal/heldout/copyright-{pkg}.txt", text)
            legal_held += len(text)
            qa += cloze_items(text, pkg)
        elif legal_train < LEGAL_TRAIN_BYTES:
            write(f"{OUT}/legal/train/copyright-{pkg}.txt", text)
            legal_train += len(text)

    with open(f"{OUT}/legal/qa.jsonl", "w", encoding="utf-8") as out:
        for q in qa[:60]:
            out.write(json.dumps(q) + "\n")
    print(f"general: {len(train)} train / {len(held[:300])} held-out documents; "
          f"legal: {legal_train} train / {legal_held} held-out bytes; qa: {len(qa)}")


main()
