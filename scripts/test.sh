#!/usr/bin/env bash
# Set-up + build + the whole test suite (what CI runs). The last line printed is ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/build.sh
build_dir=${LORATUNE_BUILD_DIR:-build}
log=$(mktemp)
set +e
ctest --test-dir "$build_dir" --output-on-failure -j"$(nproc)" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
summary=$(grep -E '[0-9]+% tests passed' "$log" | tail -n 1)
rm -f "$log"
echo
echo "${summary:-ctest printed no summary (exit $rc)}"
exit "$rc"
