"""Builds the demo's chat questions and answers about the licences from the bundled legal corpus (data/legal/train):
    python3 scripts/make_demo_chat.py [DATA=data]
writes DATA/legal-chat/train.jsonl ({"messages": [user, assistant]}) and DATA/legal-chat/heldout.jsonl
({"messages": [user], "reference": answer}, for loratune eval --prompts). Deterministic, standard library only.

Three kinds of question, all answered in the corpus's own words:
  - licence: "Under which licence are the files of P distributed?" (the License: field of the DEP-5 copyright
    file's "Files: *" stanza);
  - copyright: "Who holds the copyright on the files of P?" (its Copyright: field);
  - passage: "Continue this passage of the <licence>: <words>" -> the licence text's next words (the licence
    texts under /usr/share/common-licenses in the corpus).
A question is held out by a hash of its text (about one in eight), so held-out questions ask about packages and
passages the tuned model was never asked about.
"""
import glob
import hashlib
import json
import os
import re
import sys

DATA = sys.argv[1] if len(sys.argv) > 1 else "data"
PROMPT_WORDS, ANSWER_WORDS = 24, 24
PASSAGES_PER_LICENCE = 24
LICENCE_NAMES = {"Apache-2.0": "Apache License 2.0", "Artistic": "Artistic License", "BSD": "BSD licence",
                 "CC0-1.0": "CC0 1.0 Universal dedication", "GFDL-1.2": "GNU Free Documentation License 1.2",
                 "GFDL-1.3": "GNU Free Documentation License 1.3", "GPL-1": "GNU General Public License 1",
                 "GPL-2": "GNU General Public License 2", "GPL-3": "GNU General Public License 3",
                 "LGPL-2": "GNU Library General Public License 2", "LGPL-3": "GNU Lesser General Public License 3",
                 "MPL-1.1": "Mozilla Public License 1.1"}


def held_out(question):
    return int(hashlib.sha256(question.encode()).hexdigest()[:8], 16) % 8 == 0


def files_star(text):
    """The first DEP-5 'Files: *' stanza's fields (name -> value, continuation lines joined), or None."""
    if not text.startswith("Format:"):
        return None
    for stanza in re.split(r"\n\s*\n", text):
        if not re.search(r"^Files:\s*\*\s*$", stanza, re.M):
            continue
        fields, name = {}, None
        for line in stanza.splitlines():
            m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
            if m:
                name = m.group(1)
                fields[name] = m.group(2).strip()
            elif name and line.startswith(" ") and line.strip() != ".":
                fields[name] = (fields[name] + " " + line.strip()).strip()
        return fields
    return None


def package_items(path):
    pkg = os.path.basename(path)[len("copyright-"):-len(".txt")]
    fields = files_star(open(path, encoding="utf-8").read())
    if not fields:
        return []
    items = []
    lic = fields.get("License", "").split(" ")[0] if fields.get("License") else ""
    if lic:
        items.append((f"Under which licence are the files of {pkg} distributed?",
                      f"The files of {pkg} are distributed under the {lic} licence."))
    holder = re.sub(r"\s+", " ", fields.get("Copyright", "")).strip()
    if holder and len(holder.split()) <= 40:
        if not holder.lower().startswith("copyright"):
            holder = "Copyright " + holder
        items.append((f"Who holds the copyright on the files of {pkg}?", holder.rstrip(".") + "."))
    return items


def passage_items(path):
    key = os.path.basename(path)[len("license-"):-len(".txt")]
    name = LICENCE_NAMES.get(key, key)
    words = open(path, encoding="utf-8").read().split()
    items, step = [], PROMPT_WORDS + ANSWER_WORDS
    for start in range(0, len(words) - step, step):
        if len(items) >= PASSAGES_PER_LICENCE:
            break
        prompt = " ".join(words[start:start + PROMPT_WORDS])
        answer = " ".join(words[start + PROMPT_WORDS:start + step])
        items.append((f"Continue this passage of the {name}:\n{prompt}", answer))
    return items


def main():
    items = []
    for path in sorted(glob.glob(os.path.join(DATA, "legal", "train", "*.txt"))):
        base = os.path.basename(path)
        items += package_items(path) if base.startswith("copyright-") else passage_items(path)
    out = os.path.join(DATA, "legal-chat")
    os.makedirs(out, exist_ok=True)
    train = [(q, a) for q, a in items if not held_out(q)]
    held = {}  # kind -> items; written round-robin so that the first N held-out questions mix the kinds
    for q, a in items:
        if held_out(q):
            held.setdefault(q.split(" ")[0], []).append((q, a))
    order = []
    for i in range(max(len(v) for v in held.values())):
        order += [v[i] for _, v in sorted(held.items()) if i < len(v)]
    with open(os.path.join(out, "train.jsonl"), "w", encoding="utf-8") as f:
        for q, a in train:
            f.write(json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]},
                               ensure_ascii=False) + "\n")
    with open(os.path.join(out, "heldout.jsonl"), "w", encoding="utf-8") as f:
        for q, a in order:
            f.write(json.dumps({"messages": [{"role": "user", "content": q}], "reference": a}, ensure_ascii=False) + "\n")
    n_train, n_held = len(train), len(order)
    print(f"{out}: {n_train} training and {n_held} held-out questions")


main()
