#!/usr/bin/env bash
# Installs the Debian 12 packages loratune needs (idempotent; quick when everything is present).
#   scripts/setup.sh           build + run dependencies
#   scripts/setup.sh --test    also what the test suite needs (python3-torch for the reference check,
#                              chromium for the report test, nodejs + npm for the llama.cpp consumer test)
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config ccache
          libtorch-dev libopenblas0-pthread
          libsentencepiece-dev sentencepiece libcli11-dev nlohmann-json3-dev catch2 libgloo-dev)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(python3-torch chromium)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: missing packages: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "setup: not root. Run this, then re-run the script:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup: installed ${missing[*]}"
