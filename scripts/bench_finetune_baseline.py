#!/usr/bin/python3
"""PyTorch-eager baseline for scripts/bench-finetune.sh: LoRA training the way transformers + PEFT do it.

Run with Debian's /usr/bin/python3 (python3-torch, the LibTorch build loratune links). No transformers or
peft package is needed: the modules below restate their eager code paths.

- transformers' modeling_llama (eager attention): nn.Linear q/k/v/o and gate/up/down, LlamaRMSNorm computed
  in fp32 and cast back, rotary embeddings with rotate_half (cos/sin in fp32, cast to the model dtype),
  GQA through repeat_kv, scores = QK^T / sqrt(head_dim) + causal mask (model dtype, finfo.min above the
  diagonal), softmax in fp32 cast back, tied lm_head; the loss as ForCausalLMLoss: logits upcast to fp32,
  labels = input_ids shifted left by padding with -100, mean cross-entropy (every position of a full row).
- PEFT's LoRA Linear: lora_A / lora_B nn.Linear without bias in fp32 (PEFT upcasts adapters of a bf16
  model), A kaiming-uniform(a=sqrt(5)), B zeros, dropout on the input, scaling alpha / r; x is cast to the
  adapter dtype and the sum cast back to the base layer's dtype.
- transformers' Trainer step: loss.backward(), clip_grad_norm_(1.0), torch.optim.AdamW, zero_grad(set_to_none).

Modes:
  --matmul-peak                      best GFLOP/s of torch.mm on 2048x2048 matrices (bf16 and fp32)
  --model DIR --data ROWS.jsonl ...  train; one JSON document on stdout (per-step times, losses, peak RSS)
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


class LlamaRMSNorm(nn.Module):
    def __init__(self, dim, eps, dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim, dtype=dtype))
        self.variance_epsilon = eps

    def forward(self, hidden_states):  # [B, T, H]
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


class LlamaRotaryEmbedding(nn.Module):
    def __init__(self, head_dim, theta):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    @torch.no_grad()
    def forward(self, x, position_ids):  # position_ids [B, T] -> cos, sin [B, T, hd] in x's dtype
        inv_freq = self.inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
        freqs = (inv_freq @ position_ids[:, None, :].float()).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin):  # q [B, nH, T, hd], k [B, nKV, T, hd], cos/sin [B, T, hd]
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)


def repeat_kv(hidden_states, n_rep):  # [B, nKV, T, hd] -> [B, nKV * n_rep, T, hd]
    batch, kv_heads, slen, head_dim = hidden_states.shape
    if n_rep == 1:
        return hidden_states
    hidden_states = hidden_states[:, :, None, :, :].expand(batch, kv_heads, n_rep, slen, head_dim)
    return hidden_states.reshape(batch, kv_heads * n_rep, slen, head_dim)


class LlamaAttention(nn.Module):
    def __init__(self, c, dtype):
        super().__init__()
        self.num_heads, self.num_kv_heads = c["num_attention_heads"], c["num_key_value_heads"]
        self.head_dim = c.get("head_dim") or c["hidden_size"] // self.num_heads
        self.scaling = self.head_dim**-0.5
        h, bias = c["hidden_size"], c.get("attention_bias", False)
        self.q_proj = nn.Linear(h, self.num_heads * self.head_dim, bias=bias, dtype=dtype)
        self.k_proj = nn.Linear(h, self.num_kv_heads * self.head_dim, bias=bias, dtype=dtype)
        self.v_proj = nn.Linear(h, self.num_kv_heads * self.head_dim, bias=bias, dtype=dtype)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, h, bias=bias, dtype=dtype)

    def forward(self, hidden_states, cos, sin, causal_mask):  # [B, T, H]; mask [B, 1, T, T]
        bsz, q_len, _ = hidden_states.size()
        q = self.q_proj(hidden_states).view(bsz, q_len, -1, self.head_dim).transpose(1, 2)
        k = self.k_proj(hidden_states).view(bsz, q_len, -1, self.head_dim).transpose(1, 2)
        v = self.v_proj(hidden_states).view(bsz, q_len, -1, self.head_dim).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        n_rep = self.num_heads // self.num_kv_heads
        k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)
        attn_weights = torch.matmul(q, k.transpose(2, 3)) * self.scaling  # [B, nH, T, T]
        attn_weights = attn_weights + causal_mask
        attn_weights = F.softmax(attn_weights, dim=-1, dtype=torch.float32).to(q.dtype)
        attn_weights = F.dropout(attn_weights, p=0.0, training=self.training)
        out = torch.matmul(attn_weights, v).transpose(1, 2).contiguous().reshape(bsz, q_len, -1)
        return self.o_proj(out)


class LlamaMLP(nn.Module):
    def __init__(self, c, dtype):
        super().__init__()
        h, i, bias = c["hidden_size"], c["intermediate_size"], c.get("mlp_bias", False)
        self.gate_proj = nn.Linear(h, i, bias=bias, dtype=dtype)
        self.up_proj = nn.Linear(h, i, bias=bias, dtype=dtype)
        self.down_proj = nn.Linear(i, h, bias=bias, dtype=dtype)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, c, dtype):
        super().__init__()
        self.self_attn = LlamaAttention(c, dtype)
        self.mlp = LlamaMLP(c, dtype)
        self.input_layernorm = LlamaRMSNorm(c["hidden_size"], c["rms_norm_eps"], dtype)
        self.post_attention_layernorm = LlamaRMSNorm(c["hidden_size"], c["rms_norm_eps"], dtype)

    def forward(self, hidden_states, cos, sin, causal_mask):
        residual = hidden_states
        hidden_states = residual + self.self_attn(self.input_layernorm(hidden_states), cos, sin, causal_mask)
        residual = hidden_states
        return residual + self.mlp(self.post_attention_layernorm(hidden_states))


class LlamaForCausalLM(nn.Module):
    def __init__(self, c, dtype):
        super().__init__()
        self.vocab_size = c["vocab_size"]
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"], dtype=dtype)
        self.layers = nn.ModuleList(LlamaDecoderLayer(c, dtype) for _ in range(c["num_hidden_layers"]))
        self.norm = LlamaRMSNorm(c["hidden_size"], c["rms_norm_eps"], dtype)
        head_dim = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
        self.rotary_emb = LlamaRotaryEmbedding(head_dim, float(c.get("rope_theta", 10000.0)))
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False, dtype=dtype)
        if c.get("tie_word_embeddings", False):
            self.lm_head.weight = self.embed_tokens.weight

    def causal_mask(self, bsz, seq, dtype):  # [B, 1, T, T]: 0 on and below the diagonal, finfo.min above
        mask = torch.full((seq, seq), torch.finfo(dtype).min, dtype=dtype).triu(diagonal=1)
        return mask[None, None, :, :].expand(bsz, 1, -1, -1).clone()

    def forward(self, input_ids, labels):  # [B, T] both
        bsz, seq = input_ids.shape
        hidden_states = self.embed_tokens(input_ids)
        position_ids = torch.arange(seq).unsqueeze(0).expand(bsz, -1)
        cos, sin = self.rotary_emb(hidden_states, position_ids)
        mask = self.causal_mask(bsz, seq, hidden_states.dtype)
        for layer in self.layers:
            hidden_states = layer(hidden_states, cos, sin, mask)
        logits = self.lm_head(self.norm(hidden_states))  # [B, T, V] in the model dtype
        return self.loss_function(logits, labels)

    def loss_function(self, logits, labels, ignore_index=-100):  # transformers' ForCausalLMLoss
        logits = logits.float()  # [B, T, V] fp32
        labels = F.pad(labels, (0, 1), value=ignore_index)
        shift_labels = labels[..., 1:].contiguous()  # the last position predicts nothing
        return F.cross_entropy(logits.view(-1, self.vocab_size), shift_labels.view(-1), ignore_index=ignore_index)


class LoraLinear(nn.Module):
    """peft.tuners.lora.layer.Linear with one active adapter."""

    def __init__(self, base_layer, r, alpha, dropout):
        super().__init__()
        self.base_layer = base_layer
        self.lora_dropout = nn.Dropout(p=dropout) if dropout > 0 else nn.Identity()
        self.lora_A = nn.Linear(base_layer.in_features, r, bias=False, dtype=torch.float32)
        self.lora_B = nn.Linear(r, base_layer.out_features, bias=False, dtype=torch.float32)
        self.scaling = alpha / r
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    def forward(self, x):
        result = self.base_layer(x)
        torch_result_dtype = result.dtype
        x = x.to(self.lora_A.weight.dtype)
        result = result + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling
        return result.to(torch_result_dtype)


def random_init(model, std):
    """loratune init's scheme (HF initializer_range): norms 1, biases 0, everything else N(0, std)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            elif name.endswith(".bias"):
                p.zero_()
            else:
                p.normal_(0.0, std)


def inject_lora(model, targets, r, alpha, dropout):
    """PEFT get_peft_model: wrap the targeted Linears, freeze everything else; returns the trainable params."""
    for p in model.parameters():
        p.requires_grad_(False)
    for layer in model.layers:
        for parent in (layer.self_attn, layer.mlp):
            for name in targets:
                if hasattr(parent, name) and isinstance(getattr(parent, name), nn.Linear):
                    setattr(parent, name, LoraLinear(getattr(parent, name), r, alpha, dropout))
    return [p for n, p in model.named_parameters() if "lora_" in n]


def read_rows(path, count, seq):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            ids = json.loads(line)["input_ids"]
            if len(ids) != seq:
                sys.exit(f"{path}:{len(rows) + 1}: row has {len(ids)} tokens, expected {seq}")
            rows.append(ids)
    if len(rows) < count:
        sys.exit(f"{path}: {len(rows)} rows, the run needs {count}; write more rows")
    return torch.tensor(rows[:count], dtype=torch.int64)


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def train(a):
    with open(os.path.join(a.model, "config.json"), encoding="utf-8") as f:
        c = json.load(f)
    if c.get("model_type", "llama") not in ("llama", "mistral") or c.get("sliding_window"):
        sys.exit(f"{a.model}: the baseline restates the llama architecture only")
    torch.manual_seed(a.seed)
    dtype = DTYPES[a.dtype]
    model = LlamaForCausalLM(c, dtype)
    random_init(model, a.init_std)
    targets = [t for t in a.targets.split(",") if t]
    params = inject_lora(model, targets, a.r, a.alpha, a.dropout)
    model.train()
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    data = read_rows(a.data, a.steps * a.batch, a.seq)
    steps = []
    for step in range(a.steps):
        t0 = time.perf_counter()
        ids = data[step * a.batch : (step + 1) * a.batch]
        loss = model(ids, ids)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, a.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss_value = loss.item()
        secs = time.perf_counter() - t0
        steps.append({"step": step + 1, "loss": loss_value, "grad_norm": float(grad_norm),
                      "tokens": int(ids.numel()), "seconds": secs})
        print(f"baseline step {step + 1}/{a.steps} loss {loss_value:.4f} {ids.numel() / secs:.0f} tok/s",
              file=sys.stderr, flush=True)
    return {"steps": steps, "peak_rss_bytes": peak_rss_bytes(), "threads": torch.get_num_threads(),
            "trainable_parameters": sum(p.numel() for p in params),
            "parameters": sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n),
            "torch_version": torch.__version__, "dtype": a.dtype}


def matmul_peak(n=2048, seconds=3.0):
    """Best sustained GFLOP/s of torch.mm on [n, n] x [n, n] per dtype (best of 1-second windows)."""
    out = {"n": n, "threads": torch.get_num_threads()}
    for label in ("bf16", "fp32"):
        a = torch.randn(n, n).to(DTYPES[label])
        b = torch.randn(n, n).to(DTYPES[label])
        torch.mm(a, b)  # warm up (oneDNN primitive creation)
        best, end = 0.0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0, reps = time.perf_counter(), 0
            while time.perf_counter() - t0 < seconds / 3:
                torch.mm(a, b)
                reps += 1
            best = max(best, 2.0 * n**3 * reps / (time.perf_counter() - t0) / 1e9)
        out[f"{label}_gflops"] = best
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--matmul-peak", action="store_true", help="measure the torch.mm peak and exit")
    p.add_argument("--model", help="model directory (config.json is read; weights are random, same init)")
    p.add_argument("--data", help="JSONL of {\"input_ids\": [...]} rows of exactly --seq tokens")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--dtype", choices=sorted(DTYPES), default="bf16", help="frozen base weights")
    p.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj")
    p.add_argument("--r", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16.0)
    p.add_argument("--dropout", type=float, default=0.05)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--init-std", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.matmul_peak:
        result = matmul_peak()
    else:
        if not a.model or not a.data:
            p.error("--model and --data are required (or --matmul-peak)")
        result = train(a)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
