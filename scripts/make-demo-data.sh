#!/usr/bin/env bash
# Rebuilds the bundled demo data under data/ from Debian packages, reproducibly:
#   1. corpora (scripts/make_demo_corpora.py): general English (debian-reference-en, fortunes) and a legal
#      corpus (/usr/share/common-licenses + DEP-5 copyright files), split into train / held-out, plus a
#      licence Q&A set;
#   2. the base model: a SentencePiece tokenizer trained on the general text, a small llama initialised
#      with loratune init, then pretrained on the general text with loratune's full fine-tune mode.
# Takes ~15-30 minutes on 2 cores. The result is committed; the demo itself never rebuilds it.
#   scripts/make-demo-data.sh [OUT=data]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-data}
if [[ $(id -u) -eq 0 ]]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debian-reference-en fortunes >/dev/null
fi
scripts/build.sh --target loratune >/dev/null
bin=${LORATUNE_BUILD_DIR:-build}/apps/loratune/loratune
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

/usr/bin/python3 scripts/make_demo_corpora.py "$out"
"$bin" init --out "$work/init" --hidden 128 --layers 4 --heads 4 --kv-heads 2 --intermediate 384 \
  --max-positions 1024 --tie-embeddings yes --corpus "$out/general/train.txt" --tokenizer-vocab 2048 --seed 1
"$bin" prepare "$out/general/train.txt" --model "$work/init" --split-text blank-line --seq-len 128 \
  --val-fraction 0.02 --out "$work/general"
"$bin" finetune --model "$work/init" --data "$work/general" --out "$work/pre" --full --batch-size 32 \
  --steps "${PRETRAIN_STEPS:-300}" --lr 3e-3 --set train.warmup_steps=15 --set train.min_lr_ratio=0.1 \
  --eval-every 50 --save-every 50 --seed 1
rm -rf "$out/base-model"
cp -r "$work/pre/model" "$out/base-model"
echo "base model: $out/base-model"
