"""The baseline of scripts/bench-finetune.sh: LoRA training with the real transformers + PEFT (the reference
venv: scripts/refpy), set up the way their users run it:

- AutoModelForCausalLM.from_pretrained(dir, dtype=torch.bfloat16, attn_implementation="sdpa"), model.train();
- get_peft_model with LoraConfig(r, lora_alpha, lora_dropout, target_modules) (PEFT keeps the adapter weights
  in fp32 on a bf16 base: autocast_adapter_dtype);
- the Trainer's step: loss = model(input_ids, labels=labels, position_ids=...).loss (ForCausalLMLoss),
  loss.backward(), clip_grad_norm_(max_grad_norm), torch.optim.AdamW (weight decay 0, constant LR),
  zero_grad(set_to_none).

The rows are loratune's prepared dataset (--prepared DIR, the train split), taken in order, `batch` at a time,
padded to the longest row of the batch: labels are the ids at trained positions (mask.bin) and -100 elsewhere;
position ids restart at 0 at every packed sample start and are 0 on padding, so that transformers' masking
keeps packed samples apart (find_packed_sequence_indices) exactly as loratune's block-diagonal mask does.

Modes:
  --matmul-peak                      best GFLOP/s of torch.mm on 2048x2048 matrices (bf16 and fp32)
  --model DIR --prepared DATA_DIR ... train; one JSON document on stdout (per-step seconds, losses, peak RSS)
  --forward --model DIR --prepared DATA_DIR ...
                                     loss evaluation as transformers users run it (scripts/bench-eval.sh):
                                     model.eval(), torch.no_grad(), model(input_ids, labels=..., position_ids=...)
                                     .loss per batch of rows, no adapter; per-batch seconds, tokens, loss
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


def read_prepared(path, count):
    """The first `count` rows of a prepared dataset's train split (lib/data/prepared.h) as
    (ids, trained mask, sample starts), rows reused from the start if the split is shorter."""
    import struct
    manifest = json.load(open(f"{path}/manifest.json"))
    width = {2: "H", 4: "I"}[manifest["token_bytes"]]
    split = f"{path}/train"
    tokens = open(f"{split}/tokens.bin", "rb").read()
    mask = open(f"{split}/mask.bin", "rb").read()
    records = open(f"{split}/rows.bin", "rb").read()
    starts = open(f"{split}/starts.bin", "rb").read()
    n = len(records) // 24
    if n == 0:
        sys.exit(f"{path}: the train split has no rows")
    rows = []
    for i in range(count):
        off, length, samples, s_off = struct.unpack_from("<QIIQ", records, 24 * (i % n))
        ids = list(struct.unpack_from(f"<{length}{width}", tokens, off * manifest["token_bytes"]))
        trained = list(mask[off:off + length])
        row_starts = list(struct.unpack_from(f"<{samples}I", starts, 4 * s_off))
        rows.append((ids, trained, row_starts))
    return rows


def make_batch(rows):
    """input_ids, labels, position_ids [B, T] for rows padded to the longest; real token count."""
    T = max(len(ids) for ids, _, _ in rows)
    input_ids, labels, positions = [], [], []
    for ids, trained, starts in rows:
        pad = T - len(ids)
        pos = [0] * len(ids)
        bounds = starts + [len(ids)]
        for b, e in zip(bounds, bounds[1:]):
            pos[b:e] = range(e - b)
        input_ids.append(ids + [0] * pad)
        labels.append([t if m else -100 for t, m in zip(ids, trained)] + [-100] * pad)
        positions.append(pos + [0] * pad)
    as_tensor = lambda x: torch.tensor(x, dtype=torch.int64)
    return as_tensor(input_ids), as_tensor(labels), as_tensor(positions), sum(len(ids) for ids, _, _ in rows)


def train(a):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    dev = torch.device(a.device)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=DTYPES[a.dtype], attn_implementation="sdpa").to(dev)
    targets = "all-linear" if a.targets == "all-linear" else a.targets.split(",")
    cfg = LoraConfig(r=a.r, lora_alpha=a.alpha, lora_dropout=a.dropout, target_modules=targets, bias="none",
                     task_type="CAUSAL_LM")
    model = get_peft_model(model, cfg)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    adapter_dtypes = sorted({str(p.dtype) for p in params})
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
    rows = read_prepared(a.prepared, a.steps * a.batch)
    steps = []
    for s in range(a.steps):
        ids, labels, positions, tokens = make_batch(rows[s * a.batch:(s + 1) * a.batch])  # [B, T]
        ids, labels, positions = ids.to(dev), labels.to(dev), positions.to(dev)
        sync(dev)
        t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=labels, position_ids=positions).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, a.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(dev)
        steps.append({"tokens": tokens, "seconds": time.perf_counter() - t0, "loss": loss.item()})
    out = {"steps": steps, "peak_rss_bytes": peak_rss_bytes(), "device": str(dev), "threads": torch.get_num_threads(),
            "trainable_parameters": sum(p.numel() for p in params), "adapter_dtypes": adapter_dtypes,
            "attn_implementation": model.config._attn_implementation, "torch": torch.__version__}
    if dev.type == "cuda":
        out["peak_gpu_bytes"] = torch.cuda.max_memory_allocated(dev)
        out["gpu"] = torch.cuda.get_device_name(dev)
    return out


def forward(a):
    from transformers import AutoModelForCausalLM

    dev = torch.device(a.device)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=DTYPES[a.dtype], attn_implementation="sdpa").to(dev)
    model.eval()
    rows = read_prepared(a.prepared, a.steps * a.batch)
    batches = []
    with torch.no_grad():
        for s in range(a.steps):
            ids, labels, positions, tokens = make_batch(rows[s * a.batch:(s + 1) * a.batch])
            ids, labels, positions = ids.to(dev), labels.to(dev), positions.to(dev)
            sync(dev)
            t0 = time.perf_counter()
            loss = model(input_ids=ids, labels=labels, position_ids=positions).loss
            sync(dev)
            batches.append({"tokens": tokens, "seconds": time.perf_counter() - t0, "loss": loss.item(),
                            "targets": int((labels[:, 1:] != -100).sum())})
    out = {"batches": batches, "peak_rss_bytes": peak_rss_bytes(), "device": str(dev),
           "threads": torch.get_num_threads(), "attn_implementation": model.config._attn_implementation,
           "torch": torch.__version__}
    if dev.type == "cuda":
        out["peak_gpu_bytes"] = torch.cuda.max_memory_allocated(dev)
    return out


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def matmul_peak(device="cpu", n=2048, seconds=3.0):
    """Best sustained GFLOP/s of torch.mm on [n, n] x [n, n] per dtype (best of 1-second windows)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        n = 8192
    out = {"n": n, "device": str(dev), "threads": torch.get_num_threads(), "torch": torch.__version__}
    for label in ("bf16", "fp32"):
        x = torch.randn(n, n, device=dev).to(DTYPES[label])
        y = torch.randn(n, n, device=dev).to(DTYPES[label])
        torch.mm(x, y)  # warm up (oneDNN primitive creation / cuBLAS handles)
        sync(dev)
        best, end = 0.0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0, reps = time.perf_counter(), 0
            while time.perf_counter() - t0 < seconds / 3:
                torch.mm(x, y)
                reps += 1
            sync(dev)
            best = max(best, 2.0 * n**3 * reps / (time.perf_counter() - t0) / 1e9)
        out[f"{label}_gflops"] = best
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--matmul-peak", action="store_true")
    p.add_argument("--forward", action="store_true", help="loss evaluation (no grad) instead of training")
    p.add_argument("--model")
    p.add_argument("--prepared")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    p.add_argument("--targets", default="all-linear")
    p.add_argument("--r", type=int, default=16)
    p.add_argument("--alpha", type=float, default=32)
    p.add_argument("--dropout", type=float, default=0.05)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.matmul_peak:
        print(json.dumps(matmul_peak(a.device)))
        return
    if not a.model or not a.prepared:
        p.error("--model and --prepared are needed (or --matmul-peak)")
    print(json.dumps(forward(a) if a.forward else train(a)))


if __name__ == "__main__":
    main()
