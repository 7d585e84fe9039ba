#!/usr/bin/env bash
# Load time and forward tokens/s of a SmolLM2-135M-shaped random model (hidden 576, 30 layers, 9 heads,
# 3 KV heads, intermediate 1536, vocab 49152, tied), fp32 (the baseline) vs bf16, measured in one run.
#   scripts/bench-forward.sh [seq=512] [batch=1]
set -euo pipefail
cd "$(dirname "$0")/.."
seq=${1:-512}; batch=${2:-1}
scripts/build.sh --target loratune --target loratune-bench-forward >/dev/null
bin=${LORATUNE_BUILD_DIR:-build}/apps
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$bin/loratune/loratune" init --out "$work/smol" --preset smollm2-135m --vocab-size 49152 \
  --corpus tests/fixtures/text/corpus.txt --tokenizer-vocab 400 --log-level warn >/dev/null
"$bin/loratune/loratune" init --out "$work/smol-bf16" --preset smollm2-135m --vocab-size 49152 --store-dtype bf16 \
  --tokenizer "$work/smol/tokenizer.model" --log-level warn >/dev/null
fp32=$("$bin/bench/loratune-bench-forward" --model "$work/smol" --dtype fp32 --seq "$seq" --batch "$batch")
bf16=$("$bin/bench/loratune-bench-forward" --model "$work/smol-bf16" --dtype bf16 --seq "$seq" --batch "$batch")
echo "fp32: $fp32"
echo "bf16: $bf16"
/usr/bin/python3 - "$fp32" "$bf16" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"SmolLM2-135M shape, batch {a['batch']} x seq {a['seq']}, {a['threads']} threads")
print(f"  load (fp32 file -> fp32): {a['load_seconds']:.3f} s   load (bf16 file -> bf16): {b['load_seconds']:.3f} s")
print(f"  forward fp32: {a['forward_tokens_per_second']:.0f} tok/s ({a['gflops']:.0f} GFLOP/s)")
print(f"  forward bf16: {b['forward_tokens_per_second']:.0f} tok/s ({b['gflops']:.0f} GFLOP/s)")
print(f"  bf16 / fp32 throughput ratio: {b['forward_tokens_per_second']/a['forward_tokens_per_second']:.2f}x")
PY
