#!/usr/bin/env bash
# LoRA training throughput and peak memory of loratune vs a PyTorch-eager baseline doing the same work the
# way transformers + PEFT do it (scripts/bench_finetune_baseline.py on Debian's python3-torch, the LibTorch
# loratune links), measured in one run on two random models: "tiny" (preset small: hidden 256, 4 layers,
# vocab 32000, tied) and SmolLM2-135M's shapes (hidden 576, 30 layers, 9 heads, 3 KV heads, intermediate
# 1536, vocab 49152, tied). Both sides: bf16 frozen base, fp32 LoRA r 8 / alpha 16 / dropout 0.05 on
# q,k,v,o_proj, AdamW, clipping at 1.0, constant LR, full 512-token rows of random ids (the same rows).
#
#   scripts/bench-finetune.sh [--quick] [--threads N] [--baseline-blas-threads N|default] [--out RESULTS.json]
#
# Prints a table (tokens/s of the median step after the first two, peak RSS, their ratios, model-FLOPs
# utilisation against the bf16 torch.mm peak measured in the same run) and writes it as text + JSON
# (default: $LORATUNE_BUILD_DIR/bench-finetune.{txt,json}, paths printed). ~3 minutes on 2 idle cores; --quick ~1.
# The baseline runs with OPENBLAS_NUM_THREADS=1 (--baseline-blas-threads), as loratune sets in-process:
# Debian's OpenBLAS otherwise starts its own threads next to LibTorch's OpenMP pool for the fp32 LoRA matmuls
# (pip wheels run MKL inside that pool); `default` leaves it alone (measured: the baseline ~1.7x slower).
# Builds the loratune target first, unless LORATUNE_BIN names a binary to measure.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
blas_threads=1
threads=$(nproc)
build_dir=${LORATUNE_BUILD_DIR:-build}
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --threads) threads=${2:?--threads needs a number}; shift 2 ;;
    --baseline-blas-threads) blas_threads=${2:?--baseline-blas-threads needs a number or default}; shift 2 ;;
    --out) out=${2:?--out needs a file name}; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1'" >&2
       echo "usage: $0 [--quick] [--threads N] [--baseline-blas-threads N|default] [--out RESULTS.json]" >&2; exit 2 ;;
  esac
done
[[ -n "$out" ]] || out="$build_dir/bench-finetune.json"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "error: --threads must be a positive integer, got '$threads'" >&2; exit 2; }
[[ "$blas_threads" =~ ^([1-9][0-9]*|default)$ ]] ||
  { echo "error: --baseline-blas-threads must be a positive integer or 'default', got '$blas_threads'" >&2; exit 2; }

py=/usr/bin/python3
if [[ ! -x /usr/bin/time ]]; then
  echo "error: /usr/bin/time is missing (it measures each run's CPU time)" >&2
  echo "hint: apt-get install time" >&2
  exit 2
fi
if ! "$py" -c 'import torch' 2>/dev/null; then
  echo "error: $py cannot import torch (the baseline runs on Debian's python3-torch)" >&2
  echo "hint: apt-get install python3-torch" >&2
  exit 2
fi

# Shapes: name | init flags | batch | steps (full) | steps (--quick)
seq=512
shapes=("tiny|--preset small --vocab-size 32000|4|16|5"
        "smollm2-135m|--preset smollm2-135m --vocab-size 49152|2|12|4")
(( quick )) && shapes[1]="smollm2-135m|--preset smollm2-135m --vocab-size 49152|1|12|4"
tok_vocab=400  # pieces of the tokenizer trained for the run; row ids are drawn from [3, tok_vocab)
targets=q_proj,k_proj,v_proj,o_proj; r=8; alpha=16; dropout=0.05; lr=2e-4

if [[ -n "${LORATUNE_BIN:-}" ]]; then  # a binary built elsewhere: measured as is
  lt=$LORATUNE_BIN
else
  LORATUNE_BUILD_DIR=$build_dir scripts/build.sh --target loratune >/dev/null
  lt=$build_dir/apps/loratune/loratune
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

busy_jiffies() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
# measured LABEL CMD...: runs CMD and records its wall/CPU time and the machine's busy time meanwhile, so that
# the report can say how much CPU other processes took during the measurement.
measured() {
  local label=$1; shift
  local b0 b1 wall user sys
  b0=$(busy_jiffies)
  /usr/bin/time -f "%e %U %S" -o "$work/time-$label" "$@"
  b1=$(busy_jiffies)
  read -r wall user sys <"$work/time-$label"
  echo "$label $b0 $b1 $wall $user $sys $(getconf CLK_TCK) $(nproc)" >>"$work/cpu.txt"
}
mode=$( ((quick)) && echo quick || echo full )
echo "threads $threads, seq $seq, $mode run; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

echo "measuring the bf16/fp32 torch.mm peak ..." >&2
"$py" scripts/bench_finetune_baseline.py --matmul-peak --threads "$threads" >"$work/peak.json"

"$lt" init --out "$work/tok" --preset tiny --corpus tests/fixtures/text/corpus.txt --tokenizer-vocab "$tok_vocab" \
  --log-level warn >/dev/null
"$py" - "$work/rows.jsonl" "$seq" "$tok_vocab" <<'PY'
import json, random, sys
path, seq, vocab = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(1234)
with open(path, "w") as f:
    for _ in range(64):
        f.write(json.dumps({"input_ids": [rng.randrange(3, vocab) for _ in range(seq)]}) + "\n")
PY

for spec in "${shapes[@]}"; do
  IFS='|' read -r name flags batch steps_full steps_quick <<<"$spec"
  steps=$(( quick ? steps_quick : steps_full ))
  model=$work/$name
  # shellcheck disable=SC2086
  "$lt" init --out "$model" $flags --tokenizer "$work/tok/tokenizer.model" --store-dtype bf16 \
    --log-level warn >/dev/null
  "$lt" prepare "$work/rows.jsonl" --model "$model" --format tokens --seq-len "$seq" --no-pack --val-fraction 0 \
    --out "$work/data-$name" --log-level warn >/dev/null
  echo "$name: loratune finetune, batch $batch, $steps steps ..." >&2
  measured "$name-loratune" "$lt" finetune --model "$model" --data "$work/data-$name" --out "$work/run-$name" \
    --steps "$steps" --batch-size "$batch" --grad-accum 1 --threads "$threads" --dtype bf16 --lr "$lr" \
    --lora-r "$r" --lora-alpha "$alpha" --targets "$targets" --set lora.dropout="$dropout" \
    --set train.max_grad_norm=1.0 --set train.schedule=constant --set train.shuffle=false --json \
    --log-level warn >"$work/loratune-$name.jsonl"
  echo "$name: PyTorch-eager baseline, batch $batch, $steps steps ..." >&2
  blas_env=(); [[ "$blas_threads" == default ]] || blas_env=(env OPENBLAS_NUM_THREADS="$blas_threads")
  if ! measured "$name-baseline" "${blas_env[@]}" "$py" scripts/bench_finetune_baseline.py --model "$model" \
      --data "$work/rows.jsonl" --steps "$steps" --batch "$batch" --seq "$seq" --threads "$threads" --dtype bf16 \
      --targets "$targets" --r "$r" --alpha "$alpha" --dropout "$dropout" --lr "$lr" --max-grad-norm 1.0 \
      >"$work/baseline-$name.json" 2>"$work/baseline-$name.log"; then
    cat "$work/baseline-$name.log" >&2
    echo "error: the baseline failed on $name (its log is above)" >&2
    exit 1
  fi
  cp "$model/config.json" "$work/config-$name.json"
done

mkdir -p "$(dirname "$out")"
"$py" - "$work" "$out" "$seq" "$targets" "$r" "$quick" "$blas_threads" "${shapes[@]}" <<'PY'
import json, os, sys
work, out, seq, targets, r, quick, blas, specs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(","), \
    int(sys.argv[5]), sys.argv[6] == "1", sys.argv[7], sys.argv[8:]
SKIP = 2  # warm-up steps left out of the steady-state rate

def steady(steps):  # [(tokens, seconds)] -> tokens/s of the median step after the first SKIP (robust to a
    rest = sorted(steps[SKIP:] or steps, key=lambda ts: ts[1] / ts[0])  # burst of load from elsewhere)
    tokens, secs = rest[len(rest) // 2]
    return tokens / secs

def others_cpu_share(label):  # share of the machine's CPU that other processes used during a run
    for line in open(f"{work}/cpu.txt"):
        f = line.split()
        if f[0] == label:
            b0, b1, wall, user, sys_, hz, ncpu = int(f[1]), int(f[2]), *map(float, f[3:6]), int(f[6]), int(f[7])
            return max(0.0, ((b1 - b0) / hz - user - sys_) / (wall * ncpu))
    return None

def flops_per_token(c, seq):
    """4 N_frozen + 6 N_lora + 12 L T d_attn: frozen matmul weights do forward (2N) and the activation
    gradient (2N) but no weight gradient; LoRA weights do all three (6N); eager attention computes the full
    T x T scores and P.V (4 T d_attn forward, twice that backward, per layer)."""
    H, I, L, V = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
    hd = c.get("head_dim") or H // c["num_attention_heads"]
    q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    shapes = {"q_proj": (H, q), "k_proj": (H, kv), "v_proj": (H, kv), "o_proj": (q, H),
              "gate_proj": (H, I), "up_proj": (H, I), "down_proj": (I, H)}
    frozen = L * sum(i * o for i, o in shapes.values()) + V * H  # + lm_head (tied or not: one matmul)
    lora = L * sum(r * (shapes[t][0] + shapes[t][1]) for t in targets)
    return 4 * frozen + 6 * lora + 12 * L * seq * q, frozen, lora

peak = json.load(open(f"{work}/peak.json"))
result = {"seq_len": seq, "quick": quick, "threads": peak["threads"], "skip_steps": SKIP,
          "baseline_openblas_threads": blas,
          "matmul_peak_gflops": {"bf16": peak["bf16_gflops"], "fp32": peak["fp32_gflops"], "n": peak["n"]},
          "flops_formula": "4*N_frozen + 6*N_lora + 12*layers*seq*attn_dim per token", "shapes": []}
lines = [f"LoRA fine-tuning, seq {seq}, {peak['threads']} threads, bf16 base + fp32 LoRA (r {r}, "
         f"{','.join(targets)}); torch.mm 2048^2 peak: bf16 {peak['bf16_gflops']:.0f} GFLOP/s, "
         f"fp32 {peak['fp32_gflops']:.0f} GFLOP/s; baseline OpenBLAS threads: {blas}",
         f"tokens/s of the median step among steps {SKIP + 1}..N; MFU = tokens/s x FLOPs/token / bf16 peak, "
         f"FLOPs/token = "
         f"{result['flops_formula']}", ""]
head = f"{'shape':<14}{'batch':>6}{'steps':>6}  {'tok/s lt':>9}{'tok/s base':>11}{'ratio':>7}  " \
       f"{'RSS lt':>9}{'RSS base':>9}{'ratio':>7}  {'MFU lt':>7}{'MFU base':>9}  {'loss@1 lt':>10}{'base':>8}" \
       f"  {'busy':>9}"
lines += [head, "-" * len(head)]
for spec in specs:
    name, _, batch, _, _ = spec.split("|")
    c = json.load(open(f"{work}/config-{name}.json"))
    lt_lines = [json.loads(x) for x in open(f"{work}/loratune-{name}.jsonl") if x.strip()]
    lt_steps = [m for m in lt_lines if "step" in m]
    lt_summary = next(m["summary"] for m in lt_lines if "summary" in m)
    base = json.load(open(f"{work}/baseline-{name}.json"))
    lt_tps = steady([(m["tokens"], m["tokens"] / m["tokens_per_s"]) for m in lt_steps])
    base_tps = steady([(s["tokens"], s["seconds"]) for s in base["steps"]])
    fpt, frozen, lora = flops_per_token(c, seq)
    mfu = lambda tps: tps * fpt / (peak["bf16_gflops"] * 1e9)
    row = {"shape": name, "batch": int(batch), "steps": len(lt_steps), "flops_per_token": fpt,
           "frozen_matmul_params": frozen, "lora_params": lora,
           "loratune": {"tokens_per_s": lt_tps, "peak_rss_bytes": lt_summary["peak_rss_bytes"],
                        "mfu": mfu(lt_tps), "loss_step1": lt_steps[0]["loss"],
                        "step_seconds": [m["tokens"] / m["tokens_per_s"] for m in lt_steps]},
           "baseline": {"tokens_per_s": base_tps, "peak_rss_bytes": base["peak_rss_bytes"], "mfu": mfu(base_tps),
                        "loss_step1": base["steps"][0]["loss"],
                        "step_seconds": [s["seconds"] for s in base["steps"]]},
           "others_cpu_share": {"loratune": others_cpu_share(f"{name}-loratune"),
                                "baseline": others_cpu_share(f"{name}-baseline")},
           "tokens_per_s_ratio": lt_tps / base_tps,
           "peak_rss_ratio": lt_summary["peak_rss_bytes"] / base["peak_rss_bytes"]}
    result["shapes"].append(row)
    L, B = row["loratune"], row["baseline"]
    lines.append(f"{name:<14}{batch:>6}{row['steps']:>6}  {L['tokens_per_s']:>9.0f}{B['tokens_per_s']:>11.0f}"
                 f"{row['tokens_per_s_ratio']:>6.2f}x  {L['peak_rss_bytes'] / 2**20:>6.0f}MiB"
                 f"{B['peak_rss_bytes'] / 2**20:>6.0f}MiB{row['peak_rss_ratio']:>6.2f}x  {L['mfu']:>6.1%}"
                 f"{B['mfu']:>9.1%}  {L['loss_step1']:>10.4f}{B['loss_step1']:>8.4f}"
                 f"  {row['others_cpu_share']['loratune']:>4.0%}/{row['others_cpu_share']['baseline']:<4.0%}")
lines += ["", "(lt = loratune; ratios are loratune / baseline; loss@1 is the first step's loss, ~ln(vocab) at init;",
          " busy = share of the machine's CPU other processes used during the loratune/baseline run)"]
worst = max(max(r["others_cpu_share"].values()) for r in result["shapes"])
if worst > 0.1:
    lines.append(f"WARNING: other processes used up to {worst:.0%} of the CPU during a measurement; "
                 "the figures are disturbed: rerun on an idle machine")
text = "\n".join(lines)
print(text)
txt = out[:-5] + ".txt" if out.endswith(".json") else out + ".txt"
for path, content in ((out, json.dumps(result, indent=2) + "\n"), (txt, text + "\n")):
    with open(path + ".tmp", "w") as f:  # written whole, then renamed into place
        f.write(content)
    os.replace(path + ".tmp", path)
print(f"\nresults: {out} (text: {txt})")
PY
