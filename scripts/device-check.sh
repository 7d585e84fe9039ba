#!/usr/bin/env bash
# The GPU check (../shared/docs/device.md): one prepared script for the H200 machine, which has CUDA, cmake,
# ninja and a Python whose torch 2.x (CUDA) carries LibTorch, transformers and PEFT, but no apt and no network.
#
#   scripts/device-check.sh --prepare-deps   on this machine (apt + network): unpacks the Debian packages the build
#                                            needs beyond the device's stack into .gpu-deps/ (ignored; ~16 MiB),
#                                            to travel with the working tree (device `run` with carry [".gpu-deps"])
#   scripts/device-check.sh [--out DIR] [--shapes llama3.2-1b,mistral-7b] [--steps N]
#                                            on the device: builds build-gpu/ against the device's LibTorch
#                                            (CUDA required), runs the [cuda]-tagged tests, checks loratune's CUDA
#                                            logits against transformers on CUDA (fp32 <= 1e-4, bf16 bounded), and
#                                            benchmarks LoRA training against transformers + PEFT (sdpa, bf16) on
#                                            the shapes: tokens/s and peak GPU memory side by side
#   scripts/device-check.sh --dry-run [--out DIR]
#                                            on a CPU machine: the same steps with the pip LibTorch build
#                                            (build-torch2/), cpu for cuda, a tiny shape at seq 128 and 2 steps,
#                                            so that every stage of the script runs before a GPU is at hand
#
# Results: DIR (default $OUT when set, else build/device-check) gets device-check.json and device-check.txt and
# the logs. Exit status: 0 every stage passed, 1 a stage failed (the .txt names it), 2 usage / missing deps.
# Peak GPU memory is the largest per-process use nvidia-smi reports while the side runs (the CUDA context
# included, alike on both sides); the dry run reports peak RSS instead.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=device
out=${OUT:-build/device-check}
shapes=llama3.2-1b,mistral-7b
steps=8
while [[ $# -gt 0 ]]; do
  case "$1" in
    --prepare-deps) mode=prepare; shift ;;
    --dry-run) mode=dry; shift ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --shapes) shapes=${2:?--shapes needs a list}; shift 2 ;;
    --steps) steps=${2:?--steps needs a number}; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$steps" =~ ^[1-9][0-9]*$ ]] || { echo "error: --steps must be a positive integer, got '$steps'" >&2; exit 2; }
deps=$PWD/.gpu-deps

if [[ $mode == prepare ]]; then
  pkgs=(libsentencepiece0 libsentencepiece-dev libprotobuf-lite32 libpcre2-8-0 libpcre2-dev libpcre2-16-0
        libpcre2-32-0 libpcre2-posix3 libutf8proc2 libutf8proc-dev libcli11-dev nlohmann-json3-dev catch2
        pkgconf pkgconf-bin libpkgconf3)
  rm -rf "$deps.tmp"
  mkdir -p "$deps.tmp/debs" "$deps.tmp/root"
  (cd "$deps.tmp/debs" && apt-get download "${pkgs[@]}") ||
    { echo "error: apt-get download failed (needs Debian's archive)" >&2; exit 2; }
  for f in "$deps.tmp"/debs/*.deb; do dpkg -x "$f" "$deps.tmp/root"; done
  rm -rf "$deps.tmp/debs" "$deps.tmp/root/usr/share/doc" "$deps.tmp/root/usr/share/man"
  # .pc files name prefix=/usr: make them relative to where they lie, so that pkg-config finds the copy.
  find "$deps.tmp/root" -name '*.pc' -print0 | while IFS= read -r -d '' pc; do
    rel=$(realpath --relative-to="$(dirname "$pc")" "$deps.tmp/root/usr")
    sed -i "s|^prefix=/usr\$|prefix=\${pcfiledir}/$rel|" "$pc"
  done
  rm -rf "$deps" && mv "$deps.tmp" "$deps"
  echo "prepared $deps ($(du -sh "$deps" | cut -f1)); on the device: run with carry [\".gpu-deps\"]"
  exit 0
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
log=$out/device-check.log
: >"$log"
failures=()
stage() {  # stage NAME CMD...: runs CMD with its output in the log; records a failure
  local name=$1; shift
  echo "== $name" | tee -a "$log" >&2
  if "$@" >>"$log" 2>&1; then echo "   ok" >&2; else echo "   FAILED (see $log)" >&2; failures+=("$name"); return 1; fi
}

if [[ $mode == dry ]]; then
  device=cpu
  py=(scripts/refpy)
  build_dir=build-torch2
  bin=$build_dir/apps/loratune/loratune
  bench_shapes=tiny
  seq=128 steps=2 batch=2
  stage "build (pip LibTorch, $build_dir)" env LORATUNE_TORCH=pip scripts/build.sh --target loratune \
    --target loratune-logits --target test_lora || true
else
  device=cuda
  py=(python3)
  build_dir=build-gpu
  bin=$build_dir/apps/loratune/loratune
  bench_shapes=$shapes
  seq=2048 batch=1
  command -v nvidia-smi >/dev/null || { echo "error: no nvidia-smi: not a GPU machine (use --dry-run)" >&2; exit 2; }
  [[ -d "$deps/root/usr" ]] || { echo "error: $deps is missing: run --prepare-deps here first and carry it" >&2; exit 2; }
  torch_prefix=$(python3 -c 'import os, torch; print(torch.utils.cmake_prefix_path + ";" + os.path.dirname(torch.__file__))')
  multiarch=$deps/root/usr/lib/x86_64-linux-gnu
  export PKG_CONFIG="$deps/root/usr/bin/pkgconf"
  export PKG_CONFIG_PATH="$multiarch/pkgconfig:$deps/root/usr/share/pkgconfig"
  export LD_LIBRARY_PATH="$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$out/gpu.txt" 2>&1 || true
  stage "configure ($build_dir, CUDA required)" cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DLORATUNE_CUDA=ON "-DCMAKE_PREFIX_PATH=$torch_prefix;$deps/root/usr" -DPKG_CONFIG_EXECUTABLE="$PKG_CONFIG" &&
  stage "build" cmake --build "$build_dir" -j "$(nproc)" --target loratune loratune-logits test_lora || true
fi
[[ -x "$bin" ]] || { echo "error: the build failed: $log" >&2; tail -30 "$log" >&2; exit 1; }

# [cuda]-tagged tests (on a CPU machine they report that no GPU is there and pass without checking).
stage "[cuda] tests" "$build_dir/tests/test_lora" "[cuda]" --reporter compact || true

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$bin" init --out "$work/tok" --preset tiny --corpus tests/fixtures/text/corpus.txt --tokenizer-vocab 400 \
  --log-level warn >/dev/null

# Parity: loratune's logits on the device against transformers' on the same device, per architecture.
parity() {
  local arch=$1 dtype=$2
  local model=$work/parity-$arch
  [[ -d "$model" ]] || "$bin" init --out "$model" --arch "$arch" --preset tiny --init-std 0.1 \
    --tokenizer "$work/tok/tokenizer.model" --log-level warn >/dev/null
  local ids='[[1,17,42,99,5,260,7,301,11,64,3,200],[1,8,8,150,399,2,77,12,90,33,14,6]]'
  "$build_dir/apps/tools/loratune-logits" --model "$model" --ids "$ids" --device "$device" --dtype "$dtype" --out "$work/lt-$arch-$dtype.st" &&
  "${py[@]}" - "$model" "$ids" "$device" "$dtype" "$work/lt-$arch-$dtype.st" <<'PY'
import json, sys
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM
model_dir, ids, device, dtype, lt_path = sys.argv[1:]
dt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dt, attn_implementation="sdpa").to(device).eval()
with torch.no_grad():
    ref = m(torch.tensor(json.loads(ids), device=device)).logits.float().cpu()
got = load_file(lt_path)["logits"]
diff = (got - ref).abs().max().item()
bound = 1e-4 if dtype == "fp32" else 0.1 + 0.05 * ref.abs().max().item()
print(f"{model_dir.rsplit('-', 1)[-1]} {dtype} on {device}: max |diff| {diff:.3g} (bound {bound:.3g})")
sys.exit(0 if diff <= bound else 1)
PY
}
for arch in llama qwen2; do
  for dtype in fp32 bf16; do stage "parity $arch $dtype vs transformers on $device" parity "$arch" "$dtype" || true; done
done

# peak_gpu_mib CMD...: runs CMD while polling nvidia-smi; prints the largest per-process GPU memory (MiB) to fd 3.
peak_gpu() {
  local poll=$work/poll.txt
  : >"$poll"
  if [[ $device == cuda ]]; then
    nvidia-smi --query-compute-apps=used_memory --format=csv,noheader,nounits -lms 200 >"$poll" 2>/dev/null &
    local pid=$!
    local rc=0
    "$@" || rc=$?
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    sort -n "$poll" | tail -n 1 >"$work/peak.txt"
    return $rc
  fi
  "$@"
}

bench_one() {  # bench_one SHAPE: random rows, loratune then transformers + PEFT
  local shape=$1 flags
  case "$shape" in
    tiny) flags="--preset tiny" ;;
    llama3.2-1b) flags="--preset llama3.2-1b --vocab-size 128256" ;;
    mistral-7b) flags="--preset mistral-7b --vocab-size 32000" ;;
    *) echo "unknown shape $shape" >&2; return 1 ;;
  esac
  local model=$work/model-$shape
  # shellcheck disable=SC2086
  "$bin" init --out "$model" $flags --tokenizer "$work/tok/tokenizer.model" --store-dtype bf16 --log-level warn
  "${py[@]}" - "$work/rows-$shape.jsonl" "$seq" <<'PY'
import json, random, sys
rng = random.Random(1234)
with open(sys.argv[1], "w") as f:
    for _ in range(64):
        f.write(json.dumps({"input_ids": [rng.randrange(3, 400) for _ in range(int(sys.argv[2]))]}) + "\n")
PY
  "$bin" prepare "$work/rows-$shape.jsonl" --model "$model" --format tokens --seq-len "$seq" --no-pack \
    --val-fraction 0 --out "$work/data-$shape" --log-level warn
  peak_gpu "$bin" finetune --model "$model" --data "$work/data-$shape" --out "$work/run-$shape" --steps "$steps" \
    --batch-size "$batch" --grad-accum 1 --device "$device" --dtype bf16 --lr 2e-4 --lora-r 16 --lora-alpha 32 \
    --targets all-linear --set lora.dropout=0.05 --set train.weight_decay=0 --set train.max_grad_norm=1.0 \
    --set train.schedule=constant --set train.shuffle=false --set train.eval_every=0 --set train.save_every=0 \
    --json --log-level warn >"$out/lt-$shape.jsonl"
  cp "$work/peak.txt" "$out/lt-$shape.peak" 2>/dev/null || true
  peak_gpu "${py[@]}" scripts/bench_finetune_hf.py --model "$model" --prepared "$work/data-$shape" --steps "$steps" \
    --batch "$batch" --threads "$(nproc)" --dtype bf16 --targets all-linear --r 16 --alpha 32 --dropout 0.05 \
    --lr 2e-4 --max-grad-norm 1.0 --device "$device" >"$out/hf-$shape.json"
  cp "$work/peak.txt" "$out/hf-$shape.peak" 2>/dev/null || true
  rm -rf "$model" "$work/run-$shape"
}
IFS=',' read -r -a shape_list <<<"$bench_shapes"
for s in "${shape_list[@]}"; do stage "benchmark $s, seq $seq, batch $batch, $steps steps on $device" bench_one "$s" || true; done

"${py[@]}" - "$out" "$device" "$bench_shapes" "$seq" "$(IFS=,; echo "${failures[*]:-}")" <<'PY'
import json, os, statistics, sys
out, device, shapes, seq, failed = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4]), sys.argv[5]
res = {"device": device, "seq_len": seq, "failed_stages": [f for f in failed.split(",") if f], "benchmarks": []}
lines = [f"device check on {device}" + (" (dry run)" if device == "cpu" else ""), ""]
if os.path.exists(f"{out}/gpu.txt"):
    lines += [open(f"{out}/gpu.txt").read().strip(), ""]
def peak(path):
    try:
        return float(open(path).read().split()[0]) * 2**20
    except (OSError, IndexError, ValueError):
        return None
for s in shapes:
    try:
        ms = [json.loads(x) for x in open(f"{out}/lt-{s}.jsonl") if x.strip()]
        hf = json.load(open(f"{out}/hf-{s}.json"))
    except (OSError, ValueError):
        lines.append(f"{s}: no results")
        continue
    st = [m for m in ms if "step" in m]
    summary = next(m["summary"] for m in ms if "summary" in m)
    lt_sec = [m["tokens"] / m["tokens_per_s"] for m in st]
    lt_tps = sum(m["tokens"] for m in st) / sum(lt_sec)
    hf_tps = sum(x["tokens"] for x in hf["steps"]) / sum(x["seconds"] for x in hf["steps"])
    lt_mem = peak(f"{out}/lt-{s}.peak") if device != "cpu" else summary["peak_rss_bytes"]
    hf_mem = peak(f"{out}/hf-{s}.peak") if device != "cpu" else hf["peak_rss_bytes"]
    row = {"shape": s, "lt_tokens_per_s": lt_tps, "hf_tokens_per_s": hf_tps, "speedup": lt_tps / hf_tps,
           "lt_step_median_s": statistics.median(lt_sec), "hf_step_median_s": statistics.median(
               [x["seconds"] for x in hf["steps"]]), "lt_peak_bytes": lt_mem, "hf_peak_bytes": hf_mem,
           "memory_ratio": lt_mem / hf_mem if lt_mem and hf_mem else None,
           "memory_kind": "peak RSS" if device == "cpu" else "peak GPU memory (nvidia-smi, per process)"}
    res["benchmarks"].append(row)
    mem = (f"{lt_mem / 2**20:.0f} vs {hf_mem / 2**20:.0f} MiB ({row['memory_ratio']:.2f}x)"
           if row["memory_ratio"] else "memory not measured")
    lines.append(f"{s:<12} seq {seq}: loratune {lt_tps:.0f} tok/s, transformers + PEFT {hf_tps:.0f} tok/s "
                 f"({row['speedup']:.2f}x); {row['memory_kind']} {mem}")
lines += ["", "failed stages: " + (", ".join(res["failed_stages"]) or "none")]
text = "\n".join(lines)
print(text)
json.dump(res, open(f"{out}/device-check.json", "w"), indent=2)
open(f"{out}/device-check.txt", "w").write(text + "\n")
PY
[[ ${#failures[@]} -eq 0 ]]
