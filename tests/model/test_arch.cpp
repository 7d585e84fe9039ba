// The architecture table (model/arch.h), both ways: HF <-> GGUF tensor names on every tensor of every
// architecture's fixture model, GGUF metadata keys, PEFT names, the module list that drives the model and
// LoRA planning, and refusals of names the table does not know.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "model/arch.h"
#include "model/hparams.h"
#include "model/loader.h"
#include "test_util.h"

using namespace loratune;
using Catch::Matchers::Contains;

namespace {
const std::pair<const char*, Arch> kFixtures[] = {
    {"llama3_rope", Arch::Llama}, {"llama_gqa_headdim", Arch::Llama}, {"llama_tied_linear", Arch::Llama},
    {"mistral_sliding", Arch::Mistral}, {"qwen2", Arch::Qwen2}, {"qwen3", Arch::Qwen3}};
}  // namespace

TEST_CASE("every HF tensor maps to a GGUF name and back", "[model][arch]") {
  for (const auto& [name, arch] : kFixtures) {
    SECTION(name) {
      auto lm = load_model(lt_test::fixture(std::string("models/") + name), LoadOptions::cpu());
      REQUIRE(lm.hp.arch == arch);
      std::set<std::string> gguf_names;
      for (const auto& [hf, t] : model_state(lm.model)) {
        const std::string g = gguf_tensor_name(arch, hf);
        INFO(hf << " -> " << g);
        CHECK(g.size() <= 63);
        CHECK(hf_tensor_name(arch, g) == hf);
        CHECK(gguf_names.insert(g).second);  // one GGUF name per HF tensor
      }
      CHECK(gguf_names.count("token_embd.weight"));
      CHECK(gguf_names.count("output_norm.weight"));
      CHECK(gguf_names.count("blk.1.ffn_down.weight"));
      CHECK(gguf_names.count("output.weight") == (lm.hp.tie_word_embeddings ? 0u : 1u));
      CHECK(gguf_names.count("blk.0.attn_q_norm.weight") == (arch == Arch::Qwen3 ? 1u : 0u));
    }
  }
}

TEST_CASE("the table gives llama.cpp's names", "[model][arch]") {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
      {"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"},
      {"model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight"},
      {"model.layers.0.self_attn.q_proj.bias", "blk.0.attn_q.bias"},
      {"model.layers.11.self_attn.k_proj.weight", "blk.11.attn_k.weight"},
      {"model.layers.3.self_attn.v_proj.bias", "blk.3.attn_v.bias"},
      {"model.layers.3.self_attn.o_proj.weight", "blk.3.attn_output.weight"},
      {"model.layers.3.self_attn.q_norm.weight", "blk.3.attn_q_norm.weight"},
      {"model.layers.3.self_attn.k_norm.weight", "blk.3.attn_k_norm.weight"},
      {"model.layers.3.post_attention_layernorm.weight", "blk.3.ffn_norm.weight"},
      {"model.layers.3.mlp.gate_proj.weight", "blk.3.ffn_gate.weight"},
      {"model.layers.3.mlp.up_proj.weight", "blk.3.ffn_up.weight"},
      {"model.layers.127.mlp.down_proj.weight", "blk.127.ffn_down.weight"},
  };
  for (const auto& [hf, gguf] : pairs) {
    CHECK(gguf_tensor_name(Arch::Qwen3, hf) == gguf);
    CHECK(hf_tensor_name(Arch::Qwen3, gguf) == hf);
  }
  for (Arch a : {Arch::Llama, Arch::Mistral, Arch::Qwen2, Arch::Qwen3}) {
    INFO(arch_name(a));
    CHECK(rope_permute_of(a, "model.layers.0.self_attn.q_proj.weight") == RopePermute::QueryHeads);
    CHECK(rope_permute_of(a, "model.layers.0.self_attn.q_proj.bias") == RopePermute::QueryHeads);
    CHECK(rope_permute_of(a, "model.layers.0.self_attn.k_proj.weight") == RopePermute::KeyHeads);
    CHECK(rope_permute_of(a, "model.layers.0.self_attn.v_proj.weight") == RopePermute::None);
  }
  CHECK(rope_permute_of(Arch::Qwen3, "model.layers.0.self_attn.q_norm.weight") == RopePermute::None);
}

TEST_CASE("unknown names are refused, never guessed", "[model][arch]") {
  for (const char* bad : {"model.layers.0.self_attn.qkv_proj.weight", "model.layers.x.mlp.up_proj.weight",
                          "model.layers.01.mlp.up_proj.weight", "model.layers..mlp.up_proj.weight",
                          "model.embed_tokens.scale", "vision_tower.weight", "lm_head"}) {
    INFO(bad);
    CHECK_FALSE(find_gguf_tensor_name(Arch::Llama, bad));
  }
  CHECK_THROWS_WITH(gguf_tensor_name(Arch::Llama, "model.layers.0.mlp.experts.weight"),
                    Contains("'model.layers.0.mlp.experts.weight' has no GGUF name"));
  CHECK_THROWS_WITH(hf_tensor_name(Arch::Llama, "blk.0.ffn_gate_exps.weight"), Contains("'blk.0.ffn_gate_exps.weight'"));
  CHECK_FALSE(find_hf_tensor_name(Arch::Llama, "rope_freqs.weight"));  // GGUF-only
  // q/k norms exist in qwen3 only: for the others they are unknown names both ways.
  for (Arch a : {Arch::Llama, Arch::Mistral, Arch::Qwen2}) {
    CHECK_FALSE(find_gguf_tensor_name(a, "model.layers.0.self_attn.q_norm.weight"));
    CHECK_FALSE(find_hf_tensor_name(a, "blk.0.attn_k_norm.weight"));
  }
}

TEST_CASE("LoRA tensor names: PEFT and GGUF, both ways", "[model][arch]") {
  const std::string path = "model.layers.2.self_attn.q_proj";
  CHECK(peft_tensor_name(path, LoraMatrix::A) == "base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight");
  CHECK(peft_tensor_name(path, LoraMatrix::B) == "base_model.model.model.layers.2.self_attn.q_proj.lora_B.weight");
  CHECK(lora_parameter_name(path, LoraMatrix::A) == "model.layers.2.self_attn.q_proj.lora_A.weight");
  CHECK(gguf_lora_tensor_name(Arch::Llama, path, LoraMatrix::A) == "blk.2.attn_q.weight.lora_a");
  CHECK(gguf_lora_tensor_name(Arch::Qwen2, "model.layers.0.mlp.down_proj", LoraMatrix::B) == "blk.0.ffn_down.weight.lora_b");
  for (LoraMatrix m : {LoraMatrix::A, LoraMatrix::B}) {
    CHECK(parse_peft_tensor_name(peft_tensor_name(path, m)) == LoraTensorName{path, m});
    CHECK(parse_peft_tensor_name_lenient(peft_tensor_name(path, m)) == LoraTensorName{path, m});
    CHECK(parse_peft_tensor_name_lenient(lora_parameter_name(path, m)) == LoraTensorName{path, m});
    CHECK(parse_gguf_lora_tensor_name(Arch::Llama, gguf_lora_tensor_name(Arch::Llama, path, m)) == LoraTensorName{path, m});
  }
  CHECK(parse_peft_tensor_name_lenient("base_model.model." + path + ".lora_B.default.weight") ==
        LoraTensorName{path, LoraMatrix::B});
  CHECK_FALSE(parse_peft_tensor_name("model.layers.2.self_attn.q_proj.lora_A.weight"));  // no PEFT prefix
  CHECK_FALSE(parse_peft_tensor_name("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector"));
  CHECK_FALSE(parse_peft_tensor_name_lenient("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector"));
  CHECK_FALSE(parse_peft_tensor_name_lenient("model.layers.0.self_attn.q_proj.weight"));
  CHECK_FALSE(parse_gguf_lora_tensor_name(Arch::Llama, "blk.0.attn_q.weight"));
  CHECK_FALSE(parse_gguf_lora_tensor_name(Arch::Llama, "blk.0.attn_norm.bias.lora_a"));
  CHECK_FALSE(parse_gguf_lora_tensor_name(Arch::Llama, "blk.0.attn_qkv.weight.lora_a"));
  // Every decoder Linear of every architecture: PEFT and GGUF LoRA names round-trip.
  for (const auto& info : arch_table())
    for (const auto& m : decoder_linears(info.arch))
      for (LoraMatrix f : {LoraMatrix::A, LoraMatrix::B}) {
        const std::string p = layer_module_path(m, 5);
        INFO(info.name << " " << p);
        CHECK(parse_peft_tensor_name(peft_tensor_name(p, f)) == LoraTensorName{p, f});
        CHECK(parse_gguf_lora_tensor_name(info.arch, gguf_lora_tensor_name(info.arch, p, f)) == LoraTensorName{p, f});
      }
}

TEST_CASE("GGUF metadata keys round-trip", "[model][arch]") {
  std::set<std::string> seen;
  for (const auto& info : arch_table()) {
    for (GgufKey k : all_gguf_keys()) {
      const std::string key = gguf_key(k, info.gguf_name);
      INFO(key);
      CHECK(parse_gguf_key(key, info.gguf_name) == k);
      CHECK(key.find("%s") == std::string::npos);
      if (gguf_key_has_arch(k)) CHECK(key.rfind(std::string(info.gguf_name) + ".", 0) == 0);
      else CHECK(gguf_key(k) == key);
      seen.insert(key);
    }
  }
  CHECK(gguf_key(GgufKey::ContextLength, "qwen2") == "qwen2.context_length");
  CHECK(gguf_key(GgufKey::RmsEps, "llama") == "llama.attention.layer_norm_rms_epsilon");
  CHECK(gguf_key(GgufKey::TokenizerBosId) == "tokenizer.ggml.bos_token_id");
  CHECK(gguf_key(GgufKey::AdapterLoraAlpha) == "adapter.lora.alpha");
  CHECK_FALSE(parse_gguf_key("llama.context_length", "qwen2"));
  CHECK_FALSE(parse_gguf_key("llama.rope.scaling.yarn_log_multiplier", "llama"));
  CHECK_THROWS(gguf_key(GgufKey::BlockCount));  // needs the architecture
}

TEST_CASE("the architecture entries", "[model][arch]") {
  CHECK(supported_archs() == std::vector<std::string>{"llama", "mistral", "qwen2", "qwen3"});
  for (const auto& info : arch_table()) {
    INFO(info.name);
    CHECK(&arch_info(info.arch) == &info);
    CHECK(find_arch(info.name) == info.arch);
    CHECK(find_arch_by_hf_class(info.hf_class) == info.arch);
    // The seven decoder Linears, in model order, for every architecture (what LoRA's all-linear means).
    CHECK(decoder_linear_names(info.arch) ==
          std::vector<std::string>{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"});
  }
  CHECK_FALSE(find_arch("gpt2"));
  CHECK_FALSE(find_arch_by_hf_class("GPT2LMHeadModel"));
  CHECK(std::string(arch_info(Arch::Mistral).gguf_name) == "llama");
  CHECK(arch_info(Arch::Llama).gguf_rope == RopeStyle::Norm);
  CHECK(arch_info(Arch::Qwen2).gguf_rope == RopeStyle::Neox);
  CHECK(arch_info(Arch::Qwen3).qk_norm);
}

TEST_CASE("the table's modules are the model's modules", "[model][arch]") {
  for (const auto& [name, arch] : kFixtures) {
    SECTION(name) {
      auto lm = load_model(lt_test::fixture(std::string("models/") + name), LoadOptions::cpu());
      // Every parameter of layer 0, in order, is a table module's weight/bias with the table's shape.
      std::vector<std::string> want;
      for (const auto& m : arch_info(arch).layer_modules) {
        const std::string p = layer_module_path(m, 0);
        want.push_back(p + ".weight");
        if (m.linear && has_bias(lm.hp, m.bias)) want.push_back(p + ".bias");
      }
      std::vector<std::string> got;
      std::map<std::string, std::vector<int64_t>> shapes;
      for (const auto& p : lm.model->named_parameters(true)) {
        if (p.key().rfind("model.layers.0.", 0) != 0) continue;
        got.push_back(p.key());
        shapes[p.key()] = std::vector<int64_t>(p.value().sizes().begin(), p.value().sizes().end());
      }
      std::sort(want.begin(), want.end());
      std::sort(got.begin(), got.end());
      CHECK(got == want);
      for (const auto& m : decoder_linears(arch)) {
        const std::string w = layer_module_path(m, 0) + ".weight";
        CHECK(shapes[w] == std::vector<int64_t>{dim_of(lm.hp, m.out), dim_of(lm.hp, m.in)});
      }
    }
  }
}

TEST_CASE("HF companion files: one list, copied when present", "[model][arch]") {
  const auto& files = hf_companion_files();
  for (const char* f : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                        "added_tokens.json", "chat_template.jinja", "chat_template.json", "generation_config.json"})
    CHECK(std::find(files.begin(), files.end(), f) != files.end());
  CHECK(std::find(files.begin(), files.end(), "config.json") == files.end());  // rewritten, not copied
  lt_test::TempDir tmp;
  std::filesystem::create_directories(tmp.file("from"));
  std::filesystem::create_directories(tmp.file("to"));
  lt_test::write_file(tmp.file("from/chat_template.json"), "{\"chat_template\": \"x\"}");
  lt_test::write_file(tmp.file("from/tokenizer.model"), std::string("\0\1bin", 5));
  lt_test::write_file(tmp.file("from/model.safetensors"), "not copied");
  const auto copied = copy_hf_companions(tmp.file("from"), tmp.file("to"));
  CHECK(copied == std::vector<std::string>{"tokenizer.model", "chat_template.json"});
  CHECK(lt_test::read_file(tmp.file("to/chat_template.json")) == "{\"chat_template\": \"x\"}");
  CHECK(lt_test::read_file(tmp.file("to/tokenizer.model")) == std::string("\0\1bin", 5));
  CHECK_FALSE(std::ifstream(tmp.file("to/model.safetensors")).good());
}
