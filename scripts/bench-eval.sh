#!/usr/bin/env bash
# Evaluation speed of loratune, measured side by side in one run on the real SmolLM2-135M-Instruct (the setup
# fixture's HF directory), for each loratune build given (build/: Debian's LibTorch 1.13; build-torch2/: the pip
# LibTorch 2.x):
#
#   loss      `eval --data` (batch 8) against transformers' no-grad forward with labels
#             (scripts/bench_finetune_hf.py --forward: model.eval(), torch.no_grad(), model(...).loss, sdpa, the
#             same rows, batch and dtype), on two prepared sets: the demo's legal text packed into 512-token rows
#             (every position trained) and the demo's chat data in rows of up to 512 tokens (only the
#             assistant's tokens trained). Input tokens/s of the batches (loading excluded on both sides).
#   generate  `eval --prompts` on the first 64 held-out questions (data/legal-chat/heldout.jsonl, the model's
#             chat template), greedy, up to 48 new tokens: one prompt at a time (eval.prompt_batch_size 1)
#             against batches of 16 and 64, in bf16: generation seconds, speed-up over one at a time, and how
#             many outputs equal the one-at-a-time ones; the same in fp32 on the first 16 questions (batches of
#             16), where they must all be equal.
#
#   scripts/bench-eval.sh [--threads N] [--builds debian,pip] [--out RESULTS.json]
#
# Writes the table as text + JSON (default build/bench-eval.{txt,json}). About 12 minutes on 2 idle cores.
set -euo pipefail
cd "$(dirname "$0")/.."

threads=$(nproc)
builds=debian,pip
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads=${2:?--threads needs a number}; shift 2 ;;
    --builds) builds=${2:?--builds needs a list such as debian,pip}; shift 2 ;;
    --out) out=${2:?--out needs a file name}; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1'" >&2
       echo "usage: $0 [--threads N] [--builds debian,pip] [--out RESULTS.json]" >&2
       exit 2 ;;
  esac
done
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "error: --threads must be a positive integer, got '$threads'" >&2; exit 2; }
out=${out:-build/bench-eval.json}
[[ -x "$(scripts/refpy -c 'import sys; print(sys.executable)' 2>/dev/null)" ]] ||
  { echo "error: the reference venv is missing: run scripts/setup.sh --test" >&2; exit 2; }
fixture=${LORATUNE_CACHE:-$HOME/.cache/loratune}/smollm2-135m-instruct/hf
[[ -f "$fixture/model.safetensors" ]] ||
  { echo "error: the SmolLM2-135M-Instruct fixture is missing ($fixture): run scripts/setup.sh --test" >&2; exit 2; }

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
bench_builds "$builds"
mkdir -p "$(dirname "$out")"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

loss_batches=16 batch=8 seq=512 new_tokens=48
echo "threads $threads, builds $builds; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$lt0" prepare data/legal/train --model "$fixture" --format text --seq-len "$seq" --val-fraction 0 \
  --out "$work/data-text" --log-level warn >/dev/null
"$lt0" prepare data/legal-chat/train.jsonl --model "$fixture" --seq-len "$seq" --val-fraction 0 \
  --out "$work/data-chat" --log-level warn >/dev/null

for set in text chat; do
  echo "loss eval ($set): transformers ..." >&2
  scripts/refpy scripts/bench_finetune_hf.py --forward --model "$fixture" --prepared "$work/data-$set" \
    --steps "$loss_batches" --batch "$batch" --threads "$threads" --dtype bf16 >"$work/hf-loss-$set.json"
  for b in "${build_list[@]}"; do
    echo "loss eval ($set): loratune ($b) ..." >&2
    "${bins[$b]}" eval --model "$fixture" --data "$work/data-$set" --split train --batch-size "$batch" \
      --max-batches "$loss_batches" --dtype bf16 --threads "$threads" --out "$work/lt-loss-$set-$b.json" \
      --log-level warn >/dev/null
  done
done

# gen LABEL BUILD DTYPE SAMPLES BATCH
gen() {
  echo "generate: $1 ..." >&2
  "${bins[$2]}" eval --model "$fixture" --prompts data/legal-chat/heldout.jsonl --max-samples "$4" \
    -n "$new_tokens" --dtype "$3" --threads "$threads" --prompt-batch-size "$5" --out "$work/gen-$1.json" \
    --log-level warn >/dev/null
}
for b in "${build_list[@]}"; do
  for bs in 1 16 64; do gen "$b-bf16-$bs" "$b" bf16 64 "$bs"; done
  for bs in 1 16; do gen "$b-fp32-$bs" "$b" fp32 16 "$bs"; done
done

scripts/refpy - "$work" "$out" "$builds" "$threads" <<'PY'
import json, os, statistics, sys
work, out, builds, threads = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4])
res = {"threads": threads, "model": "SmolLM2-135M-Instruct", "loss": [], "generate": []}
lines = [f"evaluation speed, SmolLM2-135M-Instruct, {threads} threads", ""]
head = f"{'loss eval':<22}{'side':<10}{'input tok/s':>12}{'x hf':>7}{'loss':>9}"
lines += [head, "-" * len(head)]
for s in ("text", "chat"):
    hf = json.load(open(f"{work}/hf-loss-{s}.json"))
    hf_tps = sum(b["tokens"] for b in hf["batches"]) / sum(b["seconds"] for b in hf["batches"])
    hf_loss = sum(b["loss"] * b["targets"] for b in hf["batches"]) / sum(b["targets"] for b in hf["batches"])
    row = {"set": s, "hf": {"tokens_per_s": hf_tps, "loss": hf_loss, "torch": hf["torch"]}}
    label = "legal text, 512" if s == "text" else "chat, masked, <=512"
    lines.append(f"{label:<22}{'hf':<10}{hf_tps:>12.0f}{'-':>7}{hf_loss:>9.4f}")
    for b in builds:
        r = json.load(open(f"{work}/lt-loss-{s}-{b}.json"))
        tps = r["speed"]["loss_tokens_per_s"]
        row["lt-" + b] = {"tokens_per_s": tps, "loss": r["metrics"]["loss"], "ratio": tps / hf_tps}
        lines.append(f"{'':<22}{'lt-' + b:<10}{tps:>12.0f}{tps / hf_tps:>7.2f}{r['metrics']['loss']:>9.4f}")
    res["loss"].append(row)
lines += ["", f"{'generate (greedy, <=48 new)':<30}{'prompts':>8}{'batch':>6}{'seconds':>9}{'tok/s':>8}"
          f"{'x one':>7}{'same':>7}"]
lines.append("-" * len(lines[-1]))
for b in builds:
    for dtype, n, sizes in (("bf16", 64, (1, 16, 64)), ("fp32", 16, (1, 16))):
        base = json.load(open(f"{work}/gen-{b}-{dtype}-1.json"))
        base_out = [json.loads(l) for l in open(f"{work}/gen-{b}-{dtype}-1.outputs.jsonl")]
        for bs in sizes:
            r = json.load(open(f"{work}/gen-{b}-{dtype}-{bs}.json"))
            outs = [json.loads(l) for l in open(f"{work}/gen-{b}-{dtype}-{bs}.outputs.jsonl")]
            same = sum(x["output"] == y["output"] for x, y in zip(outs, base_out))
            sp = base["speed"]["generation_seconds"] / r["speed"]["generation_seconds"]
            res["generate"].append({"build": b, "dtype": dtype, "prompts": n, "batch": bs,
                                    "seconds": r["speed"]["generation_seconds"],
                                    "generated_tokens": r["speed"]["generated_tokens"],
                                    "speedup_over_one_at_a_time": sp, "same_outputs": same,
                                    "token_f1": r["metrics"]["token_f1"]})
            lines.append(f"{'lt-' + b + ' ' + dtype:<30}{n:>8}{bs:>6}{r['speed']['generation_seconds']:>9.1f}"
                         f"{r['speed']['generated_tokens_per_s']:>8.1f}{sp:>7.2f}{same:>4}/{n:<2}")
lines += ["", "x hf = loratune / transformers input tokens per second (loading excluded); x one = speed-up over one "
          "prompt at a time;", "same = outputs identical to the one-at-a-time outputs"]
text = "\n".join(lines)
print(text)
txt = out[:-5] + ".txt" if out.endswith(".json") else out + ".txt"
for path, content in ((out, json.dumps(res, indent=2) + "\n"), (txt, text + "\n")):
    with open(path + ".tmp", "w") as f:
        f.write(content)
    os.replace(path + ".tmp", path)
print(f"\nresults: {out} (text: {txt})")
PY
