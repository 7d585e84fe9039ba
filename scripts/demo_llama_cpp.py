"""The demo's exports in llama.cpp (llama-cpp-python, in the venv scripts/setup.sh --demo makes):
    demo_llama_cpp.py --base BASE.gguf --lora ADAPTER.gguf --merged MERGED.gguf --outputs EVAL.outputs.jsonl
                      [-n 3] [--max-tokens 32] --out RESULT.json
For the first n held-out questions of loratune's eval outputs, asks llama.cpp as its users would
(create_chat_completion: the GGUF's own chat template, greedy) with
  - the original base file plus the GGUF LoRA (llama.cpp's --lora), and
  - the merged GGUF,
and prints each answer beside loratune's tuned answer. llama.cpp quantizes the activations of the Q4_1 base's
matmuls (loratune computes in bf16 from the dequantized weights), so an answer can part from loratune's after a
few tokens; the merged f16 file's run is closer.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lt_llama_cpp import llama_cpp_model  # noqa: E402


def answer(llm, messages, max_tokens):
    r = llm.create_chat_completion(messages=messages, temperature=0.0, top_k=1, repeat_penalty=1.0,
                                   max_tokens=max_tokens, seed=0)
    return r["choices"][0]["message"]["content"].strip()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True)
    p.add_argument("--lora", required=True)
    p.add_argument("--merged", required=True)
    p.add_argument("--outputs", required=True, help="loratune eval's <out>.outputs.jsonl")
    p.add_argument("-n", type=int, default=3)
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    with open(a.outputs, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()][:a.n]
    results = [{"question": r["messages"][-1]["content"], "loratune_tuned": r["output"].strip()} for r in rows]
    for key, model, lora in (("llama_cpp_base_plus_lora", a.base, a.lora), ("llama_cpp_merged", a.merged, None)):
        llm = llama_cpp_model(model, lora, n_ctx=512, n_threads=2, n_threads_batch=2, seed=0, verbose=False)
        try:
            for r, row in zip(results, rows):
                r[key] = answer(llm, row["messages"], a.max_tokens)
        finally:
            llm.close()
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2, ensure_ascii=False)
    for r in results:
        print(f"  Q: {r['question'][-90:]!r}".replace("\\n", " "))
        print(f"     loratune (tuned)           {r['loratune_tuned'][:110]}")
        print(f"     llama.cpp Q4_1 + GGUF LoRA {r['llama_cpp_base_plus_lora'][:110]}")
        print(f"     llama.cpp merged GGUF      {r['llama_cpp_merged'][:110]}")
    for key, what in (("llama_cpp_base_plus_lora", "base + LoRA"), ("llama_cpp_merged", "merged GGUF")):
        same = sum(r[key] == r["loratune_tuned"] for r in results)
        print(f"  llama.cpp {what}: {same}/{len(results)} answers identical to loratune's")


if __name__ == "__main__":
    main()
