"""The baseline of scripts/bench-finetune.sh: LoRA training with the real transformers + PEFT (the reference
venv: scripts/refpy), set up the way their users run it:

- AutoModelForCausalLM.from_pretrained(dir, dtype=torch.bfloat16, attn_implementation="sdpa"), model.train();
- get_peft_model with LoraConfig(r, lora_alpha, lora_dropout, target_modules) (PEFT keeps the adapter weights
  in fp32 on a bf16 base: autocast_adapter_dtype);
- the Trainer's step: loss = model(input_ids, labels=input_ids).loss (ForCausalLMLoss), loss.backward(),
  clip_grad_norm_(max_grad_norm), torch.optim.AdamW (weight decay 0, constant LR), zero_grad(set_to_none).

Modes:
  --matmul-peak                      best GFLOP/s of torch.mm on 2048x2048 matrices (bf16 and fp32)
  --model DIR --data ROWS.jsonl ...  train; one JSON document on stdout (per-step seconds, losses, peak RSS)
"""
import argparse
import json
import resource
import sys
import time

import torch

DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def read_rows(path, count, seq):
    rows = []
    with open(path) as f:
        for line in f:
            ids = json.loads(line)["input_ids"]
            if len(ids) != seq:
                sys.exit(f"{path}: a row has {len(ids)} ids, expected {seq}")
            rows.append(ids)
            if len(rows) == count:
                break
    if len(rows) < count:
        sys.exit(f"{path}: {len(rows)} rows, {count} needed")
    return rows


def train(a):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=DTYPES[a.dtype], attn_implementation="sdpa")
    targets = "all-linear" if a.targets == "all-linear" else a.targets.split(",")
    cfg = LoraConfig(r=a.r, lora_alpha=a.alpha, lora_dropout=a.dropout, target_modules=targets, bias="none",
                     task_type="CAUSAL_LM")
    model = get_peft_model(model, cfg)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    adapter_dtypes = sorted({str(p.dtype) for p in params})
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
    rows = read_rows(a.data, a.steps * a.batch, a.seq)
    steps = []
    for s in range(a.steps):
        ids = torch.tensor(rows[s * a.batch:(s + 1) * a.batch], dtype=torch.int64)  # [B, T]
        t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, a.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        steps.append({"tokens": a.batch * a.seq, "seconds": time.perf_counter() - t0, "loss": loss.item()})
    return {"steps": steps, "peak_rss_bytes": peak_rss_bytes(), "threads": torch.get_num_threads(),
            "trainable_parameters": sum(p.numel() for p in params), "adapter_dtypes": adapter_dtypes,
            "attn_implementation": model.config._attn_implementation, "torch": torch.__version__}


def matmul_peak(n=2048, seconds=3.0):
    """Best sustained GFLOP/s of torch.mm on [n, n] x [n, n] per dtype (best of 1-second windows)."""
    out = {"n": n, "threads": torch.get_num_threads(), "torch": torch.__version__}
    for label in ("bf16", "fp32"):
        x = torch.randn(n, n).to(DTYPES[label])
        y = torch.randn(n, n).to(DTYPES[label])
        torch.mm(x, y)  # warm up (oneDNN primitive creation)
        best, end = 0.0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0, reps = time.perf_counter(), 0
            while time.perf_counter() - t0 < seconds / 3:
                torch.mm(x, y)
                reps += 1
            best = max(best, 2.0 * n**3 * reps / (time.perf_counter() - t0) / 1e9)
        out[f"{label}_gflops"] = best
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--matmul-peak", action="store_true")
    p.add_argument("--model")
    p.add_argument("--data")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    p.add_argument("--targets", default="all-linear")
    p.add_argument("--r", type=int, default=16)
    p.add_argument("--alpha", type=float, default=32)
    p.add_argument("--dropout", type=float, default=0.05)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.matmul_peak:
        print(json.dumps(matmul_peak()))
        return
    if not a.model or not a.data:
        p.error("--model and --data are needed (or --matmul-peak)")
    print(json.dumps(train(a)))


if __name__ == "__main__":
    main()
