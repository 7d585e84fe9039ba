// Loads a GGUF model with llama.cpp (node-llama-cpp's prebuilt CPU binaries) and prints, as one JSON line,
// the greedy continuation of the given prompt token ids. The prompt is fed as ids, so llama.cpp's own
// tokenizer is not involved in the comparison.
//
//   node greedy.mjs --model model.gguf [--lora adapter.gguf] --tokens 1,345,27 --n 16
//   -> {"tokens":[...],"eos":2}
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

function parseArgs(argv) {
  const args = { lora: null, n: 16 };
  for (let i = 0; i < argv.length; i += 2) {
    const [key, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`missing value for ${key}`);
    if (key === "--model") args.model = value;
    else if (key === "--lora") args.lora = value;
    else if (key === "--tokens") args.tokens = value.split(",").map((t) => Number.parseInt(t, 10));
    else if (key === "--n") args.n = Number.parseInt(value, 10);
    else throw new Error(`unknown argument ${key}`);
  }
  if (!args.model || !args.tokens || args.tokens.some(Number.isNaN) || !(args.n > 0))
    throw new Error("usage: node greedy.mjs --model M.gguf [--lora A.gguf] --tokens 1,2,3 --n 16");
  return args;
}

const args = parseArgs(process.argv.slice(2));
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: args.model });
const context = await model.createContext({
  contextSize: 256,
  sequences: 1,
  // One thread: a tiny model gains nothing from more, and llama.cpp's spinning worker threads slow to a crawl
  // on a busy CI machine (about 1 s per token with 2 threads on 2 shared cores, 20 ms with one).
  threads: 1,
  flashAttention: false,
  // f32 K/V cache (llama.cpp defaults to f16): keeps llama.cpp's arithmetic as close to fp32 as loratune's.
  experimentalKvCacheKeyType: "F32",
  experimentalKvCacheValueType: "F32",
  ...(args.lora ? { lora: { adapters: [{ filePath: args.lora, scale: 1 }] } } : {}),
});
const sequence = context.getSequence();
const tokens = [];
for await (const token of sequence.evaluate(args.tokens, { temperature: 0 })) {
  tokens.push(token);
  if (tokens.length >= args.n) break;
}
console.log(JSON.stringify({ tokens, eos: model.tokens.eos }));
await context.dispose();
await model.dispose();
await llama.dispose();
