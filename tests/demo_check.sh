#!/usr/bin/env bash
# The README's first quick-start command at reduced size: runs scripts/demo.sh (SmolLM2-135M-Instruct from its
# GGUF) with fewer finetune steps, questions and text batches into a scratch directory, and checks that every
# stage produced its output, that tuning improved the held-out answers and the held-out legal perplexity, that
# general-text perplexity stayed within the README's margin (+10%), and that llama.cpp ran both exports.
# Usage: tests/demo_check.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: demo_check.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
LORATUNE_BUILD_DIR=$build DEMO_OUT=$out/demo DEMO_STEPS=${DEMO_STEPS:-24} DEMO_QUESTIONS=6 DEMO_TEXT_BATCHES=3 \
  bash "$src/scripts/demo.sh" > "$out/log" 2>&1 || { cat "$out/log"; echo "demo_check: scripts/demo.sh failed"; exit 1; }
for f in run/adapter/adapter_model.safetensors eval-questions.json eval-questions.outputs.jsonl eval-legal-text.json \
         eval-general-text.json export/legal-lora.gguf export/legal-merged.gguf llama-cpp.json report.html; do
  [[ -s "$out/demo/$f" ]] || { cat "$out/log"; echo "demo_check: missing $f"; exit 1; }
done
/usr/bin/env python3 - "$out/demo" <<'PY'
import json, sys
d = sys.argv[1]
ev = {k: json.load(open(f"{d}/eval-{k}.json")) for k in ("questions", "legal-text", "general-text")}
def pair(k, m):
    return ev[k]["base"]["metrics"][m], ev[k]["metrics"][m]
qb, qt = pair("questions", "token_f1")
lb, lt = pair("legal-text", "ppl")
gb, gt = pair("general-text", "ppl")
cpp = json.load(open(f"{d}/llama-cpp.json"))
print(f"held-out answers token-F1 {qb:.3f} -> {qt:.3f}; legal perplexity {lb:.2f} -> {lt:.2f}; "
      f"general {gb:.2f} -> {gt:.2f}; llama.cpp answers {len(cpp)}")
ok = qt > qb and lt < lb and gt <= 1.10 * gb and len(cpp) == 3 and all(
    r["llama_cpp_base_plus_lora"] and r["llama_cpp_merged"] for r in cpp)
html = open(f"{d}/report.html", encoding="utf-8").read()
ok = ok and 'id="headline"' in html and 'class="gen"' in html
sys.exit(0 if ok else 1)
PY
grep -q "== summary" "$out/log" || { cat "$out/log"; exit 1; }
echo "demo_check: ok"
