#!/usr/bin/env bash
# prepare on chat data with the model's own chat template (tokenizer.json + Jinja template, masks derived by
# incremental rendering) against plain encoding of the same text, measured in the same run.
#   scripts/bench-prepare-chat.sh [MB=32] [MODEL_DIR]
# MODEL_DIR (default: the SmolLM2-135M-Instruct fixture of scripts/setup.sh --test) must hold a tokenizer.json
# and a chat template. The chat data are multi-turn conversations (1-4 exchanges, 30% with a system message)
# built from the tokenizer reference corpus (prose, code, CJK, Arabic/Hebrew, emoji, digits, whitespace runs).
# Timed, all on one input:
#   plain encoding  loratune's tokenizer.json encoder on the conversations as the template renders them, one
#                   thread, encoding only (no start-up, no file reading): the baseline;
#   HF tokenizers   the same texts, Tokenizer.encode() one at a time, one thread (for scale);
#   prepare text    `loratune prepare` of the rendered texts as plain text records (no template), 1 thread;
#   prepare chat    `loratune prepare` of the conversations with the model template, 1 thread and all threads.
# prepare is timed as a whole command (start-up, reading, rendering, masking, writing and hashing outputs).
# Medians of 3 runs. Ratios are throughput against the plain encoding baseline (1.00 = as fast).
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-32}
cache=${LORATUNE_CACHE:-$HOME/.cache/loratune}
model=${2:-$cache/smollm2-135m-instruct/hf}
build=${LORATUNE_BUILD_DIR:-build}
[[ -f "$model/tokenizer.json" ]] || { echo "bench-prepare-chat: $model/tokenizer.json missing (scripts/setup.sh --test makes the SmolLM2 fixture)" >&2; exit 2; }
tpl=$model/chat_template.jinja
if [[ ! -f "$tpl" ]]; then
  tpl=$(mktemp)
  python3 -c 'import json,sys; t=json.load(open(sys.argv[1])).get("chat_template"); assert isinstance(t,str), "no string chat_template"; sys.stdout.write(t)' \
    "$model/tokenizer_config.json" > "$tpl" || { echo "bench-prepare-chat: $model has no chat template" >&2; exit 2; }
fi
scripts/build.sh --target loratune loratune-hftok loratune-jinja >/dev/null
bin=$build/apps/loratune/loratune
tools=$build/apps/tools
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1

scripts/refpy tests/reference/test_hf_tokenizers.py --write-corpus "$work/corpus.jsonl" --builtin >/dev/null
python3 - "$work/corpus.jsonl" "$mb" "$work" <<'PY'
import json, random, sys
texts = [t for t in (json.loads(l)["text"] for l in open(sys.argv[1], encoding="utf-8") if l.strip()) if t.strip()]
target, work = int(sys.argv[2]) * 1024 * 1024, sys.argv[3]
rng, n, i = random.Random(0), 0, 0
with open(f"{work}/chat.jsonl", "w", encoding="utf-8") as chat, open(f"{work}/ctx.jsonl", "w", encoding="utf-8") as ctx:
    while n < target:
        msgs = [{"role": "system", "content": f"You are a careful assistant (conversation {i})."}] if rng.random() < 0.3 else []
        for _ in range(rng.randint(1, 4)):
            for role in ("user", "assistant"):
                msgs.append({"role": role, "content": " ".join(rng.choice(texts) for _ in range(rng.randint(1, 4)))})
        line = json.dumps({"messages": msgs}, ensure_ascii=False)
        chat.write(line + "\n")
        ctx.write(json.dumps({"messages": msgs, "add_generation_prompt": False}, ensure_ascii=False) + "\n")
        n, i = n + len(line.encode()), i + 1
PY
"$tools/loratune-jinja" --template "$tpl" --contexts "$work/ctx.jsonl" --out "$work/rendered.jsonl"
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
with open(f"{w}/rendered.jsonl", encoding="utf-8") as r, open(f"{w}/text.jsonl", "w", encoding="utf-8") as o:
    for l in r:
        o.write(json.dumps({"text": json.loads(l)}, ensure_ascii=False) + "\n")
PY

now() { date +%s.%N; }
dt() { python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$1" "$2"; }
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
enc=() hf=() pt=() p1=() pn=()
for _ in 1 2 3; do
  "$tools/loratune-hftok" "$model/tokenizer.json" "$work/text.jsonl" /dev/null --ids-only 2>"$work/enc.txt"
  enc+=("$(sed -n 's/.*encode_seconds=\([0-9.]*\).*/\1/p' "$work/enc.txt")")
  hf+=("$(scripts/refpy scripts/bench_tokenize_hf.py "$model/tokenizer.json" "$work/text.jsonl" single | sed -n 's/.*encode_seconds=\([0-9.]*\).*/\1/p')")
  t0=$(now); "$bin" prepare "$work/text.jsonl" --model "$model" --out "$work/pt" --force --threads 1 --seq-len 4096 --log-level warn >/dev/null; t1=$(now)
  pt+=("$(dt "$t0" "$t1")")
  t0=$(now); "$bin" prepare "$work/chat.jsonl" --model "$model" --out "$work/p1" --force --threads 1 --seq-len 4096 --log-level warn --json >"$work/p1.json"; t1=$(now)
  p1+=("$(dt "$t0" "$t1")")
  t0=$(now); "$bin" prepare "$work/chat.jsonl" --model "$model" --out "$work/pn" --force --seq-len 4096 --log-level warn >/dev/null; t1=$(now)
  pn+=("$(dt "$t0" "$t1")")
done
bytes=$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' "$work/enc.txt")
python3 - "$bytes" "$(median "${enc[@]}")" "$(median "${hf[@]}")" "$(median "${pt[@]}")" "$(median "${p1[@]}")" \
  "$(median "${pn[@]}")" "$(getconf _NPROCESSORS_ONLN)" "$work/p1.json" "$model" <<'PY'
import json, sys
b = int(sys.argv[1]); enc, hf, pt, p1, pn = map(float, sys.argv[2:7]); n = int(sys.argv[7])
rep = json.load(open(sys.argv[8]))
print(f"model {sys.argv[9]}")
print(f"input: {rep['records']} conversations, {b/1e6:.1f} MB as rendered, {rep['tokens']['total']} tokens "
      f"({100*rep['tokens']['trained_fraction']:.1f}% trained), template {rep['template']}")
base = b / enc / 1e6
rows = [("plain encoding (loratune, 1 thread, encode only)", enc, "baseline"),
        ("HF tokenizers encode (1 thread)", hf, None),
        ("prepare, rendered text as text records, 1 thread", pt, None),
        ("prepare, chat + model template, 1 thread", p1, None),
        (f"prepare, chat + model template, {n} threads", pn, None)]
for name, s, tag in rows:
    mbs = b / s / 1e6
    print(f"  {name:<52} {mbs:6.2f} MB/s  " + (f"({tag})" if tag else f"ratio {mbs/base:.2f}"))
print("(medians of 3; prepare timed as whole commands; ratio = throughput / plain encoding's)")
PY
