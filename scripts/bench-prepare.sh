#!/usr/bin/env bash
# prepare's throughput against plain SentencePiece encoding of the same text (Debian's spm_encode, one
# thread), measured in the same run. Target: prepare >= 80% of plain encoding.
#   scripts/bench-prepare.sh [MB=32]
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-32}
command -v spm_encode >/dev/null || { echo "bench-prepare: spm_encode missing (apt-get install sentencepiece)" >&2; exit 1; }
scripts/build.sh --target loratune >/dev/null
bin=${LORATUNE_BUILD_DIR:-build}/apps/loratune/loratune
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$bin" init --out "$work/m" --corpus tests/fixtures/text/corpus.txt --tokenizer-vocab 1000 --log-level warn >/dev/null
# ~$mb MB of text: the corpus repeated with a line number so that dedup keeps every document.
corpus=$(cat tests/fixtures/text/corpus.txt)
n=$(( mb * 1024 * 1024 / ${#corpus} + 1 ))
for i in $(seq 1 "$n"); do printf '%s\n\n' "copy $i: $corpus"; done > "$work/in.txt"
bytes=$(stat -c %s "$work/in.txt")

now() { date +%s.%N; }
t0=$(now); spm_encode --model "$work/m/tokenizer.model" --output_format=id < "$work/in.txt" > /dev/null; t1=$(now)
"$bin" prepare "$work/in.txt" --model "$work/m" --split-text blank-line --out "$work/p1" --threads 1 --log-level warn >/dev/null; t2=$(now)
"$bin" prepare "$work/in.txt" --model "$work/m" --split-text blank-line --out "$work/pn" --log-level warn >/dev/null; t3=$(now)
/usr/bin/python3 - "$bytes" "$t0" "$t1" "$t2" "$t3" "$(nproc)" <<'PY'
import sys
b, t0, t1, t2, t3, n = int(sys.argv[1]), *map(float, sys.argv[2:6]), int(sys.argv[6])
spm, p1, pn = b / (t1 - t0) / 1e6, b / (t2 - t1) / 1e6, b / (t3 - t2) / 1e6
print(f"input {b/1e6:.1f} MB")
print(f"  spm_encode (plain SentencePiece, 1 thread): {spm:6.2f} MB/s  (baseline)")
print(f"  loratune prepare, 1 thread:                 {p1:6.2f} MB/s  ratio {p1/spm:.2f}")
print(f"  loratune prepare, {n} threads:                {pn:6.2f} MB/s  ratio {pn/spm:.2f}")
PY
