"""Checks the tokenizer and chat-template fixtures of scripts/setup-reference.sh with the reference stack:
every tokenizers/<family>/tokenizer.json loads in `tokenizers` and in transformers' AutoTokenizer, and every
chat template renders in transformers' apply_chat_template(tokenize=False, add_generation_prompt=True) for a
few conversations (with the tokenizer of its family, for bos_token / eos_token). Prints one line per file and
exits 1 when a tokenizer does not load or a template renders none of the conversations.

    scripts/refpy tests/reference/check_fixtures.py
"""
import glob
import os
import sys

os.environ.setdefault("TQDM_DISABLE", "1")
import tokenizers
from transformers import AutoTokenizer

CACHE = os.environ.get("LORATUNE_CACHE", os.path.expanduser("~/.cache/loratune"))
# template name -> the tokenizer family whose special tokens it is rendered with
PAIR = {"qwq": "qwen2.5", "llama-3.1": "llama-3.2", "llama-3.3": "llama-3.2", "phi-3.5": "phi-3",
        "phi-4": "qwen2.5", "mistral-nemo": "mistral-v3", "mistral-small-3.2": "mistral-v3", "gemma-2": "gemma-3",
        "gemma-4": "gemma-3", "deepseek-r1-distill-qwen": "deepseek-v3", "deepseek-v3.1": "deepseek-v3",
        "smollm3": "llama-3.2", "gpt-oss": "qwen2.5", "granite-3.3": "gpt-2",
        "hermes-3-llama-3.1-tool-use": "llama-3.2", "command-r-plus-tool-use": "gpt-2"}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather of a city",
                                           "parameters": {"type": "object", "required": ["city"],
                                                          "properties": {"city": {"type": "string"}}}}}]
CONVERSATIONS = {
    "user-assistant-user": ([{"role": "user", "content": "Hello!"},
                             {"role": "assistant", "content": "Hi, how can I help?"},
                             {"role": "user", "content": "Tell me a joke."}], None),
    "system-user": ([{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello!"}], None),
    "tools": ([{"role": "user", "content": "Weather in Paris?"}], TOOLS),
    # Cohere's command-r tool_use template reads tools in its own shape
    "cohere-tools": ([{"role": "user", "content": "Weather in Paris?"}],
                     [{"name": "get_weather", "description": "Current weather of a city",
                       "parameter_definitions": {"city": {"description": "the city", "type": "str",
                                                          "required": True}}}]),
}


def main():
    failed = 0
    toks = {}

    def tokenizer(family):
        if family not in toks:
            d = os.path.join(CACHE, "smollm2-135m-instruct", "hf") if family == "smollm2" \
                else os.path.join(CACHE, "tokenizers", family)
            toks[family] = AutoTokenizer.from_pretrained(d)
        return toks[family]

    for p in sorted(glob.glob(os.path.join(CACHE, "tokenizers", "*", "tokenizer.json"))):
        family = os.path.basename(os.path.dirname(p))
        try:
            t = tokenizers.Tokenizer.from_file(p)
            tokenizer(family)
            print(f"tokenizer {family}: loads (vocab {t.get_vocab_size()})")
        except Exception as e:  # report every broken fixture, not just the first
            failed += 1
            print(f"tokenizer {family}: FAILED: {type(e).__name__}: {e}")
    templates = sorted(glob.glob(os.path.join(CACHE, "chat-templates", "*.jinja")))
    templates += sorted(glob.glob(os.path.join(CACHE, "tokenizers", "*", "chat_template.jinja")))
    for p in templates:
        in_family = os.path.basename(p) == "chat_template.jinja"
        name = os.path.basename(os.path.dirname(p)) if in_family else os.path.basename(p)[:-len(".jinja")]
        family = name if in_family else PAIR.get(name, name)
        t = tokenizer(family)
        with open(p, encoding="utf-8") as f:
            t.chat_template = f.read()
        results, ok = [], 0
        for conv, (messages, tools) in CONVERSATIONS.items():
            try:
                out = t.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
                results.append(f"{conv} ok ({len(out)} chars)")
                ok += 1
            except Exception as e:
                results.append(f"{conv}: {type(e).__name__}: {str(e)[:70]}")
        failed += ok == 0
        label = os.path.relpath(p, CACHE)
        print(f"template {label} [{family} tokens]: " + "; ".join(results))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
