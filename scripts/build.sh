#!/usr/bin/env bash
# Configures and builds loratune (Release, Ninja, all cores). Extra args go to cmake --build,
# e.g. `scripts/build.sh --target loratune`.
#   LORATUNE_TORCH=debian (default)  Debian's LibTorch 1.13 (CPU)            -> build/
#   LORATUNE_TORCH=pip               the LibTorch 2.x inside the reference venv's pip torch (CUDA-enabled
#                                    build, runs on the CPU without a GPU; scripts/setup.sh --test makes
#                                    the venv)                                -> build-torch2/
# LORATUNE_BUILD_DIR overrides the directory; LORATUNE_CMAKE_ARGS adds configure arguments, e.g.
# LORATUNE_CMAKE_ARGS="-DLORATUNE_CUDA=ON" or "-DCMAKE_PREFIX_PATH=/opt/libtorch" for another LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
torch=${LORATUNE_TORCH:-debian}
args=()
case "$torch" in
  debian) build_dir=${LORATUNE_BUILD_DIR:-build} ;;
  pip)
    build_dir=${LORATUNE_BUILD_DIR:-build-torch2}
    # The torch package directory itself is on the prefix path too, so that TorchConfig's find_library(torch)
    # finds its lib/libtorch.so before Debian's /usr/lib/x86_64-linux-gnu/libtorch.so.
    prefix=$(scripts/refpy -c 'import os, torch; print(torch.utils.cmake_prefix_path + ";" + os.path.dirname(torch.__file__))') || {
      echo "build: LORATUNE_TORCH=pip needs the reference venv: run scripts/setup.sh --test" >&2
      exit 1
    }
    args+=("-DCMAKE_PREFIX_PATH=$prefix")
    ;;
  *) echo "build: LORATUNE_TORCH must be debian or pip, not '$torch'" >&2; exit 2 ;;
esac
if [[ ! -f "$build_dir/build.ninja" ]]; then
  # shellcheck disable=SC2086
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${args[@]}" ${LORATUNE_CMAKE_ARGS:-}
fi
cmake --build "$build_dir" -j"$(nproc)" "$@"
