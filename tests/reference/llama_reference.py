#!/usr/bin/env python3
"""Independent PyTorch reference for the causal-LM math loratune implements (llama, mistral, qwen2, qwen3).

Written from Hugging Face transformers' modeling code (see README.md next to this file for the exact
source facts), using only the Python standard library and torch (Debian's python3-torch 1.13
and the reference venv's torch 2.x both work).

Modes:
  make      (re)create the tiny random checkpoints + golden logits under tests/fixtures/models/<name>/
  check     recompute the logits from the files on disk and compare with reference.safetensors
  selftest  cheap math self-checks, plus "mutation" checks showing each fixture detects the bug it targets

Run with the reference venv's python (scripts/refpy), or any python with torch:
  scripts/refpy tests/reference/llama_reference.py make
  scripts/refpy tests/reference/llama_reference.py check
  scripts/refpy tests/reference/llama_reference.py selftest
"""

import argparse
import json
import math
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODELS_DIR = os.path.normpath(os.path.join(HERE, "..", "fixtures", "models"))

# Tolerances.
#   RECOMPUTE_TOL: `check` recomputes the fp64 forward, rounds it to fp32 like the stored goldens and compares;
#                  on the same torch this is bit-exact, elsewhere fp64 summation-order noise could flip an ulp.
#   PARITY_TOL:    what the C++ fp32 model must reach against the goldens (max |diff|); `check` also verifies
#                  that this script's own HF-style fp32 forward reaches it with a wide margin.
#   MUTATION_MIN:  a deliberately wrong variant of the math must move the logits by at least this much,
#                  otherwise the fixture would not catch that bug at PARITY_TOL.
RECOMPUTE_TOL = 1e-5
PARITY_TOL = 1e-4
MUTATION_MIN = 1e-2


# ----------------------------------------------------------------------------------------------------------
# safetensors (huggingface/safetensors: safetensors/src/tensor.rs)
#   u64 little-endian N, N bytes of JSON header, data buffer. Header entries:
#   "name": {"dtype", "shape", "data_offsets": [begin, end)} relative to the data buffer; optional
#   "__metadata__" (str -> str). Writer: compact JSON padded with spaces to a multiple of 8, tensors back to
#   back. Little-endian, row-major.
# ----------------------------------------------------------------------------------------------------------

# dtype name -> (torch dtype, struct format char, element size)
_ST_DTYPES = {
    "F64": (torch.float64, "d", 8),
    "F32": (torch.float32, "f", 4),
    "F16": (torch.float16, "e", 2),
    "I64": (torch.int64, "q", 8),
    "I32": (torch.int32, "i", 4),
    "I16": (torch.int16, "h", 2),
    "I8": (torch.int8, "b", 1),
    "U8": (torch.uint8, "B", 1),
}
_TORCH_TO_ST = {v[0]: k for k, v in _ST_DTYPES.items()}


def write_safetensors(path, tensors, metadata=None):
    """Writes `tensors` (name -> torch.Tensor) in name order, back to back, like the reference writer."""
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        st = _TORCH_TO_ST[t.dtype]
        _, fmt, size = _ST_DTYPES[st]
        values = t.reshape(-1).tolist()
        blob = struct.pack("<%d%s" % (len(values), fmt), *values)
        assert len(blob) == t.numel() * size
        header[name] = {"dtype": st, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    """Returns ({name: tensor}, metadata). Applies the reference reader's validity rules."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("%s: file shorter than 8 bytes" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if n > 100_000_000 or 8 + n > len(data):
        raise ValueError("%s: bad header length %d" % (path, n))
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", None)
    buf = data[8 + n:]
    entries = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    expect = 0
    out = {}
    for name, e in entries:
        begin, end = e["data_offsets"]
        if begin != expect or end < begin:
            raise ValueError("%s: tensor %s has offsets [%d,%d), expected begin %d" % (path, name, begin, end, expect))
        tdtype, fmt, size = _ST_DTYPES[e["dtype"]]
        numel = 1
        for d in e["shape"]:
            numel *= d
        if end - begin != numel * size:
            raise ValueError("%s: tensor %s byte size mismatch" % (path, name))
        values = struct.unpack("<%d%s" % (numel, fmt), buf[begin:end])
        out[name] = torch.tensor(values, dtype=tdtype).reshape(e["shape"])
        expect = end
    if expect != len(buf):
        raise ValueError("%s: %d trailing bytes after the last tensor" % (path, len(buf) - expect))
    return out, metadata


# ----------------------------------------------------------------------------------------------------------
# config.json -> hyper-parameters, read the way transformers reads them
# ----------------------------------------------------------------------------------------------------------

class HParams:
    pass


def parse_config(cfg):
    mt = cfg.get("model_type")
    if mt not in ("llama", "mistral", "qwen2", "qwen3"):
        raise ValueError("unsupported model_type %r" % mt)
    if cfg.get("hidden_act", "silu") != "silu":
        raise ValueError("only hidden_act=silu is implemented")
    hp = HParams()
    hp.model_type = mt
    hp.vocab = cfg["vocab_size"]
    hp.hidden = cfg["hidden_size"]
    hp.inter = cfg["intermediate_size"]
    hp.layers = cfg["num_hidden_layers"]
    hp.heads = cfg["num_attention_heads"]
    # configuration_llama.py: `if num_key_value_heads is None: num_key_value_heads = num_attention_heads`
    hp.kv_heads = cfg.get("num_key_value_heads") or hp.heads
    # modeling_llama.py: `getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads`
    hp.head_dim = cfg.get("head_dim") or hp.hidden // hp.heads
    assert hp.heads % hp.kv_heads == 0
    hp.eps = float(cfg.get("rms_norm_eps", 1e-6))
    hp.tie = bool(cfg.get("tie_word_embeddings", False))

    # RoPE. transformers v5 writes `rope_parameters` {rope_theta, rope_type, factor, ...}; v4 writes top-level
    # rope_theta (default 10000) plus optional rope_scaling {"rope_type" (BC: "type"), factor, ...}.
    rp = cfg.get("rope_parameters")
    if rp is not None:
        theta = rp.get("rope_theta", cfg.get("rope_theta", 10000.0))
        scaling = dict(rp)
    else:
        theta = cfg.get("rope_theta", 10000.0)
        scaling = dict(cfg.get("rope_scaling") or {})
    hp.rope_theta = float(theta)
    hp.rope_type = scaling.get("rope_type", scaling.get("type", "default"))
    hp.rope_scaling = scaling
    if hp.rope_type not in ("default", "linear", "llama3"):
        raise ValueError("rope_type %r not implemented" % hp.rope_type)

    # Biases (modeling_llama.py / modeling_mistral.py / modeling_qwen2.py / modeling_qwen3.py):
    if mt == "llama":
        hp.qkv_bias = hp.o_bias = bool(cfg.get("attention_bias", False))
        hp.mlp_bias = bool(cfg.get("mlp_bias", False))
    elif mt == "mistral":            # MistralAttention/MistralMLP: bias=False, there is no config key
        hp.qkv_bias = hp.o_bias = hp.mlp_bias = False
    elif mt == "qwen2":              # Qwen2Attention: q/k/v bias=True, o bias=False, whatever the config says
        hp.qkv_bias, hp.o_bias, hp.mlp_bias = True, False, False
    else:                            # Qwen3Attention: all four bias=config.attention_bias; MLP no bias
        hp.qkv_bias = hp.o_bias = bool(cfg.get("attention_bias", False))
        hp.mlp_bias = False
    hp.qk_norm = mt == "qwen3"

    # Per-layer sliding window (None = full causal attention).
    #   mistral: every layer, when config.sliding_window is not None (modeling_mistral.py: MistralModel uses
    #            create_sliding_window_causal_mask iff config.sliding_window is not None).
    #   qwen2/qwen3: configuration_qwen2.py / configuration_qwen3.py build layer_types:
    #            "sliding_attention" iff sliding_window is not None and use_sliding_window and i >= max_window_layers
    #            (an explicit layer_types list wins).
    #   llama: never.
    sw = cfg.get("sliding_window")
    hp.windows = [None] * hp.layers
    if mt == "mistral":
        if sw is not None:
            hp.windows = [int(sw)] * hp.layers
    elif mt in ("qwen2", "qwen3"):
        lt = cfg.get("layer_types")
        if lt is None:
            use = bool(cfg.get("use_sliding_window", False))
            mwl = cfg.get("max_window_layers", 28)
            lt = ["sliding_attention" if (sw is not None and use and i >= mwl) else "full_attention"
                  for i in range(hp.layers)]
        hp.windows = [int(sw) if t == "sliding_attention" else None for t in lt]
    return hp


def rope_inv_freq(hp, ablate=()):
    """modeling_rope_utils.py: _compute_default_rope_parameters / _compute_linear_scaling_rope_parameters /
    _compute_llama3_parameters, computed in float64. Returns inv_freq [head_dim/2]."""
    dim = hp.head_dim
    if "rope_dim_hidden_over_heads" in ablate:   # the pre-4.45 transformers behaviour, wrong with explicit head_dim
        dim = hp.hidden // hp.heads
    theta = 10000.0 if "theta_default" in ablate else hp.rope_theta
    inv = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64).to(torch.float64) / dim))
    if "rope_dim_hidden_over_heads" in ablate:   # keep the shapes usable: pad / cut to head_dim/2
        n = hp.head_dim // 2
        inv = torch.cat([inv, inv[-1:].repeat(max(0, n - inv.numel()))])[:n]
    rt = "default" if "no_rope_scaling" in ablate else hp.rope_type
    s = hp.rope_scaling
    if rt == "linear":
        inv = inv / float(s["factor"])
    elif rt == "llama3":
        inv = llama3_scale(inv, float(s["factor"]), float(s["low_freq_factor"]), float(s["high_freq_factor"]),
                           float(s["original_max_position_embeddings"]))
    return inv


def llama3_scale(inv, factor, low, high, orig):
    """wavelen = 2*pi/inv; wavelen < orig/high: keep; wavelen > orig/low: inv/factor;
    otherwise s = (orig/wavelen - low)/(high - low), inv' = (1-s)*inv/factor + s*inv."""
    wavelen = 2 * math.pi / inv
    low_wavelen = orig / low
    high_wavelen = orig / high
    scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
    smooth = (orig / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return torch.where(medium, smoothed, scaled)


def llama3_branches(inv, low, high, orig):
    """Which branch each frequency takes: 'keep' / 'scale' / 'smooth', and the relative distance of each
    wavelength to the nearest branch boundary (to make sure fp32 vs fp64 cannot flip a branch)."""
    out = []
    for v in inv.tolist():
        w = 2 * math.pi / v
        lo, hi = orig / low, orig / high
        b = "keep" if w < hi else ("scale" if w > lo else "smooth")
        margin = min(abs(w - lo) / lo, abs(w - hi) / hi)
        out.append((b, margin))
    return out


# ----------------------------------------------------------------------------------------------------------
# forward
# ----------------------------------------------------------------------------------------------------------

def _acc(dtype):
    # HF upcasts RMSNorm and softmax to fp32; when the whole model runs in fp64 we keep fp64 (the reference is
    # meant to be the more exact side; HF itself would round those two steps through fp32 here).
    return torch.float64 if dtype == torch.float64 else torch.float32


def rms_norm(x, w, eps):
    """LlamaRMSNorm: x * rsqrt(mean(x^2, -1) + eps) computed upcast, cast back to x.dtype, then * weight."""
    xf = x.to(_acc(x.dtype))
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return w * xf.to(x.dtype)


def rotate_half(x):
    """Pairs element i with i + d/2: (x1, x2) -> (-x2, x1)."""
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def apply_rope(x, cos, sin, interleaved=False):
    if interleaved:  # GPT-J / Meta-checkpoint convention, i.e. the wrong one for HF-layout weights (ablation only)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        c, s = cos[..., : x.shape[-1] // 2], sin[..., : x.shape[-1] // 2]
        return torch.stack((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1).flatten(-2)
    return x * cos + rotate_half(x) * sin


def linear(x, w, b=None):
    y = x @ w.t()
    return y if b is None else y + b


def attention_allowed(T, window, ablate=()):
    """Boolean [T, T]: may query i attend to key j.
    masking_utils.py (transformers >= 4.53): causal_mask_function: kv_idx <= q_idx;
    sliding_window_overlay(sliding_window): kv_idx > q_idx - sliding_window.
    So a query at position i sees keys j with i - window < j <= i: `window` keys including itself."""
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    allowed = j <= i
    if window is not None and "no_sliding" not in ablate:
        w = window + 1 if "window_plus_one" in ablate else window
        allowed = allowed & (j > i - w)
    return allowed


def forward(hp, weights, input_ids, dtype=torch.float64, ablate=()):
    """Logits [B, T, V] in `dtype`, positions 0..T-1, no padding."""
    W = {k: v.to(dtype) for k, v in weights.items()}
    B, T = input_ids.shape
    nH, nKV, hd = hp.heads, hp.kv_heads, hp.head_dim

    # RoPE tables (LlamaRotaryEmbedding.forward): freqs = pos * inv_freq; emb = cat(freqs, freqs); cos/sin.
    inv = rope_inv_freq(hp, ablate).to(dtype)
    pos = torch.arange(T, dtype=dtype)
    freqs = pos[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()                       # [T, hd]
    interleaved = "rope_interleaved" in ablate
    eps = 1e-6 if "eps_default" in ablate else hp.eps

    x = W["model.embed_tokens.weight"][input_ids]          # [B, T, H]
    for l in range(hp.layers):
        p = "model.layers.%d." % l
        bias = (lambda n: W.get(p + n)) if "no_bias" not in ablate else (lambda n: None)

        # --- self attention ---
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = linear(h, W[p + "self_attn.q_proj.weight"], bias("self_attn.q_proj.bias")).view(B, T, nH, hd)
        k = linear(h, W[p + "self_attn.k_proj.weight"], bias("self_attn.k_proj.bias")).view(B, T, nKV, hd)
        v = linear(h, W[p + "self_attn.v_proj.weight"], bias("self_attn.v_proj.bias")).view(B, T, nKV, hd)
        qk_norm_late = "qk_norm_after_rope" in ablate
        if hp.qk_norm and not qk_norm_late:   # Qwen3: per-head RMSNorm over head_dim, before RoPE
            q = rms_norm(q, W[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, W[p + "self_attn.k_norm.weight"], eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)   # [B, heads, T, hd]
        if "no_rope" not in ablate:
            q = apply_rope(q, cos, sin, interleaved)
            k = apply_rope(k, cos, sin, interleaved)
        if hp.qk_norm and qk_norm_late:
            q = rms_norm(q, W[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, W[p + "self_attn.k_norm.weight"], eps)
        # repeat_kv: kv head g serves query heads g*n_rep .. g*n_rep + n_rep - 1
        n_rep = nH // nKV
        if "gqa_tile" in ablate:
            k, v = k.repeat(1, n_rep, 1, 1), v.repeat(1, n_rep, 1, 1)
        else:
            k, v = k.repeat_interleave(n_rep, dim=1), v.repeat_interleave(n_rep, dim=1)
        scores = (q @ k.transpose(-1, -2)) * (hd ** -0.5)   # [B, nH, T, T]
        allowed = attention_allowed(T, hp.windows[l], ablate)
        scores = scores.masked_fill(~allowed, float("-inf"))
        probs = torch.softmax(scores.to(_acc(dtype)), dim=-1).to(dtype)
        o = (probs @ v).transpose(1, 2).reshape(B, T, nH * hd)
        x = x + linear(o, W[p + "self_attn.o_proj.weight"], bias("self_attn.o_proj.bias"))

        # --- MLP: down(silu(gate(x)) * up(x)) ---
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = linear(h, W[p + "mlp.gate_proj.weight"], bias("mlp.gate_proj.bias"))
        u = linear(h, W[p + "mlp.up_proj.weight"], bias("mlp.up_proj.bias"))
        x = x + linear(torch.nn.functional.silu(g) * u, W[p + "mlp.down_proj.weight"], bias("mlp.down_proj.bias"))

    x = rms_norm(x, W["model.norm.weight"], eps)
    # tie_word_embeddings: transformers ties lm_head to embed_tokens (the embedding matrix is the output
    # projection; tied checkpoints are saved without lm_head.weight).
    if hp.tie:
        head = W["model.embed_tokens.weight"]
    elif "lm_head.weight" in W:
        head = W["lm_head.weight"]
    else:
        raise ValueError("lm_head.weight missing and tie_word_embeddings is false")
    return x @ head.t()


def expected_tensors(hp):
    """name -> shape of every tensor a checkpoint with these hparams must hold (and nothing else)."""
    H, I, V, hd = hp.hidden, hp.inter, hp.vocab, hp.head_dim
    qd, kvd = hp.heads * hd, hp.kv_heads * hd
    t = {"model.embed_tokens.weight": [V, H], "model.norm.weight": [H]}
    if not hp.tie:
        t["lm_head.weight"] = [V, H]
    for l in range(hp.layers):
        p = "model.layers.%d." % l
        t[p + "input_layernorm.weight"] = [H]
        t[p + "post_attention_layernorm.weight"] = [H]
        t[p + "self_attn.q_proj.weight"] = [qd, H]
        t[p + "self_attn.k_proj.weight"] = [kvd, H]
        t[p + "self_attn.v_proj.weight"] = [kvd, H]
        t[p + "self_attn.o_proj.weight"] = [H, qd]
        if hp.qkv_bias:
            t[p + "self_attn.q_proj.bias"] = [qd]
            t[p + "self_attn.k_proj.bias"] = [kvd]
            t[p + "self_attn.v_proj.bias"] = [kvd]
        if hp.o_bias:
            t[p + "self_attn.o_proj.bias"] = [H]
        if hp.qk_norm:
            t[p + "self_attn.q_norm.weight"] = [hd]
            t[p + "self_attn.k_norm.weight"] = [hd]
        t[p + "mlp.gate_proj.weight"] = [I, H]
        t[p + "mlp.up_proj.weight"] = [I, H]
        t[p + "mlp.down_proj.weight"] = [H, I]
        if hp.mlp_bias:
            t[p + "mlp.gate_proj.bias"] = [I]
            t[p + "mlp.up_proj.bias"] = [I]
            t[p + "mlp.down_proj.bias"] = [H]
    return t


# ----------------------------------------------------------------------------------------------------------
# fixtures
# ----------------------------------------------------------------------------------------------------------

def _llama_cfg(**kw):
    c = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
        "hidden_act": "silu", "initializer_range": 0.02, "max_position_embeddings": 128, "mlp_bias": False,
        "num_hidden_layers": 2, "pretraining_tp": 1, "rms_norm_eps": 1e-5, "rope_scaling": None,
        "rope_theta": 10000.0, "tie_word_embeddings": False, "torch_dtype": "float32",
        "transformers_version": "4.46.3", "use_cache": True,
    }
    c.update(kw)
    return c


FIXTURES = {
    # GQA 4/2, explicit head_dim 16 != hidden/heads = 12 (q dim 64 != hidden 48); untied; default rope.
    # rms_norm_eps deliberately large (1e-2) so that reading it wrongly (e.g. hard-coding 1e-6) is caught.
    "llama_gqa_headdim": dict(seed=101, T=9, cfg=_llama_cfg(
        vocab_size=96, hidden_size=48, intermediate_size=32, num_attention_heads=4, num_key_value_heads=2,
        head_dim=16, rms_norm_eps=1e-2)),
    # llama3 rope scaling, theta 500000, MQA (1 kv head), head_dim implicit (32/2 = 16).
    # original_max_position_embeddings is 64, not 16: the shortest RoPE wavelength is 2*pi = 6.28 > 16/4, so with
    # 16 the "keep" branch could never occur. With 64: thresholds 64/4 = 16 and 64/1 = 64; wavelengths
    # 2*pi*500000^(2i/16) = 6.3 (keep), 32.4 (smooth), 167, ... (scale).
    # eos_token_id is a list, like the Llama 3.x configs.
    "llama3_rope": dict(seed=202, T=9, cfg=_llama_cfg(
        vocab_size=128, hidden_size=32, intermediate_size=64, num_attention_heads=2, num_key_value_heads=1,
        rope_theta=500000.0, max_position_embeddings=512, eos_token_id=[2, 3],
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 64})),
    # transformers v5 style: `rope_parameters` (linear x2) instead of rope_theta/rope_scaling, `dtype` instead of
    # torch_dtype; tied embeddings (no lm_head.weight); num_key_value_heads null -> MHA; head_dim absent.
    "llama_tied_linear": dict(seed=303, T=9, cfg={
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
        "dtype": "float32", "hidden_act": "silu", "hidden_size": 32, "initializer_range": 0.02,
        "intermediate_size": 64, "max_position_embeddings": 128, "mlp_bias": False, "num_attention_heads": 4,
        "num_hidden_layers": 2, "num_key_value_heads": None, "pretraining_tp": 1, "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0},
        "tie_word_embeddings": True, "transformers_version": "5.0.0", "use_cache": True, "vocab_size": 128}),
    # Mistral: sliding_window 4 < T = 10 on every layer; GQA 4/2; head_dim null -> 8.
    "mistral_sliding": dict(seed=404, T=10, cfg={
        "architectures": ["MistralForCausalLM"], "model_type": "mistral",
        "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2, "head_dim": None, "hidden_act": "silu",
        "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 64, "max_position_embeddings": 128,
        "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "sliding_window": 4, "tie_word_embeddings": False, "torch_dtype": "float32",
        "transformers_version": "4.46.3", "use_cache": True, "vocab_size": 112}),
    # Qwen2: q/k/v biases (no o bias) although the file says attention_bias false; GQA 4/2; theta 1e6; tied.
    # Traps: sliding_window 4 < T but use_sliding_window false -> full attention on every layer.
    "qwen2": dict(seed=505, T=9, cfg={
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
        "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
        "hidden_act": "silu", "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 64,
        "max_position_embeddings": 128, "max_window_layers": 1, "num_attention_heads": 4,
        "num_hidden_layers": 2, "num_key_value_heads": 2, "rms_norm_eps": 1e-6, "rope_scaling": None,
        "rope_theta": 1000000.0, "sliding_window": 4, "tie_word_embeddings": True, "torch_dtype": "float32",
        "transformers_version": "4.46.3", "use_cache": True, "use_sliding_window": False, "vocab_size": 128}),
    # Qwen3: per-head q_norm/k_norm; explicit head_dim 16 (q dim 64 != hidden 32); attention_bias false; untied.
    "qwen3": dict(seed=606, T=9, cfg={
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
        "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2, "head_dim": 16,
        "hidden_act": "silu", "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 64,
        "layer_types": ["full_attention", "full_attention"], "max_position_embeddings": 128,
        "max_window_layers": 2, "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-6, "rope_scaling": None, "rope_theta": 1000000.0, "sliding_window": None,
        "tie_word_embeddings": False, "torch_dtype": "float32", "transformers_version": "4.53.0",
        "use_cache": True, "use_sliding_window": False, "vocab_size": 96}),
}

# Which mutations each fixture must detect (selftest); every fixture also gets the generic ones below.
GENERIC_MUTATIONS = ["rope_interleaved", "no_rope"]
FIXTURE_MUTATIONS = {
    "llama_gqa_headdim": ["gqa_tile", "rope_dim_hidden_over_heads", "eps_default"],
    "llama3_rope": ["no_rope_scaling", "theta_default"],
    "llama_tied_linear": ["no_rope_scaling"],
    "mistral_sliding": ["no_sliding", "window_plus_one", "gqa_tile"],
    "qwen2": ["no_bias", "theta_default", "gqa_tile", "sliding_applied_anyway"],
    "qwen3": ["qk_norm_after_rope", "rope_dim_hidden_over_heads", "gqa_tile", "theta_default"],
}

# Initialisation scales: large enough that attention is far from uniform (so RoPE, masks, GQA mapping,
# q/k norms matter) and logits are O(1) (not all ~0).
STD = {"embed": 0.5, "q": 0.3, "k": 0.3, "v": 0.3, "o": 0.2, "gate": 0.25, "up": 0.25, "down": 0.2,
       "lm_head": 0.2, "bias": 0.1, "norm": 0.1, "qk_norm": 0.2}


def make_weights(hp, gen):
    def randn(shape, std):
        return torch.randn(*shape, generator=gen, dtype=torch.float32) * std

    def norm_w(n, s=STD["norm"]):
        return 1.0 + randn([n], s)

    w = {}
    shapes = expected_tensors(hp)
    for name in sorted(shapes):   # sorted: the random stream does not depend on dict order
        shape = shapes[name]
        leaf = name.split(".")[-2] if name.endswith(("weight", "bias")) else name
        if name.endswith(".bias"):
            w[name] = randn(shape, STD["bias"])
        elif leaf in ("q_norm", "k_norm"):
            w[name] = norm_w(shape[0], STD["qk_norm"])
        elif leaf.endswith("layernorm") or name == "model.norm.weight":
            w[name] = norm_w(shape[0])
        elif leaf == "embed_tokens":
            w[name] = randn(shape, STD["embed"])
        elif leaf == "lm_head":
            w[name] = randn(shape, STD["lm_head"])
        else:
            w[name] = randn(shape, STD[leaf.split("_")[0]])
    return w


def make(models_dir, names):
    os.makedirs(models_dir, exist_ok=True)
    for name in names:
        spec = FIXTURES[name]
        d = os.path.join(models_dir, name)
        os.makedirs(d, exist_ok=True)
        cfg = spec["cfg"]
        hp = parse_config(cfg)
        gen = torch.Generator().manual_seed(spec["seed"])
        weights = make_weights(hp, gen)
        input_ids = torch.randint(0, hp.vocab, (2, spec["T"]), generator=gen, dtype=torch.int64)
        if hp.rope_type == "llama3":
            s = hp.rope_scaling
            br = llama3_branches(rope_inv_freq(hp, ("no_rope_scaling",)), s["low_freq_factor"], s["high_freq_factor"],
                                 s["original_max_position_embeddings"])
            kinds = {b for b, _ in br}
            assert kinds == {"keep", "scale", "smooth"}, "llama3 fixture must exercise all branches: %s" % br
            assert min(m for _, m in br) > 0.05, "a llama3 wavelength is too close to a branch boundary"
        logits = forward(hp, weights, input_ids, torch.float64).to(torch.float32)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        write_safetensors(os.path.join(d, "model.safetensors"), weights, {"format": "pt"})
        write_safetensors(os.path.join(d, "reference.safetensors"), {"input_ids": input_ids, "logits": logits})
        print("made %-18s %s" % (name, summary(hp, spec["T"], d)))


def summary(hp, T, d=None):
    s = ("%s heads=%d kv=%d head_dim=%d hidden=%d inter=%d vocab=%d layers=%d T=%d rope=%s theta=%g tie=%s"
         % (hp.model_type, hp.heads, hp.kv_heads, hp.head_dim, hp.hidden, hp.inter, hp.vocab, hp.layers, T,
            hp.rope_type, hp.rope_theta, hp.tie, ))
    if any(w is not None for w in hp.windows):
        s += " windows=%s" % hp.windows
    if d:
        sizes = {f: os.path.getsize(os.path.join(d, f)) for f in sorted(os.listdir(d))}
        s += " | " + " ".join("%s=%dB" % kv for kv in sizes.items()) + " total=%dB" % sum(sizes.values())
    return s


def load_fixture(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    hp = parse_config(cfg)
    weights, _ = read_safetensors(os.path.join(d, "model.safetensors"))
    ref, _ = read_safetensors(os.path.join(d, "reference.safetensors"))
    return cfg, hp, weights, ref


def check(models_dir, names):
    ok = True
    for name in names:
        d = os.path.join(models_dir, name)
        cfg, hp, weights, ref = load_fixture(d)
        exp = expected_tensors(hp)
        got = {k: list(v.shape) for k, v in weights.items()}
        problems = []
        if got != exp:
            problems.append("tensor set/shapes differ from what the config implies: missing %s, extra %s, "
                            "shape %s" % (sorted(set(exp) - set(got)), sorted(set(got) - set(exp)),
                                          sorted(k for k in exp if k in got and exp[k] != got[k])))
        if any(v.dtype != torch.float32 for v in weights.values()):
            problems.append("non-F32 weights")
        ids, gold = ref["input_ids"], ref["logits"]
        if list(gold.shape) != [ids.shape[0], ids.shape[1], hp.vocab] or gold.dtype != torch.float32:
            problems.append("bad reference shapes %s %s" % (list(ids.shape), list(gold.shape)))
        if problems:
            ok = False
            print("FAIL %-18s %s" % (name, "; ".join(problems)))
            continue
        # the goldens are the fp64 forward rounded to fp32: round the recomputation the same way
        d64 = (forward(hp, weights, ids, torch.float64).to(torch.float32) - gold).abs().max().item()
        d32 = (forward(hp, weights, ids, torch.float32).double() - gold.double()).abs().max().item()
        good = d64 <= RECOMPUTE_TOL and d32 <= PARITY_TOL
        ok &= good
        print("%s %-18s fp64 recompute max|diff|=%.3g (tol %g); HF-style fp32 forward max|diff|=%.3g (tol %g); "
              "|logits| max=%.2f std=%.2f"
              % ("ok  " if good else "FAIL", name, d64, RECOMPUTE_TOL, d32, PARITY_TOL, gold.abs().max().item(),
                 gold.std().item()))
    return ok


# ----------------------------------------------------------------------------------------------------------
# self-checks
# ----------------------------------------------------------------------------------------------------------

def _hp_from(cfg_over):
    base = {"model_type": "llama", "vocab_size": 16, "hidden_size": 32, "intermediate_size": 16,
            "num_hidden_layers": 1, "num_attention_heads": 2, "head_dim": 16}
    base.update(cfg_over)
    return parse_config(base)


def selftest(models_dir, names):
    fails = []

    def expect(cond, what):
        print("%s %s" % ("ok  " if cond else "FAIL", what))
        if not cond:
            fails.append(what)

    # -- config parsing --
    hp = _hp_from({"num_key_value_heads": None, "head_dim": None})
    expect(hp.kv_heads == 2 and hp.head_dim == 16 and hp.rope_theta == 10000.0 and hp.rope_type == "default",
           "config: null kv heads -> heads, null head_dim -> hidden/heads, theta default 10000")
    a = _hp_from({"rope_theta": 5000.0, "rope_scaling": {"type": "linear", "factor": 2.0}})
    b = _hp_from({"rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 5000.0}})
    expect(torch.equal(rope_inv_freq(a), rope_inv_freq(b)),
           "config: v4 rope_theta+rope_scaling{type} == v5 rope_parameters{rope_type}")
    q2 = parse_config(FIXTURES["qwen2"]["cfg"])
    expect(q2.qkv_bias and not q2.o_bias and q2.windows == [None, None],
           "config: qwen2 has q/k/v bias (not o) despite attention_bias=false; no window when use_sliding_window=false")
    q2b = parse_config(dict(FIXTURES["qwen2"]["cfg"], use_sliding_window=True))
    expect(q2b.windows == [None, 4], "config: qwen2 use_sliding_window -> layers >= max_window_layers slide")

    # -- RoPE --
    d = _hp_from({})
    expect(torch.equal(rope_inv_freq(d), rope_inv_freq(_hp_from({"rope_scaling": {"rope_type": "linear",
                                                                                  "factor": 1.0}}))),
           "rope: linear factor 1 == default")
    l3 = {"rope_type": "llama3", "factor": 1.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 64}
    diff = (rope_inv_freq(_hp_from({"rope_scaling": l3})) - rope_inv_freq(d)).abs().max().item()
    expect(diff < 1e-15, "rope: llama3 with factor 1 == default (max diff %.2g)" % diff)
    big = dict(l3, factor=8.0, original_max_position_embeddings=10 ** 9)   # every wavelength < orig/high: keep
    expect(torch.equal(rope_inv_freq(_hp_from({"rope_scaling": big})), rope_inv_freq(d)),
           "rope: llama3 with huge original context keeps every frequency == default")
    tiny = dict(l3, factor=8.0, original_max_position_embeddings=1)        # every wavelength > orig/low: scale
    lin8 = _hp_from({"rope_scaling": {"rope_type": "linear", "factor": 8.0}})
    expect(torch.allclose(rope_inv_freq(_hp_from({"rope_scaling": tiny})), rope_inv_freq(lin8), rtol=1e-15, atol=0),
           "rope: llama3 with tiny original context == linear factor 8")
    # smooth branch is continuous at both ends: s=0 at w=orig/low (-> inv/factor), s=1 at w=orig/high (-> inv)
    inv = torch.tensor([2 * math.pi / 64.0, 2 * math.pi / 16.0], dtype=torch.float64)
    sc = llama3_scale(inv, 8.0, 1.0, 4.0, 64.0)
    expect(torch.allclose(sc, torch.stack([inv[0] / 8.0, inv[1]]), rtol=1e-14, atol=0),
           "rope: llama3 smooth branch meets scale/keep continuously at the boundaries")
    # rotary property: <R(m)q, R(n)k> depends on m - n only; position 0 is the identity
    g = torch.Generator().manual_seed(0)
    qv = torch.randn(16, generator=g, dtype=torch.float64)
    kv = torch.randn(16, generator=g, dtype=torch.float64)
    invd = rope_inv_freq(d)

    def rot(x, p):
        f = p * invd
        e = torch.cat((f, f))
        return apply_rope(x, e.cos(), e.sin())

    expect(torch.allclose(rot(qv, 0.0), qv, atol=0, rtol=0) and
           abs(rot(qv, 7.0) @ rot(kv, 3.0) - rot(qv, 5.0) @ rot(kv, 1.0)) < 1e-12 and
           abs(rot(qv, 7.0).norm() - qv.norm()) < 1e-12,
           "rope: identity at 0, norm-preserving, scores depend on relative position only")

    # -- masks --
    T = 10
    m = attention_allowed(T, 4)
    expect(m.sum(1).tolist() == [min(i + 1, 4) for i in range(T)] and bool(m[9, 6]) and not bool(m[9, 5]),
           "mask: window 4 -> query i sees keys i-3..i (4 keys incl. itself)")
    expect(torch.equal(attention_allowed(T, T), attention_allowed(T, None)), "mask: window >= T == full causal")

    # -- GQA: kv head g serves query heads [g*n_rep, (g+1)*n_rep) --
    base_cfg = {"vocab_size": 16, "hidden_size": 16, "intermediate_size": 8, "num_attention_heads": 4,
                "head_dim": 8, "num_hidden_layers": 1}
    hq = _hp_from(dict(base_cfg, num_key_value_heads=2))
    hm = _hp_from(dict(base_cfg, num_key_value_heads=4))
    gen = torch.Generator().manual_seed(1)
    wq = make_weights(hq, gen)
    wm = dict(wq)
    for n in ("k_proj", "v_proj"):
        kw = wq["model.layers.0.self_attn.%s.weight" % n].view(2, 8, 16)
        wm["model.layers.0.self_attn.%s.weight" % n] = kw.repeat_interleave(2, dim=0).reshape(32, 16)
    ids = torch.randint(0, 16, (2, 7), generator=gen)
    diff = (forward(hq, wq, ids) - forward(hm, wm, ids)).abs().max().item()
    expect(diff < 1e-12, "gqa: 2 kv heads == MHA with each kv head duplicated for heads (2g, 2g+1) (%.2g)" % diff)

    # -- safetensors round trip + layout --
    path = os.path.join(models_dir, ".selftest.safetensors")
    os.makedirs(models_dir, exist_ok=True)
    ts = {"a": torch.randn(3, 5, generator=gen), "b": torch.arange(7, dtype=torch.int64), "c": torch.tensor(2.5)}
    write_safetensors(path, ts, {"format": "pt"})
    back, meta = read_safetensors(path)
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
    os.remove(path)
    expect(all(torch.equal(ts[k], back[k]) and ts[k].dtype == back[k].dtype for k in ts) and meta == {"format": "pt"}
           and n % 8 == 0, "safetensors: round trip exact, header padded to a multiple of 8")

    # -- fixtures: mutations must be visible far above the parity tolerance --
    for name in names:
        d_ = os.path.join(models_dir, name)
        cfg, hp, weights, ref = load_fixture(d_)
        ids, gold = ref["input_ids"], ref["logits"].double()
        muts = GENERIC_MUTATIONS + FIXTURE_MUTATIONS.get(name, [])
        for mname in muts:
            if mname == "sliding_applied_anyway":
                hpw = parse_config(dict(cfg, use_sliding_window=True, max_window_layers=0))
                out = forward(hpw, weights, ids)
            else:
                out = forward(hp, weights, ids, ablate=(mname,))
            delta = (out - gold).abs().max().item()
            expect(delta > MUTATION_MIN, "mutation %-18s %-26s moves logits by %.3g (> %g)"
                   % (name, mname, delta, MUTATION_MIN))
        if hp.rope_type == "llama3":
            s = hp.rope_scaling
            br = llama3_branches(rope_inv_freq(hp, ("no_rope_scaling",)), s["low_freq_factor"], s["high_freq_factor"],
                                 s["original_max_position_embeddings"])
            expect({b for b, _ in br} == {"keep", "scale", "smooth"},
                   "llama3 %s: branches %s" % (name, [b for b, _ in br]))
    if fails:
        print("%d self-check(s) FAILED" % len(fails))
    return not fails


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["make", "check", "selftest"])
    ap.add_argument("names", nargs="*", help="fixture names (default: all)")
    ap.add_argument("--models-dir", default=DEFAULT_MODELS_DIR)
    a = ap.parse_args()
    torch.set_num_threads(1)   # determinism across machines
    names = a.names or sorted(FIXTURES)
    for n in names:
        if n not in FIXTURES and a.mode == "make":
            ap.error("unknown fixture %r" % n)
    if a.mode == "make":
        make(a.models_dir, names)
        return 0
    if a.mode == "check":
        if not a.names:
            names = sorted(n for n in os.listdir(a.models_dir)
                           if os.path.isfile(os.path.join(a.models_dir, n, "reference.safetensors")))
        return 0 if check(a.models_dir, names) else 1
    return 0 if selftest(a.models_dir, names) else 1


if __name__ == "__main__":
    sys.exit(main())
