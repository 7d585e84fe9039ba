#include "model/init.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/strings.h"
#include "model/hf_files.h"
#include "model/llama.h"
#include "model/loader.h"
#include "model/tensor_io.h"
#include "tokenizer/tokenizer.h"

namespace loratune {
namespace {
using json = nlohmann::json;

const InitPreset& find_preset(const std::string& name) {
  std::vector<std::string> names;
  for (const auto& p : init_presets()) {
    if (p.name == name) return p;
    names.push_back(p.name);
  }
  fail_input("unknown size preset '" + name + "'" + did_you_mean(name, names), "presets: " + join(names, ", "));
}

Arch parse_arch(const std::string& name) {
  if (auto a = find_arch(name)) return *a;
  fail_input("unknown architecture '" + name + "'" + did_you_mean(name, supported_archs()),
             "supported: " + join(supported_archs(), ", "));
}

torch::ScalarType stored_dtype(const std::string& d) {
  if (d == "fp32") return torch::kFloat32;
  if (d == "bf16") return torch::kBFloat16;
  if (d == "fp16") return torch::kFloat16;
  fail_input("{opt:dtype} for init must be fp32, bf16 or fp16, got '" + d + "'");
}

const char* hf_dtype_name(torch::ScalarType t) {
  return t == torch::kBFloat16 ? "bfloat16" : t == torch::kFloat16 ? "float16" : "float32";
}

ModelHParams make_hparams(const InitOptions& o, int tokenizer_vocab, const Tokenizer& tok) {
  const InitPreset& p = find_preset(o.preset);
  ModelHParams hp;
  hp.arch = parse_arch(o.arch);
  auto pick = [](int64_t v, int64_t def) { return v > 0 ? v : def; };
  hp.hidden_size = pick(o.hidden_size, p.hidden);
  hp.intermediate_size = pick(o.intermediate_size, p.intermediate);
  hp.num_layers = pick(o.num_layers, p.layers);
  hp.num_heads = pick(o.num_heads, p.heads);
  hp.num_kv_heads = pick(o.num_kv_heads, std::min(p.kv_heads, hp.num_heads));
  if (hp.num_heads % hp.num_kv_heads != 0)
    fail_input("{opt:heads} " + std::to_string(hp.num_heads) + " must be a multiple of {opt:kv_heads} " +
               std::to_string(hp.num_kv_heads));
  if (o.head_dim <= 0 && hp.hidden_size % hp.num_heads != 0)
    fail_input("{opt:hidden} " + std::to_string(hp.hidden_size) + " is not divisible by {opt:heads} " +
                   std::to_string(hp.num_heads),
               "choose sizes that divide, or pass {opt:head_dim}");
  hp.head_dim = pick(o.head_dim, hp.hidden_size / hp.num_heads);
  if (hp.head_dim % 2 != 0) fail_input("{opt:head_dim} must be even (RoPE rotates pairs)");
  hp.max_position_embeddings = pick(o.max_position_embeddings, p.max_pos);
  hp.vocab_size = o.vocab_size > 0 ? o.vocab_size : tokenizer_vocab;
  if (hp.vocab_size < tokenizer_vocab)
    fail_input("{opt:vocab_size} " + std::to_string(hp.vocab_size) + " is smaller than the tokenizer's " +
               std::to_string(tokenizer_vocab) + " pieces");
  hp.tie_word_embeddings = o.tie_embeddings < 0 ? p.tie : o.tie_embeddings == 1;
  hp.rope.theta = o.rope_theta > 0 ? o.rope_theta : p.rope_theta;
  hp.rms_norm_eps = 1e-5;
  // What config.json would imply with no bias keys set (the table's rules).
  const ArchInfo& info = arch_info(hp.arch);
  hp.qkv_bias = info.qkv_bias == BiasSource::Always;
  hp.o_bias = info.o_bias == BiasSource::Always;
  hp.mlp_bias = info.mlp_bias == BiasSource::Always;
  hp.qk_norm = info.qk_norm;
  hp.bos_token_id = tok.special().bos;
  hp.eos_token_ids = {tok.special().eos};
  hp.torch_dtype = hf_dtype_name(stored_dtype(o.dtype));
  return hp;
}

void random_init(CausalLM& model, double std_dev) {
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters(true)) {
    const auto& name = p.key();
    auto& t = p.value();
    if (ends_with(name, "norm.weight"))
      t.fill_(1.0);
    else if (ends_with(name, ".bias"))
      t.zero_();
    else
      t.normal_(0.0, std_dev);
  }
}

std::string generation_config_json(const ModelHParams& hp) {
  json j;
  j["bos_token_id"] = hp.bos_token_id >= 0 ? json(hp.bos_token_id) : json(nullptr);
  j["eos_token_id"] = hp.eos_token_ids.size() == 1 ? json(hp.eos_token_ids[0]) : json(hp.eos_token_ids);
  j["do_sample"] = false;
  j["max_length"] = hp.max_position_embeddings;
  return j.dump(2) + "\n";
}
}  // namespace

const std::vector<InitPreset>& init_presets() {
  static const std::vector<InitPreset> presets = {
      {"tiny", "2 layers, hidden 64: unit tests and quick demos", 64, 172, 2, 4, 2, 512, false, 10000.0},
      {"small", "4 layers, hidden 256: the bundled demo's scale", 256, 688, 4, 8, 4, 1024, true, 10000.0},
      {"smollm2-135m", "SmolLM2-135M shapes (30 layers, hidden 576, 9 heads, 3 KV heads)", 576, 1536, 30, 9, 3,
       8192, true, 100000.0},
      {"tinyllama-1.1b", "TinyLlama-1.1B shapes (22 layers, hidden 2048, 32 heads, 4 KV heads, untied head)", 2048,
       5632, 22, 32, 4, 2048, false, 10000.0},
      {"llama3.2-1b", "Llama-3.2-1B shapes (16 layers, hidden 2048, 32 heads, 8 KV heads, tied; vocabulary 128256)",
       2048, 8192, 16, 32, 8, 8192, true, 500000.0},
      {"mistral-7b", "Mistral-7B shapes (32 layers, hidden 4096, 32 heads, 8 KV heads, intermediate 14336, untied)",
       4096, 14336, 32, 32, 8, 32768, false, 1000000.0},
  };
  return presets;
}

InitResult init_model(const InitOptions& o) {
  if (o.out_dir.empty()) fail_input("init needs an output directory", "pass {opt:out} DIR");
  if (o.corpus.empty() == o.tokenizer_model.empty())
    fail_input("init needs exactly one tokenizer source",
               "pass {opt:corpus} FILE... to train a SentencePiece tokenizer, or {opt:tokenizer} tokenizer.model to copy one");
  auto dtype = stored_dtype(o.dtype);
  find_preset(o.preset);
  parse_arch(o.arch);

  AtomicDirectory out(o.out_dir, o.force);
  std::string tok_path = out.file("tokenizer.model");
  std::optional<Tokenizer> source;
  if (!o.tokenizer_model.empty()) {
    source.emplace(Tokenizer::from_file(o.tokenizer_model));
    if (source->kind() == TokenizerKind::HfJson) {
      tok_path = out.file("tokenizer.json");
      if (source->special().eos < 0)
        fail_input(o.tokenizer_model + ": no EOS token is defined for this tokenizer.json",
                   "put its tokenizer_config.json (with eos_token) beside it");
    }
    write_file_atomic(tok_path, source->serialized_model());
  } else {
    TokenizerTrainOptions t;
    t.corpus_files = o.corpus;
    t.vocab_size = o.tokenizer_vocab_size;
    t.seed = o.seed;
    train_tokenizer(t, tok_path);
  }
  // A tokenizer.json keeps the special tokens and template it was given (written to tokenizer_config.json below).
  Tokenizer tok = source && source->kind() == TokenizerKind::HfJson ? std::move(*source) : Tokenizer::from_file(tok_path);

  InitResult res;
  res.tokenizer_vocab = tok.vocab_size();
  res.hp = make_hparams(o, tok.vocab_size(), tok);
  torch::manual_seed(o.seed);
  CausalLM model(res.hp);
  random_init(model, o.init_std);
  std::vector<std::pair<std::string, torch::Tensor>> state;
  for (auto& [name, t] : model_state(model)) state.emplace_back(name, t.to(dtype));
  save_safetensors(out.file("model.safetensors"), state, {{"format", "pt"}});
  write_file_atomic(out.file("config.json"), hf_config_json(res.hp));
  write_file_atomic(out.file("tokenizer_config.json"), hf_tokenizer_config_json(tok, res.hp));
  write_file_atomic(out.file("generation_config.json"), generation_config_json(res.hp));
  write_file_atomic(out.file("special_tokens_map.json"), hf_special_tokens_map_json(tok));
  out.commit();
  res.dir = o.out_dir;
  res.parameters = res.hp.num_parameters();
  return res;
}

}  // namespace loratune
