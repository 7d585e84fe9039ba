#!/usr/bin/env bash
# LoRA training throughput and peak memory of loratune against the real transformers + PEFT (the reference
# venv's torch 2.x: scripts/bench_finetune_hf.py), measured side by side in one run, for each loratune build
# given (Debian's LibTorch 1.13 in build/, the pip LibTorch 2.x in build-torch2/).
#
# Work: random models in bf16 (loratune init --store-dtype bf16): "tiny" (preset small: hidden 256, 4 layers,
# vocab 32000, tied) and SmolLM2-135M's shapes (hidden 576, 30 layers, 9 heads / 3 KV heads, intermediate
# 1536, vocab 49152, tied); seq 512 rows of random ids (the same rows on every side); LoRA r 16, alpha 32 on
# all linear layers, with dropout 0 and 0.05; AdamW (no weight decay), clipping at 1.0, constant LR. The
# baseline loads the base with dtype=bfloat16 and attn_implementation="sdpa"; PEFT keeps LoRA in fp32, as
# loratune does. Both sides run with the same thread count.
#
#   scripts/bench-finetune.sh [--quick] [--threads N] [--builds debian,pip] [--out RESULTS.json]
#
# Prints, per shape x dropout x side: tokens/s over the whole run (every step, the first included) and of the
# median step, per-step seconds min / median / max (a stall shows as max >> median), peak RSS, the ratios
# loratune / baseline, and MFU against the bf16 torch.mm peak measured in the same run. Writes the table as
# text + JSON (default build/bench-finetune.{txt,json}). Sides are run in turn within each configuration, so a
# drift of the machine's speed affects them alike. About 10 minutes on 2 idle cores (--quick: about 3).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
threads=$(nproc)
builds=debian,pip
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --threads) threads=${2:?--threads needs a number}; shift 2 ;;
    --builds) builds=${2:?--builds needs a list such as debian,pip}; shift 2 ;;
    --out) out=${2:?--out needs a file name}; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1'" >&2
       echo "usage: $0 [--quick] [--threads N] [--builds debian,pip] [--out RESULTS.json]" >&2; exit 2 ;;
  esac
done
[[ -n "$out" ]] || out="build/bench-finetune.json"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "error: --threads must be a positive integer, got '$threads'" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "error: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }
scripts/refpy -c 'import transformers, peft' 2>/dev/null ||
  { echo "error: the reference venv is missing: run scripts/setup.sh --test" >&2; exit 2; }

declare -A bins
IFS=',' read -r -a build_list <<<"$builds"
for b in "${build_list[@]}"; do
  case "$b" in
    debian) LORATUNE_TORCH=debian scripts/build.sh --target loratune >/dev/null; bins[$b]=build/apps/loratune/loratune ;;
    pip) LORATUNE_TORCH=pip scripts/build.sh --target loratune >/dev/null; bins[$b]=build-torch2/apps/loratune/loratune ;;
    *) echo "error: --builds takes debian and/or pip, not '$b'" >&2; exit 2 ;;
  esac
done
lt0=${bins[${build_list[0]}]}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# Shapes: name | init flags | batch | steps (full) | steps (--quick)
seq=512
shapes=("tiny|--preset small --vocab-size 32000|4|12|4"
        "smollm2-135m|--preset smollm2-135m --vocab-size 49152|2|10|3")
dropouts=(0 0.05)
r=16; alpha=32; lr=2e-4
tok_vocab=400  # pieces of the tokenizer trained for the run; row ids are drawn from [3, tok_vocab)

busy_jiffies() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
# measured LABEL CMD...: runs CMD, records its wall/CPU time and the machine's busy time meanwhile (so that the
# report can say how much CPU other processes took during the measurement).
measured() {
  local label=$1; shift
  local b0 b1 wall user sys
  b0=$(busy_jiffies)
  /usr/bin/time -f "%e %U %S" -o "$work/time-$label" "$@"
  b1=$(busy_jiffies)
  read -r wall user sys <"$work/time-$label"
  echo "$label $b0 $b1 $wall $user $sys $(getconf CLK_TCK) $(nproc)" >>"$work/cpu.txt"
}
echo "threads $threads, seq $seq, builds $builds, $( ((quick)) && echo quick || echo full ) run; load before:" \
     "$(cut -d' ' -f1-3 /proc/loadavg)" >&2

echo "measuring the bf16/fp32 torch.mm peak ..." >&2
scripts/refpy scripts/bench_finetune_hf.py --matmul-peak --threads "$threads" >"$work/peak.json"

"$lt0" init --out "$work/tok" --preset tiny --corpus tests/fixtures/text/corpus.txt --tokenizer-vocab "$tok_vocab" \
  --log-level warn >/dev/null
scripts/refpy - "$work/rows.jsonl" "$seq" "$tok_vocab" <<'PY'
import json, random, sys
path, seq, vocab = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(1234)
with open(path, "w") as f:
    for _ in range(64):
        f.write(json.dumps({"input_ids": [rng.randrange(3, vocab) for _ in range(seq)]}) + "\n")
PY

configs=()
for spec in "${shapes[@]}"; do
  IFS='|' read -r name flags batch steps_full steps_quick <<<"$spec"
  steps=$(( quick ? steps_quick : steps_full ))
  model=$work/$name
  # shellcheck disable=SC2086
  "$lt0" init --out "$model" $flags --tokenizer "$work/tok/tokenizer.model" --store-dtype bf16 --log-level warn >/dev/null
  "$lt0" prepare "$work/rows.jsonl" --model "$model" --format tokens --seq-len "$seq" --no-pack --val-fraction 0 \
    --out "$work/data-$name" --log-level warn >/dev/null
  cp "$model/config.json" "$work/config-$name.json"
  for dropout in "${dropouts[@]}"; do
    cfg="$name|$batch|$steps|$dropout"
    configs+=("$cfg")
    for b in "${build_list[@]}"; do
      echo "$name, dropout $dropout: loratune ($b), batch $batch, $steps steps ..." >&2
      measured "$name-$dropout-$b" "${bins[$b]}" finetune --model "$model" --data "$work/data-$name" \
        --out "$work/run-$name-$dropout-$b" --steps "$steps" --batch-size "$batch" --grad-accum 1 \
        --threads "$threads" --dtype bf16 --lr "$lr" --lora-r "$r" --lora-alpha "$alpha" --targets all-linear \
        --set lora.dropout="$dropout" --set train.weight_decay=0 --set train.max_grad_norm=1.0 \
        --set train.schedule=constant --set train.shuffle=false --json --log-level warn \
        >"$work/lt-$name-$dropout-$b.jsonl"
    done
    echo "$name, dropout $dropout: transformers + PEFT, batch $batch, $steps steps ..." >&2
    if ! measured "$name-$dropout-hf" scripts/refpy scripts/bench_finetune_hf.py --model "$model" \
        --data "$work/rows.jsonl" --steps "$steps" --batch "$batch" --seq "$seq" --threads "$threads" \
        --dtype bf16 --targets all-linear --r "$r" --alpha "$alpha" --dropout "$dropout" --lr "$lr" \
        --max-grad-norm 1.0 >"$work/hf-$name-$dropout.json" 2>"$work/hf-$name-$dropout.log"; then
      cat "$work/hf-$name-$dropout.log" >&2
      echo "error: the transformers + PEFT baseline failed on $name (its log is above)" >&2
      exit 1
    fi
  done
done

mkdir -p "$(dirname "$out")"
scripts/refpy - "$work" "$out" "$seq" "$r" "$quick" "$builds" "${configs[@]}" <<'PY'
import json, os, statistics, sys
work, out, seq, r, quick, builds, configs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    sys.argv[5] == "1", sys.argv[6].split(","), sys.argv[7:]

def others_cpu_share(label):  # share of the machine's CPU that other processes used during a run
    for line in open(f"{work}/cpu.txt"):
        f = line.split()
        if f[0] == label:
            b0, b1, wall, user, sys_, hz, ncpu = int(f[1]), int(f[2]), *map(float, f[3:6]), int(f[6]), int(f[7])
            return max(0.0, ((b1 - b0) / hz - user - sys_) / (wall * ncpu))
    return None

def flops_per_token(c):
    """4 N_frozen + 6 N_lora + 6 L T d_attn: frozen matmul weights do forward (2N) and the activation gradient
    (2N) but no weight gradient; LoRA weights do all three (6N); causal attention needs QK^T and PV over the
    lower triangle: 2 T d_attn per token forward (half of the full T x T), twice that backward."""
    H, I, L, V = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
    hd = c.get("head_dim") or H // c["num_attention_heads"]
    q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    shapes = [(H, q), (H, kv), (H, kv), (q, H), (H, I), (H, I), (I, H)]
    frozen = L * sum(i * o for i, o in shapes) + V * H
    lora = L * sum(r * (i + o) for i, o in shapes)
    return 4 * frozen + 6 * lora + 6 * L * seq * q

def side(steps_s, tokens_per_step, rss, fpt, peak_gflops, loss1, label):
    med = statistics.median(steps_s)
    whole = tokens_per_step * len(steps_s) / sum(steps_s)
    return {"tokens_per_s_whole_run": whole, "tokens_per_s_median_step": tokens_per_step / med,
            "step_seconds": steps_s, "step_min": min(steps_s), "step_median": med, "step_max": max(steps_s),
            "worst_step_over_median": max(steps_s) / med, "peak_rss_bytes": rss,
            "mfu_whole_run": whole * fpt / (peak_gflops * 1e9), "loss_step1": loss1,
            "others_cpu_share": others_cpu_share(label)}

def fmt_ratio(rt, key):
    return f"{rt[key]:.2f}" if rt else "-"

peak = json.load(open(f"{work}/peak.json"))
res = {"seq_len": seq, "quick": quick, "threads": peak["threads"], "lora_r": r, "targets": "all-linear",
       "matmul_peak_gflops": {"bf16": peak["bf16_gflops"], "fp32": peak["fp32_gflops"], "n": peak["n"],
                              "torch": peak["torch"]},
       "flops_formula": "4*N_frozen + 6*N_lora + 6*layers*seq*attn_dim per token", "rows": []}
lines = [f"LoRA fine-tuning, seq {seq}, {peak['threads']} threads, bf16 base + fp32 LoRA r {r} on all linear "
         f"layers; torch.mm 2048^2 peak (torch {peak['torch']}): bf16 {peak['bf16_gflops']:.0f} GFLOP/s, "
         f"fp32 {peak['fp32_gflops']:.0f} GFLOP/s",
         "baseline (hf) = transformers + PEFT, torch " + json.load(open(
             f"{work}/hf-{configs[0].split('|')[0]}-{configs[0].split('|')[3]}.json"))["torch"] +
         ", sdpa; lt-debian = loratune on LibTorch 1.13, lt-pip = loratune on the pip LibTorch 2.x", ""]
head = (f"{'shape':<13}{'drop':>5} {'side':<10}{'tok/s run':>10}{'tok/s med':>10}{'x hf':>6}  "
        f"{'step min/med/max s':>19}  {'RSS':>8}{'x hf':>6}  {'MFU':>6}  {'loss@1':>7}  {'busy':>5}")
lines += [head, "-" * len(head)]
for cfg in configs:
    name, batch, steps, dropout = cfg.split("|")
    c = json.load(open(f"{work}/config-{name}.json"))
    fpt = flops_per_token(c)
    tps = int(batch) * seq
    hf = json.load(open(f"{work}/hf-{name}-{dropout}.json"))
    sides = {"hf": side([s["seconds"] for s in hf["steps"]], tps, hf["peak_rss_bytes"], fpt, peak["bf16_gflops"],
                        hf["steps"][0]["loss"], f"{name}-{dropout}-hf")}
    for b in builds:
        ms = [json.loads(x) for x in open(f"{work}/lt-{name}-{dropout}-{b}.jsonl") if x.strip()]
        st = [m for m in ms if "step" in m]
        summary = next(m["summary"] for m in ms if "summary" in m)
        sides["lt-" + b] = side([m["tokens"] / m["tokens_per_s"] for m in st], tps, summary["peak_rss_bytes"], fpt,
                                peak["bf16_gflops"], st[0]["loss"], f"{name}-{dropout}-{b}")
    row = {"shape": name, "batch": int(batch), "steps": int(steps), "dropout": float(dropout),
           "flops_per_token": fpt, "sides": sides, "ratios": {}}
    for k, v in sides.items():
        if k != "hf":
            row["ratios"][k] = {
                "tokens_per_s_whole_run": v["tokens_per_s_whole_run"] / sides["hf"]["tokens_per_s_whole_run"],
                "tokens_per_s_median_step": v["tokens_per_s_median_step"] / sides["hf"]["tokens_per_s_median_step"],
                "peak_rss": v["peak_rss_bytes"] / sides["hf"]["peak_rss_bytes"]}
    res["rows"].append(row)
    for k, v in sides.items():
        rt = row["ratios"].get(k)
        lines.append(
            f"{name:<13}{dropout:>5} {k:<10}{v['tokens_per_s_whole_run']:>10.0f}{v['tokens_per_s_median_step']:>10.0f}"
            f"{fmt_ratio(rt, 'tokens_per_s_whole_run'):>6}  "
            f"{v['step_min']:>6.2f}/{v['step_median']:.2f}/{v['step_max']:<6.2f}  "
            f"{v['peak_rss_bytes'] / 2**20:>5.0f}MiB{fmt_ratio(rt, 'peak_rss'):>6}  "
            f"{v['mfu_whole_run']:>6.1%}  {v['loss_step1']:>7.3f}  {v['others_cpu_share']:>5.0%}")
lines += ["", "tok/s run = all steps (the first included); tok/s med = the median step; x hf = ratio to transformers +"
          " PEFT", "(whole run for tok/s); busy = share of the machine's CPU other processes used meanwhile"]
worst = max(v["others_cpu_share"] for row in res["rows"] for v in row["sides"].values())
if worst > 0.1:
    lines.append(f"WARNING: other processes used up to {worst:.0%} of the CPU during a measurement; "
                 "the figures are disturbed: rerun on an idle machine")
text = "\n".join(lines)
print(text)
txt = out[:-5] + ".txt" if out.endswith(".json") else out + ".txt"
for path, content in ((out, json.dumps(res, indent=2) + "\n"), (txt, text + "\n")):
    with open(path + ".tmp", "w") as f:
        f.write(content)
    os.replace(path + ".tmp", path)
print(f"\nresults: {out} (text: {txt})")
PY
