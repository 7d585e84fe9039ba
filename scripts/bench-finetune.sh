#!/usr/bin/env bash
# LoRA training throughput and peak memory of loratune against the real transformers + PEFT (the reference
# venv's torch 2.x: scripts/bench_finetune_hf.py), measured side by side in one run, for each loratune build
# given (Debian's LibTorch 1.13 in build/, the pip LibTorch 2.x in build-torch2/).
#
# Work (AdamW without weight decay, clipping at 1.0, constant LR, LoRA r 16 / alpha 32 on all linear layers):
#   tiny            random bf16 model, preset small (hidden 256, 4 layers, vocab 32000, tied); seq 512 rows of
#                   random ids, batch 4; dropout 0 and 0.05
#   smollm2-135m    random bf16 model with SmolLM2-135M's shapes (hidden 576, 30 layers, 9 / 3 KV heads,
#                   intermediate 1536, vocab 49152, tied); seq 512, batch 2; dropout 0 and 0.05
#   tinyllama-1.1b  random bf16 model with TinyLlama-1.1B's shapes (hidden 2048, 22 layers, 32 / 4 KV heads,
#                   intermediate 5632, vocab 32000, untied); seq 1024, batch 1; dropout 0.05
#   smollm2-chat    the real SmolLM2-135M-Instruct (the setup fixture's HF directory) on the demo's chat data
#                   (data/legal-chat, the model's chat template, packed into rows of up to 192 tokens, only the
#                   assistant's tokens trained), batch 8 as in configs/demo.json; dropout 0.05
# Random-id rows are the same on every side; for the chat data the baseline reads loratune's prepared rows
# (ids, trained positions, per-sample position ids, so that transformers keeps packed samples apart as
# loratune does). The baseline loads the base with dtype=bfloat16 and attn_implementation="sdpa"; PEFT keeps
# LoRA in fp32, as loratune does. Every side runs with the same thread count.
#
#   scripts/bench-finetune.sh [--quick] [--threads N] [--builds debian,pip] [--shapes a,b] [--profile]
#                             [--out RESULTS.json]
#
# Prints, per shape x dropout x side: tokens/s over the whole run (every step, the first included) and of the
# median step, per-step seconds min / median / max (a stall shows as max >> median), peak RSS, the ratios
# loratune / baseline, and MFU against the bf16 torch.mm peak measured in the same run. --profile adds, for
# smollm2-135m at dropout 0.05 on each build, where the time goes (finetune --profile: operator self time by
# category) with loratune's fused kernels (train.fused_kernels, the default) and without them (plain autograd
# ops and full logits: the code path before them). Writes the table as text + JSON (default
# build/bench-finetune.{txt,json}). Sides are run in turn within each configuration, so a drift of the
# machine's speed affects them alike. About 25 minutes on 2 idle cores (--quick: about 8).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
threads=$(nproc)
builds=debian,pip
shapes_wanted=tiny,smollm2-135m,tinyllama-1.1b,smollm2-chat
profile=0
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --threads) threads=${2:?--threads needs a number}; shift 2 ;;
    --builds) builds=${2:?--builds needs a list such as debian,pip}; shift 2 ;;
    --shapes) shapes_wanted=${2:?--shapes needs a list such as tiny,smollm2-chat}; shift 2 ;;
    --profile) profile=1; shift ;;
    --out) out=${2:?--out needs a file name}; shift 2 ;;
    -h|--help) sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1'" >&2
       echo "usage: $0 [--quick] [--threads N] [--builds debian,pip] [--shapes a,b] [--profile] [--out RESULTS.json]" >&2
       exit 2 ;;
  esac
done
[[ -n "$out" ]] || out="build/bench-finetune.json"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "error: --threads must be a positive integer, got '$threads'" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "error: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }
scripts/refpy -c 'import transformers, peft' 2>/dev/null ||
  { echo "error: the reference venv is missing: run scripts/setup.sh --test" >&2; exit 2; }

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
bench_builds "$builds"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# Shapes: name | model (init flags, or "fixture" = the real SmolLM2-135M-Instruct) | data (random or chat) |
# seq | batch | steps (full) | steps (--quick) | dropouts
all_shapes=("tiny|--preset small --vocab-size 32000|random|512|4|12|4|0 0.05"
            "smollm2-135m|--preset smollm2-135m --vocab-size 49152|random|512|2|10|3|0 0.05"
            "tinyllama-1.1b|--preset tinyllama-1.1b --vocab-size 32000|random|1024|1|6|3|0.05"
            "smollm2-chat|fixture|chat|192|8|12|4|0.05")
shapes=()
IFS=',' read -r -a wanted <<<"$shapes_wanted"
for w in "${wanted[@]}"; do
  found=0
  for spec in "${all_shapes[@]}"; do [[ "${spec%%|*}" == "$w" ]] && { shapes+=("$spec"); found=1; }; done
  ((found)) || { echo "error: --shapes: unknown shape '$w' (tiny, smollm2-135m, tinyllama-1.1b, smollm2-chat)" >&2; exit 2; }
done
fixture=${LORATUNE_CACHE:-$HOME/.cache/loratune}/smollm2-135m-instruct/hf
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
echo "threads $threads, shapes $shapes_wanted, builds $builds, $( ((quick)) && echo quick || echo full ) run; load before:" \
     "$(cut -d' ' -f1-3 /proc/loadavg)" >&2

echo "measuring the bf16/fp32 torch.mm peak ..." >&2
scripts/refpy scripts/bench_finetune_hf.py --matmul-peak --threads "$threads" >"$work/peak.json"

"$lt0" init --out "$work/tok" --preset tiny --corpus tests/fixtures/text/corpus.txt --tokenizer-vocab "$tok_vocab" \
  --log-level warn >/dev/null
# random_rows FILE SEQ: 64 rows of SEQ random ids (fixed seed)
random_rows() {
  scripts/refpy - "$1" "$2" "$tok_vocab" <<'PY'
import json, random, sys
path, seq, vocab = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(1234)
with open(path, "w") as f:
    for _ in range(64):
        f.write(json.dumps({"input_ids": [rng.randrange(3, vocab) for _ in range(seq)]}) + "\n")
PY
}

# lt_finetune LABEL BUILD MODEL DATA RUN_DIR BATCH STEPS DROPOUT [EXTRA...]: one measured loratune run
lt_finetune() {
  local label=$1 b=$2 model=$3 data=$4 run=$5 batch=$6 steps=$7 dropout=$8; shift 8
  measured "$label" "${bins[$b]}" finetune --model "$model" --data "$data" \
    --out "$run" --steps "$steps" --batch-size "$batch" --grad-accum 1 \
    --threads "$threads" --dtype bf16 --lr "$lr" --lora-r "$r" --lora-alpha "$alpha" --targets all-linear \
    --set lora.dropout="$dropout" --set train.weight_decay=0 --set train.max_grad_norm=1.0 \
    --set train.schedule=constant --set train.shuffle=false --set train.eval_every=0 --set train.save_every=0 \
    --json --log-level warn "$@"
}

configs=()
for spec in "${shapes[@]}"; do
  IFS='|' read -r name flags data seq batch steps_full steps_quick dropouts <<<"$spec"
  steps=$(( quick ? steps_quick : steps_full ))
  if [[ "$flags" == fixture ]]; then
    [[ -f "$fixture/model.safetensors" ]] ||
      { echo "error: the SmolLM2-135M-Instruct fixture is missing ($fixture): run scripts/setup.sh --test" >&2; exit 2; }
    model=$fixture
  else
    model=$work/$name
    # shellcheck disable=SC2086
    "$lt0" init --out "$model" $flags --tokenizer "$work/tok/tokenizer.model" --store-dtype bf16 --log-level warn >/dev/null
  fi
  if [[ "$data" == random ]]; then
    random_rows "$work/rows-$name.jsonl" "$seq"
    "$lt0" prepare "$work/rows-$name.jsonl" --model "$model" --format tokens --seq-len "$seq" --no-pack \
      --val-fraction 0 --out "$work/data-$name" --log-level warn >/dev/null
  else
    "$lt0" prepare data/legal-chat/train.jsonl --model "$model" --seq-len "$seq" --val-fraction 0 \
      --out "$work/data-$name" --log-level warn >/dev/null
  fi
  cp "$model/config.json" "$work/config-$name.json"
  for dropout in $dropouts; do
    cfg="$name|$batch|$steps|$dropout|$seq"
    configs+=("$cfg")
    for b in "${build_list[@]}"; do
      echo "$name, dropout $dropout: loratune ($b), batch $batch, $steps steps ..." >&2
      lt_finetune "$name-$dropout-$b" "$b" "$model" "$work/data-$name" "$work/run-$name-$dropout-$b" "$batch" \
        "$steps" "$dropout" >"$work/lt-$name-$dropout-$b.jsonl"
    done
    echo "$name, dropout $dropout: transformers + PEFT, batch $batch, $steps steps ..." >&2
    if ! measured "$name-$dropout-hf" scripts/refpy scripts/bench_finetune_hf.py --model "$model" \
        --prepared "$work/data-$name" --steps "$steps" --batch "$batch" --threads "$threads" \
        --dtype bf16 --targets all-linear --r "$r" --alpha "$alpha" --dropout "$dropout" --lr "$lr" \
        --max-grad-norm 1.0 >"$work/hf-$name-$dropout.json" 2>"$work/hf-$name-$dropout.log"; then
      cat "$work/hf-$name-$dropout.log" >&2
      echo "error: the transformers + PEFT baseline failed on $name (its log is above)" >&2
      exit 1
    fi
  done
  if ((profile)) && [[ "$name" == smollm2-135m ]]; then
    for b in "${build_list[@]}"; do
      for fused in true false; do
        echo "$name, dropout 0.05: profile of loratune ($b), fused kernels $fused ..." >&2
        "${bins[$b]}" finetune --model "$model" --data "$work/data-$name" --out "$work/prof-$b-$fused" \
          --steps "$steps" --batch-size "$batch" --threads "$threads" --dtype bf16 --lr "$lr" --lora-r "$r" \
          --lora-alpha "$alpha" --targets all-linear --set lora.dropout=0.05 --set train.schedule=constant \
          --set train.shuffle=false --set train.fused_kernels=$fused --profile "$work/profile-$b-$fused.json" \
          --log-level warn >/dev/null
      done
    done
  fi
done

mkdir -p "$(dirname "$out")"
scripts/refpy - "$work" "$out" "$profile" "$r" "$quick" "$builds" "${configs[@]}" <<'PY'
import json, os, statistics, sys
work, out, profile, r, quick, builds, configs = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]), \
    sys.argv[5] == "1", sys.argv[6].split(","), sys.argv[7:]

def others_cpu_share(label):  # share of the machine's CPU that other processes used during a run
    for line in open(f"{work}/cpu.txt"):
        f = line.split()
        if f[0] == label:
            b0, b1, wall, user, sys_, hz, ncpu = int(f[1]), int(f[2]), *map(float, f[3:6]), int(f[6]), int(f[7])
            return max(0.0, ((b1 - b0) / hz - user - sys_) / (wall * ncpu))
    return None

def flops_per_token(c, seq):
    """4 N_frozen + 6 N_lora + 6 L T d_attn: frozen matmul weights do forward (2N) and the activation gradient
    (2N) but no weight gradient; LoRA weights do all three (6N); causal attention needs QK^T and PV over the
    lower triangle: 2 T d_attn per token forward (half of the full T x T), twice that backward."""
    H, I, L, V = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
    hd = c.get("head_dim") or H // c["num_attention_heads"]
    q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    shapes = [(H, q), (H, kv), (H, kv), (q, H), (H, I), (H, I), (I, H)]
    frozen = L * sum(i * o for i, o in shapes) + V * H
    lora = L * sum(r * (i + o) for i, o in shapes)
    return 4 * frozen + 6 * lora + 6 * L * seq * q  # an upper bound for packed rows (shorter samples)

def side(steps_s, step_tokens, rss, fpt, peak_gflops, loss1, label):
    med = statistics.median(steps_s)
    whole = sum(step_tokens) / sum(steps_s)
    med_tokens = statistics.median([t / s for t, s in zip(step_tokens, steps_s)])
    return {"tokens_per_s_whole_run": whole, "tokens_per_s_median_step": med_tokens,
            "step_seconds": steps_s, "step_min": min(steps_s), "step_median": med, "step_max": max(steps_s),
            "worst_step_over_median": max(steps_s) / med, "peak_rss_bytes": rss,
            "mfu_whole_run": whole * fpt / (peak_gflops * 1e9), "loss_step1": loss1,
            "others_cpu_share": others_cpu_share(label)}

def fmt_ratio(rt, key):
    return f"{rt[key]:.2f}" if rt else "-"

peak = json.load(open(f"{work}/peak.json"))
res = {"quick": quick, "threads": peak["threads"], "lora_r": r, "targets": "all-linear",
       "matmul_peak_gflops": {"bf16": peak["bf16_gflops"], "fp32": peak["fp32_gflops"], "n": peak["n"],
                              "torch": peak["torch"]},
       "flops_formula": "4*N_frozen + 6*N_lora + 6*layers*seq*attn_dim per token", "rows": []}
lines = [f"LoRA fine-tuning, {peak['threads']} threads, bf16 base + fp32 LoRA r {r} on all linear "
         f"layers; torch.mm 2048^2 peak (torch {peak['torch']}): bf16 {peak['bf16_gflops']:.0f} GFLOP/s, "
         f"fp32 {peak['fp32_gflops']:.0f} GFLOP/s",
         "baseline (hf) = transformers + PEFT, torch " + json.load(open(
             f"{work}/hf-{configs[0].split('|')[0]}-{configs[0].split('|')[3]}.json"))["torch"] +
         ", sdpa; lt-debian = loratune on LibTorch 1.13, lt-pip = loratune on the pip LibTorch 2.x", ""]
head = (f"{'shape':<15}{'seq':>5}{'drop':>5} {'side':<10}{'tok/s run':>10}{'tok/s med':>10}{'x hf':>6}  "
        f"{'step min/med/max s':>19}  {'RSS':>8}{'x hf':>6}  {'MFU':>6}  {'loss@1':>7}  {'busy':>5}")
lines += [head, "-" * len(head)]
for cfg in configs:
    name, batch, steps, dropout, seq = cfg.split("|")
    seq = int(seq)
    c = json.load(open(f"{work}/config-{name}.json"))
    fpt = flops_per_token(c, seq)
    hf = json.load(open(f"{work}/hf-{name}-{dropout}.json"))
    sides = {"hf": side([s["seconds"] for s in hf["steps"]], [s["tokens"] for s in hf["steps"]], hf["peak_rss_bytes"],
                        fpt, peak["bf16_gflops"], hf["steps"][0]["loss"], f"{name}-{dropout}-hf")}
    for b in builds:
        ms = [json.loads(x) for x in open(f"{work}/lt-{name}-{dropout}-{b}.jsonl") if x.strip()]
        st = [m for m in ms if "step" in m]
        summary = next(m["summary"] for m in ms if "summary" in m)
        sides["lt-" + b] = side([m["tokens"] / m["tokens_per_s"] for m in st], [m["tokens"] for m in st],
                                summary["peak_rss_bytes"], fpt, peak["bf16_gflops"], st[0]["loss"],
                                f"{name}-{dropout}-{b}")
    row = {"shape": name, "seq_len": seq, "batch": int(batch), "steps": int(steps), "dropout": float(dropout),
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
            f"{name:<15}{seq:>5}{dropout:>5} {k:<10}{v['tokens_per_s_whole_run']:>10.0f}{v['tokens_per_s_median_step']:>10.0f}"
            f"{fmt_ratio(rt, 'tokens_per_s_whole_run'):>6}  "
            f"{v['step_min']:>6.2f}/{v['step_median']:.2f}/{v['step_max']:<6.2f}  "
            f"{v['peak_rss_bytes'] / 2**20:>5.0f}MiB{fmt_ratio(rt, 'peak_rss'):>6}  "
            f"{v['mfu_whole_run']:>6.1%}  {v['loss_step1']:>7.3f}  {v['others_cpu_share']:>5.0%}")
lines += ["", "tok/s run = all steps (the first included); tok/s med = the median step; x hf = ratio to transformers +"
          " PEFT", "(whole run for tok/s); busy = share of the machine's CPU other processes used meanwhile"]
if profile:
    lines += ["", "where the time goes (smollm2-135m, dropout 0.05, steps 2..; self time by category, share of the "
              "profiled wall time):"]
    for b in builds:
        for fused in ("false", "true"):
            path = f"{work}/profile-{b}-{fused}.json"
            if not os.path.exists(path):
                continue
            p = json.load(open(path))
            res.setdefault("profiles", {})[f"lt-{b}-fused_{fused}"] = p
            step = statistics.median(p["step_seconds"])
            cats = "  ".join(f"{c['name']} {c['seconds'] / p['wall_s']:.0%}" for c in p["categories"]
                             if c["seconds"] / p["wall_s"] >= 0.005)
            lines.append(f"  lt-{b} {'fused' if fused == 'true' else 'plain (before)'}: median step {step:.2f} s, "
                         f"{p['minor_page_faults'] / max(1, p['steps_profiled']):.0f} page faults/step; {cats}, "
                         f"untracked {p['untracked_s'] / p['wall_s']:.0%}")
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
