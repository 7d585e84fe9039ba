#!/usr/bin/env bash
# Installs the llama.cpp consumer (node-llama-cpp, pinned in package.json / package-lock.json) into DIR with
# npm, once: a later run with the same lock file does nothing.
# Exit codes: 0 installed (or already there), 77 npm is missing or cannot reach the registry (skip),
# anything else: the install failed although the registry answers (a real failure).
set -u
src=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: install.sh DIR}
mkdir -p "$dir"
cp "$src/greedy.mjs" "$dir/"
stamp="$dir/.installed-lock.sha256"
want=$(sha256sum "$src/package-lock.json" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$dir/node_modules/node-llama-cpp" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "npm/node not found (install nodejs and npm)" >&2
  exit 77
fi
cp "$src/package.json" "$src/package-lock.json" "$dir/"
# The prebuilt llama.cpp binaries come as optional npm dependencies; node-llama-cpp's postinstall (which could
# download or compile llama.cpp) is not needed and is skipped.
if (cd "$dir" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --no-audit --no-fund --ignore-scripts >"$dir/npm-install.log" 2>&1); then
  echo "$want" >"$stamp"
  exit 0
fi
if ! timeout 30 npm ping >/dev/null 2>&1; then
  echo "npm cannot reach the registry ($(npm config get registry 2>/dev/null)); see $dir/npm-install.log" >&2
  exit 77
fi
echo "npm ci failed although the registry answers; see $dir/npm-install.log:" >&2
tail -20 "$dir/npm-install.log" >&2
exit 1
