// `loratune init`: create a randomly initialised model directory in Hugging Face layout.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "core/log.h"
#include "model/init.h"
#include "model/device.h"

namespace loratune::cli {
namespace {
int run(const GlobalOptions& g, InitOptions o, const std::string& tie) {
  Config cfg = resolve_config(g);
  if (maybe_print_config(g, cfg)) return 0;
  o.seed = static_cast<uint64_t>(cfg.runtime.seed);
  o.tie_embeddings = tie == "yes" ? 1 : tie == "no" ? 0 : -1;
  InitResult r = init_model(o);
  const auto& hp = r.hp;
  if (g.json) {
    std::cout << nlohmann::json{{"dir", r.dir},
                                {"architecture", arch_name(hp.arch)},
                                {"parameters", r.parameters},
                                {"vocab_size", hp.vocab_size},
                                {"tokenizer_vocab", r.tokenizer_vocab},
                                {"hidden_size", hp.hidden_size},
                                {"num_layers", hp.num_layers},
                                {"num_heads", hp.num_heads},
                                {"num_kv_heads", hp.num_kv_heads},
                                {"head_dim", hp.head_dim}}
                     .dump(2)
              << std::endl;
  } else {
    std::cout << "created " << r.dir << ": " << arch_name(hp.arch) << ", " << r.parameters << " parameters (hidden "
              << hp.hidden_size << ", " << hp.num_layers << " layers, " << hp.num_heads << " heads / "
              << hp.num_kv_heads << " kv, vocab " << hp.vocab_size << ")" << std::endl;
  }
  return 0;
}
}  // namespace

void register_init(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* sub = app.add_subcommand("init", "Create a randomly initialised model directory (HF layout)");
  sub->fallthrough();
  auto o = std::make_shared<InitOptions>();
  auto tie = std::make_shared<std::string>("preset");
  std::string presets;
  for (const auto& p : init_presets()) presets += "\n  " + p.name + ": " + p.description;
  sub->add_option("--out,-o", o->out_dir, "Output directory (must not exist unless --force)")->required();
  sub->add_flag("--force", o->force, "Replace an existing output directory");
  sub->add_option("--arch", o->arch, "llama | mistral | qwen2 | qwen3")->capture_default_str();
  sub->add_option("--preset", o->preset, "Size preset (see below)")->capture_default_str();
  sub->add_option("--hidden", o->hidden_size, "hidden_size (overrides the preset)");
  sub->add_option("--intermediate", o->intermediate_size, "intermediate_size");
  sub->add_option("--layers", o->num_layers, "num_hidden_layers");
  sub->add_option("--heads", o->num_heads, "num_attention_heads");
  sub->add_option("--kv-heads", o->num_kv_heads, "num_key_value_heads");
  sub->add_option("--head-dim", o->head_dim, "head_dim (default hidden/heads)");
  sub->add_option("--max-positions", o->max_position_embeddings, "max_position_embeddings");
  sub->add_option("--vocab-size", o->vocab_size, "Model vocabulary (default: the tokenizer's size)");
  sub->add_option("--tie-embeddings", *tie, "yes | no | preset")->check(CLI::IsMember({"yes", "no", "preset"}));
  sub->add_option("--rope-theta", o->rope_theta, "RoPE base (default per preset)");
  auto* corpus = sub->add_option("--corpus", o->corpus, "Train a SentencePiece tokenizer on these text files");
  auto* tokf = sub->add_option("--tokenizer", o->tokenizer_model, "Copy this tokenizer.model instead")
                   ->check(CLI::ExistingFile);
  corpus->excludes(tokf);
  sub->add_option("--tokenizer-vocab", o->tokenizer_vocab_size, "Pieces of the trained tokenizer")
      ->capture_default_str();
  sub->add_option("--store-dtype", o->dtype, "dtype of the saved weights: fp32 | bf16 | fp16")->capture_default_str();
  sub->add_option("--init-std", o->init_std, "Std of the normal weight init (HF initializer_range)")
      ->capture_default_str();
  sub->footer("Presets:" + presets +
              "\nExamples:\n"
              "  loratune init --out tiny-model --corpus notes.txt\n"
              "  loratune init --out qwen3-test --arch qwen3 --preset tiny --head-dim 32 --corpus a.txt b.txt\n"
              "  loratune init --out smol --preset smollm2-135m --vocab-size 49152 --tokenizer other/tokenizer.model");
  sub->callback([&g, &action, o, tie] { action = [&g, o, tie] { return run(g, *o, *tie); }; });
}

}  // namespace loratune::cli
