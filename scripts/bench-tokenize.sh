#!/usr/bin/env bash
# Encoding throughput of loratune's tokenizer.json reader (loratune-hftok) against Hugging Face tokenizers,
# both on one thread, on the same corpus (the reference test's, 20k lines), alternating runs; medians of 3.
#   scripts/bench-tokenize.sh [BUILD_DIR] [TOKENIZER_JSON...]
# Default tokenizers: SmolLM2's and every ~/.cache/loratune/tokenizers/*/tokenizer.json.
# HF is timed two ways: encode() one line at a time, and encode_batch() of all lines (RAYON_NUM_THREADS=1).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
tool="$build/apps/tools/loratune-hftok"
[[ -x "$tool" ]] || { echo "bench-tokenize: $tool missing (cmake --build $build --target loratune-hftok)" >&2; exit 2; }
cache=${LORATUNE_CACHE:-$HOME/.cache/loratune}
if [[ $# -gt 0 ]]; then toks=("$@"); else
  toks=("$cache/smollm2-135m-instruct/hf/tokenizer.json" "$cache"/tokenizers/*/tokenizer.json); fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
scripts/refpy tests/reference/test_hf_tokenizers.py --write-corpus "$tmp/corpus.jsonl" --builtin >/dev/null
export RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1

secs() { sed -n 's/.*encode_seconds=\([0-9.]*\).*/\1/p'; }
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
printf '%-28s %10s %10s %10s %8s %8s\n' tokenizer "lt MB/s" "hf1 MB/s" "hfB MB/s" "lt/hf1" "lt/hfB"
for tj in "${toks[@]}"; do
  [[ -f "$tj" ]] || continue
  name=$(basename "$(dirname "$tj")")
  [[ "$name" == hf ]] && name=$(basename "$(dirname "$(dirname "$tj")")")
  lt=() hf1=() hfb=()
  for _ in 1 2 3; do
    "$tool" "$tj" "$tmp/corpus.jsonl" "$tmp/out.jsonl" --ids-only 2>"$tmp/lt.txt" >/dev/null
    lt+=("$(secs < "$tmp/lt.txt")")
    hf1+=("$(scripts/refpy scripts/bench_tokenize_hf.py "$tj" "$tmp/corpus.jsonl" single | secs)")
    hfb+=("$(scripts/refpy scripts/bench_tokenize_hf.py "$tj" "$tmp/corpus.jsonl" batch | secs)")
  done
  bytes=$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' "$tmp/lt.txt")  # UTF-8 bytes of the texts
  l=$(median "${lt[@]}") h=$(median "${hf1[@]}") b=$(median "${hfb[@]}")
  awk -v n="$name" -v B="$bytes" -v l="$l" -v h="$h" -v b="$b" \
    'BEGIN { printf "%-28s %10.2f %10.2f %10.2f %8.2f %8.2f\n", n, B/l/1e6, B/h/1e6, B/b/1e6, h/l, b/l }'
done
echo "(MB of text encoded per second; lt/hf > 1: loratune faster; medians of 3 alternating runs)"
