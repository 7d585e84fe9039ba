#!/usr/bin/env bash
# The README's first quick-start command at reduced size: runs scripts/demo.sh with fewer finetune steps into a
# scratch directory and checks that every stage produced its output and that tuning lowered the held-out legal
# perplexity.  Usage: tests/demo_check.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: demo_check.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
LORATUNE_BUILD_DIR=$build DEMO_OUT=$out/demo DEMO_STEPS=${DEMO_STEPS:-40} bash "$src/scripts/demo.sh" > "$out/log" 2>&1 || {
  cat "$out/log"; echo "demo_check: scripts/demo.sh failed"; exit 1; }
for f in run/adapter/adapter_model.safetensors run/eval.json eval-general.json export/peft/adapter_config.json \
         export/legal-model.gguf report.html; do
  [[ -s "$out/demo/$f" ]] || { cat "$out/log"; echo "demo_check: missing $f"; exit 1; }
done
/usr/bin/env python3 - "$out/demo/run/eval.json" "$out/demo/eval-general.json" <<'PY'
import json, sys
legal, general = (json.load(open(p)) for p in sys.argv[1:3])
lb, lt = legal["base"]["metrics"]["ppl"], legal["metrics"]["ppl"]
gb, gt = general["base"]["metrics"]["ppl"], general["metrics"]["ppl"]
print(f"held-out legal perplexity {lb:.1f} -> {lt:.1f}; held-out general {gb:.1f} -> {gt:.1f}")
# The demo's promises (README): better on legal text, general English no more than 10% worse.
sys.exit(0 if lt < lb and gt <= 1.10 * gb else 1)
PY
grep -q "== summary" "$out/log" || { cat "$out/log"; exit 1; }
echo "demo_check: ok"
