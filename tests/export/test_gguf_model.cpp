// HF <-> GGUF full models: the q/k permutation and its inverse (by hand and by what it means for RoPE), llama3
// rope_freqs, storage types, metadata key types, the vocabulary, exact round trips per tensor type, and the
// refusals (no byte pieces, qwen2 with another head_dim).
#include <catch2/catch.hpp>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "export/gguf_model.h"
#include "export_helpers.h"
#include "model/llama.h"
#include "model/loader.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

using namespace loratune;
using namespace loratune::exporter;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// HF RoPE on one head vector q [hd]: pairs (i, i + hd/2) rotated by pos * inv[i].
torch::Tensor hf_rope(const torch::Tensor& q, const torch::Tensor& inv, double pos) {
  const int64_t half = q.size(0) / 2;
  auto ang = inv.to(torch::kFloat64) * pos;
  auto x1 = q.slice(0, 0, half), x2 = q.slice(0, half);
  return torch::cat({x1 * ang.cos() - x2 * ang.sin(), x2 * ang.cos() + x1 * ang.sin()});
}

// llama.cpp's "llama" (normal, non-NEOX) RoPE: pairs (2i, 2i+1) rotated by pos * inv[i].
torch::Tensor interleaved_rope(const torch::Tensor& q, const torch::Tensor& inv, double pos) {
  auto pairs = q.view({-1, 2});
  auto ang = inv.to(torch::kFloat64) * pos;
  auto a = pairs.select(1, 0), b = pairs.select(1, 1);
  return torch::stack({a * ang.cos() - b * ang.sin(), b * ang.cos() + a * ang.sin()}, 1).reshape({-1});
}

}  // namespace

TEST_CASE("the llama q/k permutation: hand example, inverse, and RoPE equivalence", "[export][gguf]") {
  SECTION("rows of each head are interleaved: [0 1 2 3] -> [0 2 1 3]") {
    auto w = torch::arange(8, torch::kFloat32).view({8, 1});  // 2 heads of head_dim 4, in = 1
    auto p = permute_for_llama_rope(w, 2);
    CHECK(torch::equal(p.view({8}), torch::tensor({0, 2, 1, 3, 4, 6, 5, 7}, torch::kFloat32)));
    auto w6 = torch::arange(12, torch::kFloat32);  // 1-D (a bias), 2 heads of 6
    CHECK(torch::equal(permute_for_llama_rope(w6, 2), torch::tensor({0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11}, torch::kFloat32)));
  }
  SECTION("unpermute inverts permute for every head count and shape") {
    torch::manual_seed(3);
    for (int64_t heads : {1, 2, 4, 8}) {
      for (int64_t hd : {2, 8, 16}) {
        auto w = torch::randn({heads * hd, 5});
        auto p = permute_for_llama_rope(w, heads);
        if (hd > 2) CHECK_FALSE(torch::equal(p, w));
        CHECK(torch::equal(unpermute_from_llama_rope(p, heads), w));
        CHECK(torch::equal(permute_for_llama_rope(unpermute_from_llama_rope(w, heads), heads), w));
        auto b = torch::randn({heads * hd});
        CHECK(torch::equal(unpermute_from_llama_rope(permute_for_llama_rope(b, heads), heads), b));
      }
    }
  }
  SECTION("interleaved RoPE on permuted rows equals HF RoPE on the original rows") {
    // q_gguf = P q_hf; llama.cpp rotates q_gguf in pairs (2i, 2i+1); that must be P applied to HF's rotation.
    // fp64 throughout: only rounding of the same products (1e-12).
    const int64_t hd = 16;
    auto inv = 1.0 / torch::pow(10000.0, torch::arange(0, hd, 2, torch::kFloat64) / hd);
    torch::manual_seed(5);
    for (double pos : {0.0, 1.0, 7.0, 1000.0}) {
      auto q = torch::randn({hd}, torch::kFloat64);
      auto lhs = interleaved_rope(permute_for_llama_rope(q, 1), inv, pos);
      auto rhs = permute_for_llama_rope(hf_rope(q, inv, pos), 1);
      CHECK((lhs - rhs).abs().max().item<double>() < 1e-12);
      // And the permutation is the one that matters: without it the rotations differ.
      if (pos > 0) CHECK((interleaved_rope(q, inv, pos) - hf_rope(q, inv, pos)).abs().max().item<double>() > 1e-3);
    }
  }
  SECTION("to/from_gguf_rows follow the architecture") {
    ModelHParams hp;
    hp.num_heads = 4;
    hp.num_kv_heads = 2;
    hp.head_dim = 8;
    auto q = torch::randn({32, 3}), k = torch::randn({16, 3});
    const GgufArch llama{Arch::Llama, "llama", true}, qwen{Arch::Qwen3, "qwen3", false};
    CHECK(torch::equal(to_gguf_rows(q, RopePermute::QueryHeads, hp, llama), permute_for_llama_rope(q, 4)));
    CHECK(torch::equal(to_gguf_rows(k, RopePermute::KeyHeads, hp, llama), permute_for_llama_rope(k, 2)));
    CHECK(torch::equal(to_gguf_rows(q, RopePermute::QueryHeads, hp, qwen), q));
    CHECK(torch::equal(from_gguf_rows(to_gguf_rows(k, RopePermute::KeyHeads, hp, llama), RopePermute::KeyHeads, hp, llama), k));
  }
}

TEST_CASE("llama3 rope_freqs reproduce the model's scaled frequencies", "[export][gguf]") {
  auto hp = load_hparams(lt_test::fixture("models/llama3_rope"));
  REQUIRE(hp.rope.type == RopeType::Llama3);
  const auto freqs = llama3_rope_freqs(hp);
  REQUIRE(static_cast<int64_t>(freqs.size()) == hp.head_dim / 2);
  // llama.cpp divides the unscaled frequency by the factor; that must equal HF's scaled inv_freq.
  ModelHParams plain = hp;
  plain.rope.type = RopeType::Default;
  auto base = rope_inv_freq(plain).to(torch::kFloat64);
  auto scaled = rope_inv_freq(hp).to(torch::kFloat64);
  auto f = torch::tensor(std::vector<double>(freqs.begin(), freqs.end()), torch::kFloat64);
  const double rel = ((base / f - scaled) / scaled).abs().max().item<double>();
  INFO("max relative difference " << rel);
  CHECK(rel < 1e-6);  // fp32 rounding of the factors and of HF's fp32 inv_freq
  CHECK(freqs.front() == 1.0f);               // highest frequency: unscaled
  CHECK(freqs.back() == static_cast<float>(hp.rope.factor));  // lowest: divided by the factor
}

TEST_CASE("storage types follow llama.cpp's converter", "[export][gguf]") {
  CHECK(storage_type({64}, io::GgmlType::Q8_0) == io::GgmlType::F32);   // norms / biases stay F32
  CHECK(storage_type({64}, io::GgmlType::F16) == io::GgmlType::F32);
  CHECK(storage_type({96, 64}, io::GgmlType::Q8_0) == io::GgmlType::Q8_0);
  CHECK(storage_type({64, 172}, io::GgmlType::Q8_0) == io::GgmlType::F16);  // rows of 172: not whole blocks
  CHECK(storage_type({96, 64}, io::GgmlType::BF16) == io::GgmlType::BF16);
  CHECK(gguf_file_type(io::GgmlType::F32) == 0);
  CHECK(gguf_file_type(io::GgmlType::F16) == 1);
  CHECK(gguf_file_type(io::GgmlType::Q8_0) == 7);
  CHECK(gguf_file_type(io::GgmlType::BF16) == 32);
  CHECK(gguf_ne({3, 5}) == std::vector<int64_t>{5, 3});
}

TEST_CASE("GGUF full models round trip per architecture and type", "[export][gguf]") {
  lt_test::TempDir tmp("lt-gguf-model");
  struct Case {
    const char* arch;
    int64_t kv_heads, head_dim;
    bool tie;
  };
  for (const Case& c : {Case{"llama", 2, 0, false}, Case{"llama", 1, 24, true}, Case{"mistral", 4, 0, false},
                        Case{"qwen2", 2, 0, true}, Case{"qwen3", 2, 32, false}}) {
    SECTION(std::string(c.arch) + " kv " + std::to_string(c.kv_heads) + " hd " + std::to_string(c.head_dim)) {
      auto o = export_test::arch_options(c.arch);
      o.num_kv_heads = c.kv_heads;
      o.head_dim = c.head_dim;
      o.tie_embeddings = c.tie ? 1 : 0;
      o.vocab_size = 420;  // 20 rows beyond the tokenizer: [PAD] pieces
      const std::string dir = tmp.file(std::string(c.arch) + "-model");
      export_test::make_model(dir, o);
      export_test::set_json_key(dir + "/tokenizer_config.json", "chat_template", "\"{{ messages }}\"");
      Tokenizer tok = Tokenizer::from_model_dir(dir);
      auto lm = load_model(dir, LoadOptions::cpu());
      const auto state = model_state(lm.model);

      for (io::GgmlType type : {io::GgmlType::F32, io::GgmlType::F16, io::GgmlType::BF16, io::GgmlType::Q8_0}) {
        const std::string path = tmp.file(std::string(c.arch) + "-" + io::ggml_type_name(type) + ".gguf");
        write_gguf_model(path, state, lm.hp, tok, type, "m", dir);
        auto f = io::GgufFile::open(path);
        const auto back = read_gguf_model(*f, lm.hp, tok);
        REQUIRE(back.size() == state.size());
        for (size_t i = 0; i < state.size(); ++i) {
          INFO(state[i].first << " as " << io::ggml_type_name(type));
          REQUIRE(back[i].first == state[i].first);
          const auto& want = state[i].second;
          const auto& got = back[i].second;
          REQUIRE(got.sizes() == want.sizes());
          const auto stored = storage_type(std::vector<int64_t>(want.sizes().begin(), want.sizes().end()), type);
          const auto& ti = f->tensor(gguf_tensor_name(lm.hp.arch, state[i].first));
          CHECK(ti.type == stored);
          if (stored == io::GgmlType::F32) {
            CHECK(torch::equal(got, want));
          } else if (stored == io::GgmlType::F16) {
            CHECK(torch::equal(got, want.to(torch::kHalf).to(torch::kFloat32)));  // torch rounds to nearest even too
          } else if (stored == io::GgmlType::BF16) {
            CHECK(torch::equal(got, want.to(torch::kBFloat16).to(torch::kFloat32)));
          } else {
            // Q8_0: each element within half a quantisation step (d/2 = max|block|/254) plus the f16 rounding
            // of d times |q| <= 127 (127 * d * 2^-11 = max|block| / 2048).
            auto blocks = want.reshape({-1, 32});
            auto bound = blocks.abs().amax(1, true) * (1.0 / 254 + 1.0 / 2048) + 1e-7;
            CHECK(((got.reshape({-1, 32}) - blocks).abs() <= bound).all().item<bool>());
          }
        }
        if (type == io::GgmlType::F32) {
          const std::string a = f->get_string("general.architecture");
          CHECK(a == (std::string(c.arch) == "mistral" ? "llama" : c.arch));
          for (const char* key : {".context_length", ".embedding_length", ".block_count", ".feed_forward_length",
                                  ".attention.head_count", ".attention.head_count_kv", ".rope.dimension_count",
                                  ".attention.key_length", ".vocab_size"})
            CHECK(f->at(a + key, io::GgufType::U32).type() == io::GgufType::U32);
          CHECK(f->get_u32(a + ".attention.key_length") == lm.hp.head_dim);
          CHECK(f->at(a + ".rope.freq_base", io::GgufType::F32).as_float() == 10000.0);
          CHECK(f->at(a + ".attention.layer_norm_rms_epsilon", io::GgufType::F32).type() == io::GgufType::F32);
          CHECK(f->get_u32("general.file_type") == 0);
          CHECK(f->find("general.quantization_version") == nullptr);
          CHECK((f->find_tensor("output.weight") == nullptr) == c.tie);
          const auto& tokens = f->get_array("tokenizer.ggml.tokens", io::GgufType::String);
          REQUIRE(tokens.size() == 420);
          CHECK(tokens[0].as_string() == "<unk>");
          CHECK(tokens[3].as_string() == "<0x00>");
          CHECK(tokens[410].as_string() == "[PAD410]");
          CHECK(f->get_array("tokenizer.ggml.token_type", io::GgufType::I32)[410].as_int() == 5);
          CHECK(f->get_array("tokenizer.ggml.token_type", io::GgufType::I32)[3].as_int() == 6);
          CHECK(f->get_array("tokenizer.ggml.scores", io::GgufType::F32)[410].as_float() == -10000.0);
          CHECK(f->get_string("tokenizer.ggml.model") == "llama");
          CHECK(f->get_u32("tokenizer.ggml.bos_token_id") == 1);
          CHECK(f->get_u32("tokenizer.ggml.eos_token_id") == 2);
          CHECK(f->get_u32("tokenizer.ggml.unknown_token_id") == 0);
          CHECK(f->find("tokenizer.ggml.padding_token_id") == nullptr);
          CHECK(f->get_bool("tokenizer.ggml.add_bos_token"));
          CHECK_FALSE(f->get_bool("tokenizer.ggml.add_eos_token"));
          CHECK(f->get_string("tokenizer.chat_template") == "{{ messages }}");
          const bool permuted = a == "llama";
          const auto& q = f->tensor("blk.0.attn_q.weight");
          auto q_file = torch::from_blob(const_cast<uint8_t*>(q.data), {lm.hp.q_dim(), lm.hp.hidden_size}, torch::kFloat32);
          auto q_hf = lm.model->model->layer_list[0]->self_attn->q_proj->weight;
          CHECK(torch::equal(q_file, permuted ? permute_for_llama_rope(q_hf, lm.hp.num_heads) : q_hf));
        }
        if (type == io::GgmlType::Q8_0) {
          CHECK(f->get_u32("general.file_type") == 7);
          CHECK(f->get_u32("general.quantization_version") == 2);
          CHECK(f->tensor("blk.0.ffn_down.weight").type == io::GgmlType::F16);  // rows of 172
          CHECK(f->tensor("blk.0.attn_q.weight").type == io::GgmlType::Q8_0);
          CHECK(f->tensor("blk.0.attn_norm.weight").type == io::GgmlType::F32);
        }
      }
    }
  }
}

TEST_CASE("llama3 RoPE scaling is written as rope_freqs.weight and checked on the way back", "[export][gguf]") {
  lt_test::TempDir tmp("lt-gguf-l3");
  const std::string dir = tmp.file("m");
  export_test::make_model(dir, export_test::arch_options("llama"));
  export_test::set_json_key(dir + "/config.json", "rope_scaling",
                            R"({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0, "original_max_position_embeddings": 64})");
  Tokenizer tok = Tokenizer::from_model_dir(dir);
  auto lm = load_model(dir, LoadOptions::cpu());
  write_gguf_model(tmp.file("l3.gguf"), model_state(lm.model), lm.hp, tok, io::GgmlType::F32, "m", dir);
  auto f = io::GgufFile::open(tmp.file("l3.gguf"));
  const auto& rf = f->tensor("rope_freqs.weight");
  CHECK(rf.type == io::GgmlType::F32);
  CHECK(rf.ne == std::vector<int64_t>{lm.hp.head_dim / 2});
  CHECK(io::ggml_decode(rf.data, rf.numel(), rf.type) == llama3_rope_freqs(lm.hp));
  CHECK(read_gguf_model(*f, lm.hp, tok).size() == model_state(lm.model).size());
  // The same file read against a config without the scaling is caught.
  ModelHParams plain = lm.hp;
  plain.rope.type = RopeType::Default;
  CHECK_THROWS_WITH(read_gguf_model(*f, plain, tok), Contains("rope_freqs.weight"));
}

TEST_CASE("GGUF export refuses what llama.cpp cannot load", "[export][gguf]") {
  lt_test::TempDir tmp("lt-gguf-refuse");
  using lt_test::input_error;
  SECTION("a tokenizer without the 256 byte pieces") {
    TokenizerTrainOptions t;
    t.corpus_files = {lt_test::fixture("text/corpus.txt")};
    t.vocab_size = 200;
    t.byte_fallback = false;
    train_tokenizer(t, tmp.file("nobytes.model"));
    auto o = export_test::arch_options("llama");
    o.out_dir = tmp.file("m");
    o.tokenizer_model = tmp.file("nobytes.model");
    init_model(o);
    Tokenizer tok = Tokenizer::from_model_dir(tmp.file("m"));
    REQUIRE_FALSE(tok.has_byte_fallback());
    auto lm = load_model(tmp.file("m"), LoadOptions::cpu());
    CHECK_THAT(input_error([&] {
                 write_gguf_model(tmp.file("x.gguf"), model_state(lm.model), lm.hp, tok, io::GgmlType::F32, "m",
                                  tmp.file("m"));
               }),
               Contains("tokenizer.model has no byte-fallback pieces") && Contains("{opt:format} merged"));
    CHECK_FALSE(fs::exists(tmp.file("x.gguf")));
  }
  SECTION("qwen2 with head_dim != hidden / heads") {
    auto hp = load_hparams(lt_test::fixture("models/qwen2"));
    hp.head_dim = 16;  // hidden 32 / 4 heads = 8
    CHECK_THAT(input_error([&] { gguf_arch(hp, "q2dir"); }),
               Contains("q2dir: qwen2 with head_dim 16 != hidden_size / heads (32 / 4)"));
    hp.head_dim = 8;
    CHECK(gguf_arch(hp, "q2dir").name == "qwen2");
    CHECK_FALSE(gguf_arch(hp, "q2dir").permute_qk);
  }
  SECTION("llama3 RoPE scaling on qwen3") {
    auto hp = load_hparams(lt_test::fixture("models/qwen3"));
    hp.rope.type = RopeType::Llama3;
    CHECK_THAT(input_error([&] { gguf_arch(hp, "q3dir"); }), Contains("llama3 RoPE scaling on a qwen3 model"));
  }
}
