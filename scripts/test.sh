#!/usr/bin/env bash
# Set-up + build + the whole test suite, on both LibTorch builds (what CI runs):
#   build/         Debian's LibTorch 1.13 (CPU; the eager attention path)
#   build-torch2/  the LibTorch 2.x of the reference venv's pip torch (CUDA-enabled, run on the CPU here;
#                  scaled_dot_product_attention)
# Each build runs the full CTest suite, reference tests (transformers, PEFT, llama.cpp) included.
# LORATUNE_TEST_TORCH="debian" (or "pip") limits the run to one build. The last line printed sums up both.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
builds=${LORATUNE_TEST_TORCH:-debian pip}
summaries=()
rc=0
for torch in $builds; do
  case "$torch" in
    debian) dir=build; label="LibTorch 1.13 (Debian)" ;;
    pip) dir=build-torch2; label="LibTorch $(scripts/refpy -c 'import torch; print(torch.__version__)') (pip)" ;;
    *) echo "test: LORATUNE_TEST_TORCH takes debian and/or pip, not '$torch'" >&2; exit 2 ;;
  esac
  echo "== $label: build ($dir)"
  t0=$(date +%s)
  LORATUNE_TORCH=$torch LORATUNE_BUILD_DIR=$dir scripts/build.sh
  t1=$(date +%s)
  echo "== $label: tests"
  log=$(mktemp)
  set +e
  ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" 2>&1 | tee "$log"
  this_rc=${PIPESTATUS[0]}
  set -e
  t2=$(date +%s)
  summary=$(grep -E '[0-9]+% tests passed' "$log" | tail -n 1)
  rm -f "$log"
  summaries+=("$label: ${summary:-ctest printed no summary (exit $this_rc)} (build $((t1 - t0)) s, tests $((t2 - t1)) s)")
  [[ $this_rc -eq 0 ]] || rc=$this_rc
done
echo
printf '%s\n' "${summaries[@]}"
if [[ $rc -eq 0 ]]; then
  echo "all builds: tests passed (${#summaries[@]} LibTorch builds)"
else
  echo "some builds: tests failed (see above)"
fi
exit "$rc"
