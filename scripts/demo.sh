#!/usr/bin/env bash
# The quick-start demo: set-up + build, then loratune's main job end to end on the bundled data:
# prepare the legal corpus, measure the base model on held-out legal and general text, LoRA-tune it, measure
# again against the base, export PEFT + GGUF, and answer a legal prompt with the base and the tuned model.
# Outputs go to demo-out/ (DEMO_OUT overrides); the run's HTML report is demo-out/report.html.
set -euo pipefail
cd "$(dirname "$0")/.."
# LibTorch: Debian's 1.13 by default (LORATUNE_TORCH=pip: the pip LibTorch 2.x of the reference venv, which
# scripts/setup.sh --test makes; README "Two LibTorch builds" says when it is worth it).
case "${LORATUNE_TORCH:-debian}" in
  pip) scripts/setup.sh --test; default_dir=build-torch2 ;;
  *) scripts/setup.sh; default_dir=build ;;
esac
scripts/build.sh --target loratune
bin=${LORATUNE_BUILD_DIR:-$default_dir}/apps/loratune/loratune
out=${DEMO_OUT:-demo-out}
steps=${DEMO_STEPS:-}   # tests run a shorter demo
rm -rf "$out"
mkdir -p "$out"
start=$(date +%s)
lt() { "$bin" "$@" --log-level warn; }

echo "== 1. prepare: the legal corpus mixed with general English (replay, so the model keeps its English),"
echo "      held-out legal documents, held-out general English"
lt prepare data/legal/train data/general/train.txt --split-text blank-line --model data/base-model --seq-len 256 \
  --out "$out/legal" | tail -n 4
lt prepare data/legal/heldout --model data/base-model --seq-len 256 --val-fraction 0 --out "$out/legal-heldout" >/dev/null
lt prepare data/general/heldout.txt --model data/base-model --split-text blank-line --seq-len 256 --val-fraction 0 \
  --out "$out/general-heldout" >/dev/null

echo "== 2. finetune: LoRA on every linear layer of the base model (configs/demo.json)"
lt finetune --config configs/demo.json --set "train.data=$out/legal" ${steps:+--steps "$steps"} --out "$out/run"

echo "== 3. eval: tuned vs base on held-out legal text (+ completion prompts) and on held-out general text"
lt eval --run "$out/run" --data "$out/legal-heldout" --split train --prompts data/legal/qa.jsonl -n 6 \
  --compare-base --out "$out/run/eval.json" --json > "$out/eval-legal.json"
lt eval --run "$out/run" --data "$out/general-heldout" --split train --compare-base \
  --out "$out/eval-general.json" --json > /dev/null

echo "== 4. export: PEFT adapter and a GGUF model for llama.cpp / ollama (each reloaded and verified)"
lt export --run "$out/run" --format peft --out "$out/export/peft"
lt export --run "$out/run" --format gguf --dtype f16 --out "$out/export/legal-model.gguf"

echo "== 5. generate: the same legal prompt, base vs tuned (greedy)"
prompt=$' This program is free software; you can redistribute it and/or modify\n it under the terms of the GNU General Public License as published by\n the'
echo "prompt: ...${prompt: -60}"
echo "-- base:";  lt generate --model data/base-model --prompt "$prompt" -n 24
echo "-- tuned:"; lt generate --run "$out/run" --prompt "$prompt" -n 24

lt report "$out/run" -o "$out/report.html" >/dev/null
/usr/bin/env python3 - "$out" "$(( $(date +%s) - start ))" <<'PY'
import json, sys
out, secs = sys.argv[1], sys.argv[2]
legal = json.load(open(f"{out}/run/eval.json"))
general = json.load(open(f"{out}/eval-general.json"))
def get(r, side, key):
    return (r["metrics"] if side == "tuned" else r["base"]["metrics"])[key]
print("\n== summary (demo work: %s s)" % secs)
for name, r in (("held-out legal text", legal), ("held-out general text", general)):
    print(f"  {name:22s} perplexity {get(r, 'base', 'ppl'):8.1f} -> {get(r, 'tuned', 'ppl'):8.1f}")
for m in ("token_f1", "rougeL", "contains"):
    print(f"  legal completions {m:9s} {get(legal, 'base', m):.3f} -> {get(legal, 'tuned', m):.3f}")
print(f"  outputs: {out}/run (adapter, metrics, checkpoints), {out}/export (PEFT, GGUF), {out}/report.html")
PY
