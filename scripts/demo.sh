#!/usr/bin/env bash
# The quick-start demo: set-up + build, then create a tiny model (tokenizer trained in-process on a bundled
# text) and generate from it. (The full domain fine-tuning demo arrives with the finetune/eval/export work.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh --target loratune
bin=${LORATUNE_BUILD_DIR:-build}/apps/loratune/loratune
out=${DEMO_OUT:-demo-out}
mkdir -p "$out"

echo "== loratune init: a tiny random llama model with a SentencePiece tokenizer trained on the bundled text"
"$bin" init --out "$out/tiny-model" --force --preset tiny --corpus tests/fixtures/text/corpus.txt \
  --tokenizer-vocab 512 --seed 7

echo "== loratune generate (greedy, KV cache); a random model produces random text"
"$bin" generate --model "$out/tiny-model" --prompt "The licensee shall" --max-new-tokens 24 --device cpu

echo "== the same as JSON"
"$bin" generate --model "$out/tiny-model" --prompt "Copyright" --max-new-tokens 8 --json
echo "demo: model in $out/tiny-model"
