"""loratune's chat-template engine against transformers, byte for byte.

For every chat template in the reference cache (~/.cache/loratune/chat-templates/*.jinja, the tokenizers'
chat_template.jinja / tokenizer_config.json "chat_template" under ~/.cache/loratune/tokenizers/*, and the
SmolLM2 model's), this renders >= 300 deterministic conversations with transformers'
render_jinja_template (jinja2's ImmutableSandboxedEnvironment as transformers configures it) and with
loratune-jinja (lib/tokenizer/chat_template.h), and compares:
  - the text, byte for byte;
  - the {% generation %} ranges (transformers' character offsets converted to bytes) when a template has them;
  - failures: a conversation that transformers rejects must be rejected by loratune too, and when the
    template itself rejected it (raise_exception) loratune must report the same message.
The conversations vary: single and multi-turn, with and without a system message, add_generation_prompt
true and false, continue_final_message (prefill) on a final assistant turn, content with newlines, unicode and surrounding spaces, reasoning content (Qwen3's
enable_thinking both ways), tool definitions and tool calls, content given as a list of parts, and
conversations some templates reject (roles not alternating, a leading assistant turn).

CTest runs it as: scripts/refpy test_chat_templates.py --jinja-tool BIN (torch-free: no loratune binary needed)
It prints one line per template with the match count and exits non-zero on any mismatch (with a diff).
"""
import argparse
import difflib
import glob
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile

from jinja2.exceptions import TemplateError
from transformers.utils.chat_template_utils import render_jinja_template

CACHE = os.environ.get("LORATUNE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "loratune"))
PER_TEMPLATE = 320

# A template with {% generation %} (transformers' assistant-mask marker): none of the upstream ones has it.
GENERATION_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}<|assistant|>\n{% generation %}{{ message['content'] | trim }}"
    "{{ eos_token }}{% endgeneration %}\n"
    "{% else %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def token_text(v):
    if isinstance(v, dict):
        return v.get("content")
    return v


def discover():
    """[(name, source, bos, eos)] of every distinct template in the cache."""
    found = []
    for path in sorted(glob.glob(os.path.join(CACHE, "chat-templates", "*.jinja"))):
        found.append((os.path.relpath(path, CACHE), open(path, encoding="utf-8").read(), None, None))
    for d in sorted(glob.glob(os.path.join(CACHE, "tokenizers", "*"))):
        cfg_path = os.path.join(d, "tokenizer_config.json")
        cfg = json.load(open(cfg_path, encoding="utf-8")) if os.path.exists(cfg_path) else {}
        bos, eos = token_text(cfg.get("bos_token")), token_text(cfg.get("eos_token"))
        jinja_path = os.path.join(d, "chat_template.jinja")
        src = None
        if os.path.exists(jinja_path):
            src, name = open(jinja_path, encoding="utf-8").read(), os.path.relpath(jinja_path, CACHE)
        else:
            ct = cfg.get("chat_template")
            if isinstance(ct, list):
                ct = next((t["template"] for t in ct if t.get("name") == "default"), None)
            if isinstance(ct, str):
                src, name = ct, os.path.relpath(cfg_path, CACHE) + ":chat_template"
        if src is not None:
            found.append((name, src, bos, eos))
    smol = os.path.join(CACHE, "smollm2-135m-instruct", "hf", "chat_template.jinja")
    if os.path.exists(smol):
        found.append((os.path.relpath(smol, CACHE), open(smol, encoding="utf-8").read(), None, None))
    found.append(("synthetic/generation.jinja", GENERATION_TEMPLATE, "<s>", "</s>"))
    seen, out = set(), []
    for name, src, bos, eos in found:
        h = hashlib.sha256(src.encode()).hexdigest()
        if h in seen:
            continue
        seen.add(h)
        out.append((name, src, bos, eos))
    return out


TEXTS = [
    "Hello!", "What is 2+2?", "  leading and trailing spaces  ", "line one\nline two\n\nline four",
    "Ünïcödé — ñ, 日本語, emoji 😀, Ελληνικά", "quotes: 'single' \"double\" `back`", "braces {{ not jinja }} {% no %}",
    "\ttabbed\ttext", "trailing newline\n", "\nleading newline", "a", "Tell me a story about a dragon.",
    "JSON: {\"k\": [1, 2, 3]}", "back\\slash \\n literal", "<b>html</b> & entities &amp;", "multiple   spaces",
]
REASONING = ["Let me think.\nStep 1: add.", "  short thought  ", "思考中…", "First, 2+2=4."]
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Get the weather for a city.",
                                      "parameters": {"type": "object",
                                                     "properties": {"city": {"type": "string", "description": "City"},
                                                                    "unit": {"type": "string", "enum": ["c", "f"]}},
                                                     "required": ["city"]}}},
    {"type": "function", "function": {"name": "add", "description": "Adds two numbers.",
                                      "parameters": {"type": "object",
                                                     "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                                                     "required": ["a", "b"]}}},
]

# Cohere's tool format (name, description, parameter_definitions), for templates that read it.
COHERE_TOOLS = [
    {"name": "get_weather", "description": "Get the weather for a city.",
     "parameter_definitions": {"city": {"description": "City", "type": "str", "required": True},
                               "unit": {"description": "c or f", "type": "str", "required": False}}},
    {"name": "internet_search", "description": "Searches the web.",
     "parameter_definitions": {"query": {"description": "Query", "type": "str", "required": True}}},
]


def conversation(rng, k):
    """One deterministic conversation (k selects the shape) and its extra template variables."""
    texts = lambda: rng.choice(TEXTS) if rng.random() < 0.7 else rng.choice(TEXTS) + " " + rng.choice(TEXTS)
    messages = []
    shape = k % 10
    if rng.random() < 0.4:
        messages.append({"role": "system", "content": rng.choice(["You are a helpful assistant.", texts()])})
    turns = 1 + rng.randrange(4)
    for t in range(turns):
        messages.append({"role": "user", "content": texts()})
        if t < turns - 1 or rng.random() < 0.5:
            m = {"role": "assistant", "content": texts(), "tool_calls": None} if rng.random() < 0.1 else \
                {"role": "assistant", "content": texts()}
            if rng.random() < 0.3:
                m["reasoning_content"] = rng.choice(REASONING)
            elif rng.random() < 0.1:
                m["content"] = "<think>\n" + rng.choice(REASONING) + "\n</think>\n\n" + m["content"]
            messages.append(m)
    extras = {}
    tools = None
    if shape == 3:  # tools and a tool call round trip
        tools = TOOLS
        messages.append({"role": "user", "content": "What is the weather in Paris?"})
        args = {"city": "Paris", "unit": "c"} if rng.random() < 0.5 else '{"city": "Paris"}'
        messages.append({"role": "assistant", "content": rng.choice(["", None, "Let me check."]),
                         "tool_calls": [{"id": "call0abcd", "type": "function",
                                         "function": {"name": "get_weather", "arguments": args}}]})
        messages.append({"role": "tool", "name": "get_weather", "tool_call_id": "call0abcd", "content": "{\"temp\": 21}"})
        if rng.random() < 0.5:
            messages.append({"role": "assistant", "content": "It is 21 degrees."})
    elif shape == 5:  # content as a list of parts
        for m in messages:
            if m["role"] in ("user", "system") and rng.random() < 0.7:
                m["content"] = [{"type": "text", "text": m["content"]}]
    elif shape == 7:  # not alternating: some templates reject it
        messages.append({"role": "user", "content": texts()})
        messages.append({"role": "user", "content": texts()})
    elif shape == 8 and messages and messages[0]["role"] != "system":
        messages.insert(0, {"role": "assistant", "content": texts()})
    if k % 3 == 0:
        extras["enable_thinking"] = bool(k % 2)
    if k % 11 == 0:
        extras["date_string"] = "26 Jul 2024"
    agp = rng.random() < 0.5
    if k % 7 == 6 and messages[-1]["role"] == "assistant":
        extras["continue_final_message"] = True  # prefill: the rendering stops inside the final message
        agp = False
    return messages, tools, agp, extras


def python_render(src, messages, tools, agp, extras, with_mask):
    # What apply_chat_template does before render_jinja_template: drop the message keys whose value is None.
    messages = [{k: v for k, v in m.items() if v is not None} for m in messages]
    extras = dict(extras)
    cont = extras.pop("continue_final_message", False)
    with_mask = with_mask and not cont
    try:
        out, idx = render_jinja_template(conversations=[messages], tools=tools, chat_template=src,
                                         add_generation_prompt=agp, return_assistant_tokens_mask=with_mask,
                                         continue_final_message=cont, **extras)
        return {"text": out[0], "generation": idx[0] if with_mask else None}
    except TemplateError as e:
        return {"error": str(e), "raised": type(e) is TemplateError}
    except Exception as e:  # a Python error inside the template (TypeError, ...)
        return {"error": f"{type(e).__name__}: {e}", "raised": False}


def tokenizer_dirs():
    """Model/tokenizer directories whose tokenizer transformers loads with a chat template."""
    dirs = sorted(glob.glob(os.path.join(CACHE, "tokenizers", "*")))
    dirs.append(os.path.join(CACHE, "smollm2-135m-instruct", "hf"))
    return [d for d in dirs if os.path.exists(os.path.join(d, "tokenizer.json"))]


def check_apply_chat_template(tool, tmp):
    """tokenizer.apply_chat_template(tokenize=False) of real tokenizers against loratune-jinja given the same
    variables (the tokenizer's special_tokens_map): covers what apply_chat_template adds around the render."""
    from transformers import AutoTokenizer

    failures = 0
    for di, d in enumerate(tokenizer_dirs()):
        try:
            tok = AutoTokenizer.from_pretrained(d)
        except Exception as e:  # a tokenizer transformers cannot load is not this test's subject
            print(f"skip {os.path.relpath(d, CACHE)}: transformers cannot load it ({type(e).__name__})")
            continue
        src = tok.chat_template
        if not isinstance(src, str):
            continue
        rng = random.Random(50000 + di)
        cases, want = [], []
        for k in range(40):
            messages, tools, agp, extras = conversation(rng, k)
            try:
                text = tok.apply_chat_template(messages, tools=tools, add_generation_prompt=agp, tokenize=False, **extras)
                want.append({"text": text})
            except Exception as e:
                want.append({"error": f"{type(e).__name__}: {e}"})
            ctx = dict(tok.special_tokens_map, messages=messages, add_generation_prompt=agp, **extras)
            if tools is not None:
                ctx["tools"] = tools
            cases.append(ctx)
        tpl_path, ctx_path = os.path.join(tmp, f"a{di}.jinja"), os.path.join(tmp, f"a{di}.jsonl")
        with open(tpl_path, "w", encoding="utf-8") as f:
            f.write(src)
        with open(ctx_path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(c, ensure_ascii=False) + "\n" for c in cases)
        r = subprocess.run([tool, "--template", tpl_path, "--contexts", ctx_path], capture_output=True, text=True)
        got = [json.loads(line) for line in r.stdout.splitlines()] if r.returncode == 0 else []
        matched = sum(1 for w, g in zip(want, got)
                      if ("error" in w and isinstance(g, dict)) or ("text" in w and g == w["text"]))
        ok = matched == len(cases)
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} apply_chat_template {os.path.relpath(d, CACHE)}: {matched}/{len(cases)} match")
        if not ok:
            for w, g in zip(want, got):
                if not (("error" in w and isinstance(g, dict)) or ("text" in w and g == w["text"])):
                    print("   transformers:", json.dumps(w, ensure_ascii=False)[:600])
                    print("   loratune:    ", json.dumps(g, ensure_ascii=False)[:600])
                    break
    return failures


def char_to_byte_spans(text, spans):
    return [[len(text[:b].encode()), len(text[:e].encode())] for b, e in spans]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--jinja-tool", required=True, help="the loratune-jinja binary")
    p.add_argument("--loratune", help="unused (accepted like the other reference tests)")
    p.add_argument("--logits-tool", help="unused")
    p.add_argument("--only", help="test only templates whose name contains this")
    args = p.parse_args()
    templates = discover()
    if len(templates) < 2:
        print("no chat templates found under", CACHE, "(run scripts/setup-reference.sh)")
        return 1
    tmp = tempfile.mkdtemp(prefix="lt-chat-")
    failures, total = 0, 0
    for ti, (name, src, bos, eos) in enumerate(templates):
        if args.only and args.only not in name:
            continue
        rng = random.Random(1000 + ti)
        # Templates that iterate `tools` unguarded (tool-use variants) get tool definitions in every conversation.
        probe = python_render(src, [{"role": "user", "content": "Hi"}], None, True, {"bos_token": "<s>", "eos_token": "</s>"}, False)
        needs_tools = "error" in probe and "not iterable" in probe["error"]
        with_mask = "generation" in src and "endgeneration" in src
        cases = []
        for k in range(PER_TEMPLATE):
            messages, tools, agp, extras = conversation(rng, k)
            if needs_tools and tools is None:
                tools = TOOLS
            if tools is not None and "parameter_definitions" in src and k % 2 == 0:
                tools = COHERE_TOOLS
            extras = dict(extras, bos_token=bos if bos is not None else "<s>", eos_token=eos if eos is not None else "</s>")
            cases.append((messages, tools, agp, extras))
        tpl_path = os.path.join(tmp, f"t{ti}.jinja")
        with open(tpl_path, "w", encoding="utf-8") as f:
            f.write(src)
        ctx_path = os.path.join(tmp, f"c{ti}.jsonl")
        with open(ctx_path, "w", encoding="utf-8") as f:
            for messages, tools, agp, extras in cases:
                ctx = {"messages": messages, "add_generation_prompt": agp}
                if tools is not None:
                    ctx["tools"] = tools
                ctx.update(extras)
                f.write(json.dumps(ctx, ensure_ascii=False) + "\n")
        r = subprocess.run([args.jinja_tool, "--template", tpl_path, "--contexts", ctx_path, "--spans"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            failures += 1
            print(f"FAIL {name}: loratune-jinja exited {r.returncode}: {r.stderr.strip()}")
            continue
        ours = [json.loads(line) for line in r.stdout.splitlines()]
        matched, raised_both, shown = 0, 0, 0
        for (messages, tools, agp, extras), got in zip(cases, ours):
            want = python_render(src, messages, tools, agp, extras, with_mask)
            ok = True
            why = ""
            if "error" in want:
                ok = "error" in got and (not want["raised"] or (got.get("raised") and got.get("template_message") == want["error"]))
                why = f"transformers failed ({want['error']}); loratune: {got.get('error', 'rendered')}"
                raised_both += ok
            elif "error" in got:
                ok = False
                why = f"loratune failed: {got['error']}"
            elif got["text"] != want["text"]:
                ok = False
                diff = difflib.unified_diff(want["text"].splitlines(True), got["text"].splitlines(True),
                                            "transformers", "loratune", n=2)
                why = "text differs:\n" + "".join(diff)
            elif with_mask and "continue_final_message" not in extras and got["generation"] != char_to_byte_spans(want["text"], want["generation"]):
                ok = False
                why = f"generation spans differ: transformers {want['generation']} (chars), loratune {got['generation']} (bytes)"
            if ok:
                matched += 1
            elif shown < 3:
                shown += 1
                print(f"  MISMATCH {name}: {json.dumps({'messages': messages, 'agp': agp, 'extras': extras}, ensure_ascii=False)[:400]}")
                print("   ", why[:3000])
        total += len(cases)
        status = "ok  " if matched == len(cases) and len(ours) == len(cases) else "FAIL"
        if status == "FAIL":
            failures += 1
        print(f"{status} {name}: {matched}/{len(cases)} match ({raised_both} rejected by both)"
              + (", generation spans compared" if with_mask else ""))
    if not args.only:
        failures += check_apply_chat_template(args.jinja_tool, tmp)
    print(f"{len(templates)} templates, {total} conversations, {failures} failing")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
