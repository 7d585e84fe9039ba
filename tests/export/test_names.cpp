// The HF <-> GGUF <-> PEFT name table, both ways, on every tensor of every architecture's fixture model.
#include <catch2/catch.hpp>

#include <set>

#include "core/error.h"
#include "export/names.h"
#include "model/loader.h"
#include "test_util.h"

using namespace loratune;
using namespace loratune::exporter;
using Catch::Matchers::Contains;

TEST_CASE("every HF tensor maps to a GGUF name and back", "[export][names]") {
  for (const char* name : {"llama3_rope", "llama_gqa_headdim", "llama_tied_linear", "mistral_sliding", "qwen2", "qwen3"}) {
    SECTION(name) {
      auto lm = load_model(lt_test::fixture(std::string("models/") + name), {"cpu", "fp32"});
      std::set<std::string> gguf_names;
      for (const auto& [hf, t] : model_state(lm.model)) {
        const std::string g = gguf_tensor_name(hf);
        INFO(hf << " -> " << g);
        CHECK(g.size() <= 63);
        CHECK(hf_tensor_name(g) == hf);
        CHECK(gguf_names.insert(g).second);  // one GGUF name per HF tensor
      }
      CHECK(gguf_names.count("token_embd.weight"));
      CHECK(gguf_names.count("output_norm.weight"));
      CHECK(gguf_names.count("blk.1.ffn_down.weight"));
      CHECK(gguf_names.count("output.weight") == (lm.hp.tie_word_embeddings ? 0u : 1u));
    }
  }
}

TEST_CASE("the table gives llama.cpp's names", "[export][names]") {
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
    CHECK(gguf_tensor_name(hf) == gguf);
    CHECK(hf_tensor_name(gguf) == hf);
  }
  CHECK(rope_permute_of("model.layers.0.self_attn.q_proj.weight") == RopePermute::QueryHeads);
  CHECK(rope_permute_of("model.layers.0.self_attn.q_proj.bias") == RopePermute::QueryHeads);
  CHECK(rope_permute_of("model.layers.0.self_attn.k_proj.weight") == RopePermute::KeyHeads);
  CHECK(rope_permute_of("model.layers.0.self_attn.v_proj.weight") == RopePermute::None);
  CHECK(rope_permute_of("model.layers.0.self_attn.q_norm.weight") == RopePermute::None);
}

TEST_CASE("unknown names are refused, never guessed", "[export][names]") {
  for (const char* bad : {"model.layers.0.self_attn.qkv_proj.weight", "model.layers.x.mlp.up_proj.weight",
                          "model.layers.01.mlp.up_proj.weight", "model.layers..mlp.up_proj.weight",
                          "model.embed_tokens.scale", "vision_tower.weight", "lm_head"}) {
    INFO(bad);
    CHECK_FALSE(find_gguf_tensor_name(bad));
  }
  CHECK_THROWS_WITH(gguf_tensor_name("model.layers.0.mlp.experts.weight"),
                    Contains("'model.layers.0.mlp.experts.weight' has no GGUF name"));
  CHECK_THROWS_WITH(hf_tensor_name("blk.0.ffn_gate_exps.weight"), Contains("'blk.0.ffn_gate_exps.weight'"));
  CHECK_FALSE(find_hf_tensor_name("rope_freqs.weight"));  // GGUF-only
}

TEST_CASE("LoRA tensor names: PEFT and GGUF, both ways", "[export][names]") {
  const std::string path = "model.layers.2.self_attn.q_proj";
  CHECK(peft_tensor_name(path, LoraMatrix::A) == "base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight");
  CHECK(peft_tensor_name(path, LoraMatrix::B) == "base_model.model.model.layers.2.self_attn.q_proj.lora_B.weight");
  CHECK(gguf_lora_tensor_name(path, LoraMatrix::A) == "blk.2.attn_q.weight.lora_a");
  CHECK(gguf_lora_tensor_name("model.layers.0.mlp.down_proj", LoraMatrix::B) == "blk.0.ffn_down.weight.lora_b");
  for (LoraMatrix m : {LoraMatrix::A, LoraMatrix::B}) {
    CHECK(parse_peft_tensor_name(peft_tensor_name(path, m)) == LoraTensorName{path, m});
    CHECK(parse_gguf_lora_tensor_name(gguf_lora_tensor_name(path, m)) == LoraTensorName{path, m});
  }
  CHECK_FALSE(parse_peft_tensor_name("model.layers.2.self_attn.q_proj.lora_A.weight"));  // no PEFT prefix
  CHECK_FALSE(parse_peft_tensor_name("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector"));
  CHECK_FALSE(parse_gguf_lora_tensor_name("blk.0.attn_q.weight"));
  CHECK_FALSE(parse_gguf_lora_tensor_name("blk.0.attn_norm.bias.lora_a"));
  CHECK_FALSE(parse_gguf_lora_tensor_name("blk.0.attn_qkv.weight.lora_a"));
}
