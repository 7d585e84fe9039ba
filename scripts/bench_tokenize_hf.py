"""Times Hugging Face tokenizers encoding a JSONL corpus, for scripts/bench-tokenize.sh (run it with
RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false for one thread).
    bench_tokenize_hf.py TOKENIZER_JSON CORPUS_JSONL {single|batch}
Prints encode_seconds=S bytes=B lines=L (loading excluded; add_special_tokens=True as loratune-hftok --ids-only)."""
import json
import sys
import time

from tokenizers import Tokenizer

tok = Tokenizer.from_file(sys.argv[1])
with open(sys.argv[2], encoding="utf-8") as fh:
    texts = [json.loads(l)["text"] for l in fh if l.strip()]
t0 = time.perf_counter()
if sys.argv[3] == "single":
    ids = [tok.encode(t, add_special_tokens=True).ids for t in texts]
else:
    ids = [e.ids for e in tok.encode_batch(texts, add_special_tokens=True)]
s = time.perf_counter() - t0
print(f"encode_seconds={s:.6f} bytes={sum(len(t.encode()) for t in texts)} lines={len(texts)} tokens={sum(map(len, ids))}")
