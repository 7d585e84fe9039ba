#include <catch2/catch.hpp>

#include "core/error.h"
#include "model/hparams.h"
#include "test_util.h"

using namespace loratune;
using Catch::Matchers::Contains;

namespace {
std::string base_json(const std::string& extra) {
  return R"({"model_type": "llama", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
             "num_hidden_layers": 2, "num_attention_heads": 4)" + extra + "}";
}
}  // namespace

TEST_CASE("config.json parsing follows the HF defaults", "[model][hparams]") {
  SECTION("defaults: kv heads = heads, head_dim = hidden/heads, theta 10000, untied") {
    auto hp = parse_hf_config(base_json(""), "config.json");
    CHECK(hp.arch == Arch::Llama);
    CHECK(hp.num_kv_heads == 4);
    CHECK(hp.head_dim == 16);
    CHECK(hp.rope.theta == 10000.0);
    CHECK(hp.rope.type == RopeType::Default);
    CHECK_FALSE(hp.tie_word_embeddings);
    CHECK(hp.eos_token_ids.empty());
  }
  SECTION("null keys mean the default") {
    auto hp = parse_hf_config(base_json(R"(, "num_key_value_heads": null, "head_dim": null, "rope_scaling": null)"), "c");
    CHECK(hp.num_kv_heads == 4);
    CHECK(hp.head_dim == 16);
  }
  SECTION("eos_token_id as int or list") {
    CHECK(parse_hf_config(base_json(R"(, "eos_token_id": 7)"), "c").eos_token_ids == std::vector<int64_t>{7});
    CHECK(parse_hf_config(base_json(R"(, "eos_token_id": [2, 9])"), "c").eos_token_ids == std::vector<int64_t>{2, 9});
  }
  SECTION("rope_scaling llama3 and linear; v5 rope_parameters") {
    auto hp = parse_hf_config(base_json(R"(, "rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3",
        "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})"), "c");
    CHECK(hp.rope.type == RopeType::Llama3);
    CHECK(hp.rope.factor == 32.0);
    CHECK(hp.rope.theta == 500000.0);
    auto lin = parse_hf_config(base_json(R"(, "rope_scaling": {"type": "linear", "factor": 4.0})"), "c");
    CHECK(lin.rope.type == RopeType::Linear);
    CHECK(lin.rope.factor == 4.0);
    auto v5 = parse_hf_config(base_json(R"(, "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0})"), "c");
    CHECK(v5.rope.type == RopeType::Default);
    CHECK(v5.rope.theta == 1000000.0);
  }
  SECTION("architecture-specific biases and norms") {
    auto q2 = parse_hf_config(base_json(R"(, "model_type": "qwen2", "attention_bias": false)"), "c");
    CHECK(q2.arch == Arch::Qwen2);
    CHECK(q2.qkv_bias);
    CHECK_FALSE(q2.o_bias);
    auto q3 = parse_hf_config(base_json(R"(, "model_type": "qwen3", "head_dim": 32)"), "c");
    CHECK(q3.qk_norm);
    CHECK(q3.head_dim == 32);
    auto mi = parse_hf_config(base_json(R"(, "model_type": "mistral", "sliding_window": 4096)"), "c");
    CHECK(mi.sliding_window == 4096);
  }
  SECTION("architecture from the architectures list when model_type is absent") {
    auto hp = parse_hf_config(R"({"architectures": ["Qwen3ForCausalLM"], "vocab_size": 10, "hidden_size": 8,
        "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2})", "c");
    CHECK(hp.arch == Arch::Qwen3);
  }
  SECTION("hf_config_json round trips") {
    auto hp = parse_hf_config(base_json(R"(, "num_key_value_heads": 2, "tie_word_embeddings": true, "eos_token_id": [2, 3],
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64})"), "c");
    auto again = parse_hf_config(hf_config_json(hp), "c2");
    CHECK(again.num_kv_heads == 2);
    CHECK(again.tie_word_embeddings);
    CHECK(again.eos_token_ids == hp.eos_token_ids);
    CHECK(again.rope.type == RopeType::Llama3);
    CHECK(again.rope.original_max_position_embeddings == 64);
    CHECK(again.num_parameters() == hp.num_parameters());
  }
}

TEST_CASE("unsupported or inconsistent configs are refused clearly", "[model][hparams]") {
  auto err = [](const std::string& json) -> std::string {
    try {
      parse_hf_config(json, "/m/config.json");
    } catch (const Error& e) {
      CHECK(e.kind() == ExitCode::Usage);
      return e.message() + " | " + e.hint();
    }
    FAIL("expected an error");
    return {};
  };
  CHECK_THAT(err(R"({"model_type": "gpt2"})"), Contains("/m/config.json") && Contains("gpt2") && Contains("llama"));
  CHECK_THAT(err(base_json(R"(, "rope_scaling": {"rope_type": "yarn", "factor": 4.0})")), Contains("yarn"));
  CHECK_THAT(err(base_json(R"(, "rope_scaling": {"rope_type": "dynamic", "factor": 4.0})")), Contains("not supported"));
  CHECK_THAT(err(base_json(R"(, "num_key_value_heads": 3)")), Contains("multiple"));
  CHECK_THAT(err(base_json(R"(, "eos_token_id": "x")")), Contains("eos_token_id"));
  CHECK_THAT(err(R"({"model_type": "llama", "hidden_size": 8})"), Contains("vocab_size"));
  CHECK_THAT(err(base_json(R"(, "model_type": "qwen2", "use_sliding_window": true, "sliding_window": 16)")),
             Contains("sliding"));
  CHECK_THAT(err("{not json"), Contains("invalid JSON"));
}
