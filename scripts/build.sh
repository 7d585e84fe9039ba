#!/usr/bin/env bash
# Configures and builds loratune into build/ (Release, Ninja, all cores). Extra args go to cmake --build,
# e.g. `scripts/build.sh --target loratune`.
# Another LibTorch (e.g. CUDA): LORATUNE_CMAKE_ARGS="-DCMAKE_PREFIX_PATH=/path/to/libtorch" scripts/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${LORATUNE_BUILD_DIR:-build}
if [[ ! -f "$build_dir/build.ninja" ]]; then
  # shellcheck disable=SC2086
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release ${LORATUNE_CMAKE_ARGS:-}
fi
cmake --build "$build_dir" -j"$(nproc)" "$@"
