// LoRA injection, forward, parameter counts, PEFT adapter round trips and merging, on the committed tiny
// checkpoints (tests/fixtures/models). All numerical checks run in fp32 on CPU unless stated.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <functional>
#include <set>

#include "core/error.h"
#include "io/safetensors.h"
#include "lora/lora.h"
#include "lora/peft.h"
#include "model/loader.h"
#include "model/tensor_io.h"
#include "test_util.h"

using namespace loratune;
using Catch::Matchers::Contains;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

CausalLM load(const std::string& name, ComputeDType dtype = ComputeDType::F32) {
  return load_model(lt_test::fixture("models/" + name), LoadOptions::cpu(dtype)).model;
}

torch::Tensor token_ids() {  // [2, 6]; every fixture's vocabulary has >= 96 tokens
  return torch::tensor({1, 5, 9, 17, 33, 2, 60, 7, 81, 44, 3, 90}, torch::kLong).view({2, 6});
}

torch::Tensor logits(CausalLM& m) {  // [2, 6, V], eval mode
  torch::NoGradGuard ng;
  m->eval();
  return m->forward(token_ids());
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// Gives every adapter non-trivial factors (B is zero after init), deterministically.
void randomize_adapters(CausalLM& m, uint64_t seed, double b_std = 0.1) {
  torch::NoGradGuard ng;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& ref : lora_modules(m)) {
    ref.adapter->A().normal_(0.0, 0.2, gen);
    ref.adapter->B().normal_(0.0, b_std, gen);
  }
}

std::vector<std::string> paths(const std::vector<LoraModuleRef>& refs) {
  std::vector<std::string> out;
  for (const auto& r : refs) out.push_back(r.path);
  return out;
}

// The input error `fn` throws: message and hint, separated by a newline.
using lt_test::input_error;

LoraOptions options(std::vector<std::string> targets, int64_t r = 4, double alpha = 8.0) {
  LoraOptions o;
  o.targets = std::move(targets);
  o.r = r;
  o.alpha = alpha;
  return o;
}

json read_json(const std::string& path) { return json::parse(lt_test::read_file(path)); }
void write_json(const std::string& path, const json& j) { lt_test::write_file(path, j.dump(2)); }

// Rewrites <dir>/adapter_model.safetensors through `edit`.
void edit_tensors(const std::string& dir, const std::function<void(std::map<std::string, torch::Tensor>&)>& edit) {
  const std::string file = dir + "/" + kPeftWeightsFile;
  auto tensors = load_safetensors(file);
  edit(tensors);
  std::vector<std::pair<std::string, torch::Tensor>> list(tensors.begin(), tensors.end());
  save_safetensors(file, list, {{"format", "pt"}});
}

// Rewrites <dir>/adapter_config.json through `edit`.
void edit_config(const std::string& dir, const std::function<void(json&)>& edit) {
  json j = read_json(dir + "/" + kPeftConfigFile);
  edit(j);
  write_json(dir + "/" + kPeftConfigFile, j);
}

}  // namespace

TEST_CASE("LoRA at init leaves the outputs unchanged", "[lora]") {
  // B = 0 at init, so base + scaling * B(A x) adds exact zeros: logits must be bitwise equal.
  for (const char* name : {"qwen3", "llama_gqa_headdim", "qwen2"}) {
    for (const char* init : {"kaiming", "gaussian"}) {
      SECTION(std::string(name) + " all-linear " + init) {
        auto m = load(name);
        auto before = logits(m);
        auto o = options({"all-linear"});
        o.init = *parse_lora_init(init);
        inject_lora(m, o, 7);
        for (const auto& ref : lora_modules(m)) {
          CHECK(ref.adapter->B().abs().max().item<float>() == 0.0f);
          CHECK(ref.adapter->A().abs().max().item<float>() > 0.0f);
        }
        CHECK(torch::equal(logits(m), before));
      }
    }
  }
}

TEST_CASE("LoRA forward equals the hand computation base + scaling B A x", "[lora]") {
  torch::NoGradGuard ng;
  // qwen2 has q/k/v biases, so the hand computation includes the base bias term.
  auto check_layer = [](CausalLM& m, double expected_scaling) {
    auto& q = m->model->layer_list[0]->self_attn->q_proj;
    auto refs = lora_modules(m);
    REQUIRE(refs.size() >= 1);
    REQUIRE(refs[0].path == "model.layers.0.self_attn.q_proj");
    const auto& ad = *refs[0].adapter;
    CHECK(ad.scaling() == Approx(expected_scaling).epsilon(1e-12));
    auto x = torch::randn({2, 3, q->weight.size(1)}, torch::TensorOptions().dtype(torch::kFloat32));  // [2, 3, in]
    auto y = q->forward(x);                                                                               // [2, 3, out]
    auto base = torch::matmul(x, q->weight.t());
    if (q->bias.defined()) base = base + q->bias;
    auto hand = base + expected_scaling * torch::matmul(torch::matmul(x, ad.A().t()), ad.B().t());
    // fp32 with a different grouping of the same sums (K <= 64 terms of O(1) values): ~1e-6 rounding at most.
    double d = max_abs_diff(y, hand);
    INFO("max |diff| = " << d);
    CHECK(d <= 1e-5);
  };
  torch::manual_seed(3);
  SECTION("alpha / r") {
    auto m = load("qwen2");
    auto before = logits(m);
    inject_lora(m, options({"q_proj"}, 4, 8.0), 1);
    randomize_adapters(m, 11);
    CHECK(max_abs_diff(logits(m), before) > 1e-3);  // the adapter really acts
    check_layer(m, 8.0 / 4.0);
  }
  SECTION("rsLoRA: alpha / sqrt(r)") {
    auto m = load("qwen2");
    auto o = options({"q_proj"}, 4, 8.0);
    o.rslora = true;
    inject_lora(m, o, 1);
    randomize_adapters(m, 11);
    check_layer(m, 8.0 / std::sqrt(4.0));
    for (const auto& t : plan_lora(m->hparams(), o)) CHECK(t.scaling == Approx(4.0));
  }
  SECTION("bf16 base weights: fp32 adapter math, output in the base dtype") {
    auto m = load("qwen3", ComputeDType::BF16);
    inject_lora(m, options({"q_proj"}, 4, 8.0), 1);
    randomize_adapters(m, 11);
    auto refs = lora_modules(m);
    CHECK(refs[0].adapter->A().scalar_type() == torch::kFloat32);
    CHECK(refs[0].adapter->B().scalar_type() == torch::kFloat32);
    auto& q = m->model->layer_list[0]->self_attn->q_proj;
    auto x = torch::randn({2, 3, q->weight.size(1)}).to(torch::kBFloat16);  // [2, 3, in]
    auto y = q->forward(x);
    CHECK(y.scalar_type() == torch::kBFloat16);
    auto base = torch::matmul(x.to(torch::kFloat32), q->weight.to(torch::kFloat32).t());
    auto hand = base + 2.0 * torch::matmul(torch::matmul(x.to(torch::kFloat32), refs[0].adapter->A().t()),
                                           refs[0].adapter->B().t());
    // The base matmul runs in bf16 (8 mantissa bits) and the sum is rounded to bf16: allow 2^-6 relative.
    double bound = hand.abs().max().item<double>() / 64.0;
    CHECK(max_abs_diff(y, hand) <= bound);
    CHECK(logits(m).scalar_type() == torch::kBFloat16);
  }
}

TEST_CASE("trainable parameter count equals the closed formula", "[lora]") {
  std::vector<std::pair<std::string, LoraOptions>> cases;
  cases.emplace_back("default q,k,v,o", LoraOptions{});
  cases.emplace_back("q,v r=16", options({"q_proj", "v_proj"}, 16, 32));
  cases.emplace_back("all-linear", options({"all-linear"}, 8, 16));
  {
    auto o = options({"down_proj", "up_proj"}, 2, 4);
    o.layers = {1};
    cases.emplace_back("mlp in layer 1", o);
  }
  {
    auto o = options({"all-linear"}, 8, 16);
    o.rank_pattern = {{"v_proj", 2}, {"model.layers.1.mlp.down_proj", 3}};
    cases.emplace_back("rank_pattern", o);
  }
  cases.emplace_back("regex", options({"regex:.*\\.(q|k)_proj"}, 4, 8));
  for (const char* name : {"qwen3", "llama_gqa_headdim", "qwen2", "llama_tied_linear"}) {
    for (const auto& [label, o] : cases) {
      SECTION(std::string(name) + ": " + label) {
        auto m = load(name);
        const int64_t formula = lora_parameter_count(m->hparams(), o);
        auto inj = inject_lora(m, o, 1);
        CHECK(inj.trainable_parameters == formula);
        int64_t numel = 0, trainable = 0;
        for (const auto& t : lora_parameters(m)) numel += t.numel();
        for (const auto& p : m->parameters())
          if (p.requires_grad()) trainable += p.numel();
        CHECK(numel == formula);
        CHECK(trainable == formula);
      }
    }
  }
  SECTION("hand-computed values for llama_gqa_headdim (hidden 48, q_dim 64, kv_dim 32, intermediate 32, 2 layers)") {
    auto hp = load_hparams(lt_test::fixture("models/llama_gqa_headdim"));
    // per layer, r = 8: q 8*(48+64) + k 8*(48+32) + v 8*(48+32) + o 8*(64+48) = 3072
    CHECK(lora_parameter_count(hp, LoraOptions{}) == 2 * 3072);
    // + gate 8*(48+32) + up 8*(48+32) + down 8*(32+48) = 1920 per layer
    CHECK(lora_parameter_count(hp, options({"all-linear"}, 8, 16)) == 2 * (3072 + 1920));
    auto o = options({"q_proj"}, 8, 16);
    o.rank_pattern = {{"model.layers.1.self_attn.q_proj", 2}};
    CHECK(lora_parameter_count(hp, o) == 8 * 112 + 2 * 112);
  }
}

TEST_CASE("LoRA target selection by names or all-linear or regex and by layer", "[lora]") {
  auto m = load("qwen3");
  const std::string L0 = "model.layers.0.", L1 = "model.layers.1.";
  SECTION("all-linear: every decoder Linear, never lm_head") {
    inject_lora(m, options({"all-linear"}), 1);
    std::vector<std::string> want;
    for (const auto& l : {L0, L1})
      for (const char* n : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"})
        want.push_back(l + n);
    CHECK(paths(lora_modules(m)) == want);
  }
  SECTION("parameter names are PEFT's minus base_model.model., shapes [r, in] / [out, r]") {
    inject_lora(m, options({"q_proj", "down_proj"}, 4), 1);
    auto params = m->named_parameters();
    REQUIRE(params.contains(L0 + "self_attn.q_proj.lora_A.weight"));
    CHECK(params[L0 + "self_attn.q_proj.lora_A.weight"].sizes() == c10::IntArrayRef({4, 32}));
    CHECK(params[L0 + "self_attn.q_proj.lora_B.weight"].sizes() == c10::IntArrayRef({64, 4}));
    CHECK(params[L1 + "mlp.down_proj.lora_A.weight"].sizes() == c10::IntArrayRef({4, 64}));
    CHECK(params[L1 + "mlp.down_proj.lora_B.weight"].sizes() == c10::IntArrayRef({32, 4}));
    CHECK_FALSE(params.contains(L0 + "self_attn.k_proj.lora_A.weight"));
  }
  SECTION("regex: full match against the module path") {
    inject_lora(m, options({"regex:model\\.layers\\.1\\.mlp\\..*"}), 1);
    CHECK(paths(lora_modules(m)) ==
          std::vector<std::string>{L1 + "mlp.gate_proj", L1 + "mlp.up_proj", L1 + "mlp.down_proj"});
  }
  SECTION("a regex that only matches part of a path selects nothing (full match)") {
    CHECK_THAT(input_error([&] { inject_lora(m, options({"regex:q_proj"}), 1); }),
               Contains("regex 'q_proj' matches no module"));
  }
  SECTION("layer subset") {
    auto o = options({"q_proj", "v_proj"});
    o.layers = {1};
    inject_lora(m, o, 1);
    CHECK(paths(lora_modules(m)) == std::vector<std::string>{L1 + "self_attn.q_proj", L1 + "self_attn.v_proj"});
  }
  SECTION("all-linear with a layer subset") {
    auto o = options({"all-linear"});
    o.layers = {0};
    inject_lora(m, o, 1);
    auto p = paths(lora_modules(m));
    CHECK(p.size() == 7);
    for (const auto& s : p) CHECK(s.rfind(L0, 0) == 0);
  }
  SECTION("PEFT list rule: '.'-suffixes and whole paths") {
    inject_lora(m, options({"mlp.down_proj", L0 + "self_attn.o_proj"}), 1);
    CHECK(paths(lora_modules(m)) ==
          std::vector<std::string>{L0 + "self_attn.o_proj", L0 + "mlp.down_proj", L1 + "mlp.down_proj"});
  }
  SECTION("bad targets are input errors naming the problem; the model is left unchanged") {
    auto msg = input_error([&] { inject_lora(m, options({"q_proj", "q_prj"}), 1); });
    CHECK_THAT(msg, Contains("'q_prj'") && Contains("did you mean 'q_proj'") &&
                        Contains("available modules: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj"));
    CHECK_THAT(input_error([&] { inject_lora(m, options({"lm_head"}), 1); }),
               Contains("'lm_head'") && Contains("lm_head is never targeted"));
    CHECK_THAT(input_error([&] { inject_lora(m, options({"all-linear", "q_proj"}), 1); }),
               Contains("must be the only entry"));
    CHECK_THAT(input_error([&] { inject_lora(m, options({"regex:(q_proj"}), 1); }),
               Contains("not a valid regular expression"));
    CHECK_THAT(input_error([&] { inject_lora(m, options({}), 1); }), Contains("targets are empty"));
    auto o = options({"regex:.*q_proj"});
    o.layers = {0};
    CHECK_THAT(input_error([&] { inject_lora(m, o, 1); }), Contains("cannot be combined with a regex"));
    o = options({"q_proj"});
    o.layers = {2};
    CHECK_THAT(input_error([&] { inject_lora(m, o, 1); }),
               Contains("layer index 2 is out of range") && Contains("2 decoder layers"));
    // The scalars are checked where they enter (the app's config conversion, the PEFT reader), by one rule.
    auto field = [](LoraField f, const std::string& key) {
      return std::string(f == LoraField::R ? "r" : f == LoraField::Dropout ? "dropout" : "other") + key;
    };
    CHECK_THAT(input_error([&] { check_lora_options(options({"q_proj"}, 0), field, "hint"); }),
               Contains("r must be >= 1, got 0"));
    o = options({"q_proj"});
    o.dropout = 1.0;
    CHECK_THAT(input_error([&] { check_lora_options(o, field, "hint"); }), Contains("dropout must be in [0, 1), got 1"));
    o = options({"q_proj"});
    o.rank_pattern = {{"v_proj", 0}};
    CHECK_THAT(input_error([&] { check_lora_options(o, field, "hint"); }), Contains("otherv_proj must be >= 1"));
    CHECK_NOTHROW(check_lora_options(options({"q_proj"}), field, "hint"));
    // init is an enum: the name table lives with it (the app refuses other names).
    CHECK_FALSE(parse_lora_init("xavier").has_value());
    CHECK(parse_lora_init("gaussian") == LoraInit::Gaussian);
    CHECK(lora_init_names() == std::vector<std::string>{"kaiming", "gaussian"});
    CHECK(std::string(lora_init_name(LoraInit::Kaiming)) == "kaiming");
    o = options({"q_proj"});
    o.rank_pattern = {{"(v_proj", 2}};
    CHECK_THAT(input_error([&] { inject_lora(m, o, 1); }), Contains("rank_pattern key '(v_proj'"));
    CHECK(lora_modules(m).empty());
    for (const auto& p : m->parameters()) CHECK_FALSE(p.requires_grad());
  }
  SECTION("a second adapter on the same module is refused") {
    inject_lora(m, options({"q_proj"}), 1);
    CHECK_THAT(input_error([&] { inject_lora(m, options({"q_proj", "v_proj"}), 2); }),
               Contains("already have an adapter") && Contains(L0 + "self_attn.q_proj"));
    CHECK(lora_modules(m).size() == 2);  // the failed call attached nothing
  }
}

TEST_CASE("LoRA init is deterministic per seed and follows PEFT's distributions", "[lora]") {
  auto a_of = [](uint64_t seed, const std::string& init) {
    auto m = load("qwen3");
    auto o = options({"all-linear"}, 4);
    o.init = *parse_lora_init(init);
    inject_lora(m, o, seed);
    std::vector<torch::Tensor> as;
    for (const auto& ref : lora_modules(m)) as.push_back(ref.adapter->A().flatten());
    return std::make_pair(lora_modules(m), torch::cat(as));
  };
  SECTION("same seed, same A; another seed, another A") {
    CHECK(torch::equal(a_of(5, "kaiming").second, a_of(5, "kaiming").second));
    CHECK_FALSE(torch::equal(a_of(5, "kaiming").second, a_of(6, "kaiming").second));
  }
  SECTION("kaiming-uniform(a=sqrt(5)): U(-1/sqrt(in), 1/sqrt(in))") {
    for (const auto& ref : a_of(5, "kaiming").first) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(ref.adapter->A().size(1)));
      const double mx = ref.adapter->A().abs().max().item<double>();
      CHECK(mx <= bound);
      CHECK(mx > 0.5 * bound);  // 4*in >= 128 draws: the largest is near the bound
    }
  }
  SECTION("gaussian: N(0, std 1/r)") {
    auto all = a_of(5, "gaussian").second;
    // ~1.7k samples: the sample std is within a few percent of 0.25; 10% leaves a wide margin.
    CHECK(all.std().item<double>() == Approx(0.25).epsilon(0.10));
  }
}

TEST_CASE("LoRA dropout acts in training mode only", "[lora]") {
  torch::NoGradGuard ng;
  auto m = load("qwen3");
  auto o = options({"all-linear"});
  o.dropout = 0.5;
  inject_lora(m, o, 1);
  randomize_adapters(m, 2);
  auto no_dropout = load("qwen3");
  inject_lora(no_dropout, options({"all-linear"}), 1);
  randomize_adapters(no_dropout, 2);
  CHECK(torch::equal(logits(m), logits(no_dropout)));  // eval: dropout off
  m->train();
  torch::manual_seed(1);
  auto t1 = m->forward(token_ids());
  auto t2 = m->forward(token_ids());
  CHECK(max_abs_diff(t1, t2) > 1e-4);
  CHECK(max_abs_diff(t1, logits(no_dropout)) > 1e-4);
}

TEST_CASE("gradients reach only the LoRA parameters", "[lora]") {
  auto m = load("qwen2");
  inject_lora(m, options({"all-linear"}), 1);
  SECTION("at init only B gets a non-zero gradient (B = 0 blocks A's)") {
    m->train();
    m->forward(token_ids()).to(torch::kFloat32).pow(2).mean().backward();
    for (const auto& p : m->named_parameters()) {
      INFO(p.key());
      const bool is_a = p.key().find(".lora_A.") != std::string::npos;
      const bool is_b = p.key().find(".lora_B.") != std::string::npos;
      if (is_a || is_b) {
        REQUIRE(p.value().grad().defined());
        if (is_b) CHECK(p.value().grad().abs().max().item<float>() > 0);
      } else {
        CHECK_FALSE(p.value().grad().defined());
      }
    }
  }
  SECTION("with trained factors both A and B get gradients; base weights none") {
    randomize_adapters(m, 4);
    m->train();
    m->forward(token_ids()).to(torch::kFloat32).pow(2).mean().backward();
    for (const auto& p : m->named_parameters()) {
      INFO(p.key());
      const bool lora = p.key().find(".lora_") != std::string::npos;
      CHECK(p.value().requires_grad() == lora);
      if (lora) {
        REQUIRE(p.value().grad().defined());
        CHECK(p.value().grad().abs().max().item<float>() > 0);
      } else {
        CHECK_FALSE(p.value().grad().defined());
      }
    }
    CHECK(lora_parameters(m).size() == 2 * 14);
  }
}

TEST_CASE("PEFT adapter directories round trip and are validated", "[lora][peft]") {
  lt_test::TempDir tmp("lora");
  const std::string dir = tmp.file("adapter");
  auto o = options({"all-linear"}, 4, 8.0);
  auto m = load("qwen3");
  inject_lora(m, o, 1);
  randomize_adapters(m, 9);
  auto tuned = logits(m);
  save_peft_adapter(dir, m, o, "tests/fixtures/models/qwen3");

  SECTION("round trip gives identical logits") {
    auto fresh = load("qwen3");
    auto inj = load_peft_adapter(fresh, dir);
    CHECK(inj.modules == paths(lora_modules(m)));
    // Same fp32 factors through the same ops on the same inputs: bitwise equal.
    CHECK(torch::equal(logits(fresh), tuned));
  }
  SECTION("adapter_config.json carries PEFT's fields") {
    json j = read_json(dir + "/adapter_config.json");
    CHECK(j["peft_type"] == "LORA");
    CHECK(j["task_type"] == "CAUSAL_LM");
    CHECK(j["base_model_name_or_path"] == "tests/fixtures/models/qwen3");
    CHECK(j["r"] == 4);
    CHECK(j["lora_alpha"] == 8);
    CHECK(j["lora_alpha"].is_number_integer());
    CHECK(j["lora_dropout"] == 0.0);
    CHECK(j["target_modules"] ==
          json::array({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}));
    CHECK(j["bias"] == "none");
    CHECK(j["fan_in_fan_out"] == false);
    CHECK(j["use_rslora"] == false);
    CHECK(j["use_dora"] == false);
    CHECK(j["modules_to_save"].is_null());
    CHECK(j["init_lora_weights"] == true);
    CHECK(j["layers_to_transform"].is_null());
    CHECK(j["rank_pattern"] == json::object());
    CHECK(j["alpha_pattern"] == json::object());
    CHECK(j["inference_mode"] == true);
    CHECK_FALSE(fs::exists(dir + "/adapter_config.json.tmp"));
  }
  SECTION("adapter_model.safetensors holds PEFT's names, fp32 [r, in] / [out, r]") {
    auto f = io::SafetensorsFile::open(dir + "/adapter_model.safetensors");
    CHECK(f->tensors().size() == 2 * 14);
    const auto& a = f->at("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
    CHECK(a.dtype == io::DType::F32);
    CHECK(a.shape == std::vector<int64_t>{4, 32});
    CHECK(f->at("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight").shape == std::vector<int64_t>{32, 4});
    CHECK(f->metadata().at("format") == "pt");
  }
  SECTION("read_peft_config gives back the options (all-linear saved expanded)") {
    auto back = read_peft_config(dir);
    CHECK(back.r == 4);
    CHECK(back.alpha == 8.0);
    CHECK(back.targets.size() == 7);
    CHECK(back.layers.empty());
    CHECK_FALSE(back.rslora);
    CHECK(plan_lora(m->hparams(), back).size() == 14);
  }
  SECTION("a target list, regex, layer subset and rsLoRA survive the round trip") {
    auto o2 = options({"q_proj", "v_proj"}, 2, 6.0);
    o2.layers = {1};
    o2.rslora = true;
    o2.init = LoraInit::Gaussian;
    auto m2 = load("qwen3");
    inject_lora(m2, o2, 3);
    randomize_adapters(m2, 5);
    const std::string dir2 = tmp.file("a2");
    save_peft_adapter(dir2, m2, o2, "base");
    json j = read_json(dir2 + "/adapter_config.json");
    CHECK(j["target_modules"] == json::array({"q_proj", "v_proj"}));
    CHECK(j["layers_to_transform"] == json::array({1}));
    CHECK(j["use_rslora"] == true);
    CHECK(j["init_lora_weights"] == "gaussian");
    auto fresh = load("qwen3");
    load_peft_adapter(fresh, dir2);
    CHECK(torch::equal(logits(fresh), logits(m2)));

    auto o3 = options({"regex:model\\.layers\\.0\\.self_attn\\.(q|k)_proj"}, 2, 4.0);
    auto m3 = load("qwen3");
    inject_lora(m3, o3, 3);
    randomize_adapters(m3, 6);
    const std::string dir3 = tmp.file("a3");
    save_peft_adapter(dir3, m3, o3, "base");
    CHECK(read_json(dir3 + "/adapter_config.json")["target_modules"] == "model\\.layers\\.0\\.self_attn\\.(q|k)_proj");
    auto fresh3 = load("qwen3");
    CHECK(load_peft_adapter(fresh3, dir3).modules.size() == 2);
    CHECK(torch::equal(logits(fresh3), logits(m3)));
  }
  SECTION("rank_pattern and alpha_pattern are honoured on load") {
    auto o2 = options({"q_proj", "v_proj"}, 4, 8.0);
    o2.rank_pattern = {{"v_proj", 2}};
    o2.alpha_pattern = {{"model.layers.1.self_attn.q_proj", 32.0}};
    auto m2 = load("qwen3");
    inject_lora(m2, o2, 3);
    randomize_adapters(m2, 5);
    const std::string dir2 = tmp.file("patterns");
    save_peft_adapter(dir2, m2, o2, "base");
    json j = read_json(dir2 + "/adapter_config.json");
    CHECK(j["rank_pattern"] == json{{"v_proj", 2}});
    CHECK(j["alpha_pattern"] == json{{"model.layers.1.self_attn.q_proj", 32}});
    auto fresh = load("qwen3");
    load_peft_adapter(fresh, dir2);
    std::map<std::string, std::pair<int64_t, double>> got;
    for (const auto& ref : lora_modules(fresh)) got[ref.path] = {ref.adapter->r(), ref.adapter->scaling()};
    CHECK(got["model.layers.0.self_attn.q_proj"] == std::make_pair(int64_t{4}, 2.0));
    CHECK(got["model.layers.1.self_attn.q_proj"] == std::make_pair(int64_t{4}, 8.0));
    CHECK(got["model.layers.0.self_attn.v_proj"] == std::make_pair(int64_t{2}, 4.0));
    CHECK(got["model.layers.1.self_attn.v_proj"] == std::make_pair(int64_t{2}, 4.0));
    CHECK(torch::equal(logits(fresh), logits(m2)));
    // Without the rank_pattern the v_proj tensors no longer fit.
    edit_config(dir2, [](json& c) { c["rank_pattern"] = json::object(); });
    auto other = load("qwen3");
    CHECK_THAT(input_error([&] { load_peft_adapter(other, dir2); }),
               Contains("base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight: adapter [2, 32], model expects [4, 32]"));
  }
  SECTION("HF PEFT variants load: adapter name in tensor names, target_modules as a regex string") {
    edit_tensors(dir, [](std::map<std::string, torch::Tensor>& t) {
      std::map<std::string, torch::Tensor> renamed;
      for (auto& [k, v] : t) {
        std::string n = k;
        for (const char* f : {".lora_A.weight", ".lora_B.weight"}) {
          auto pos = n.find(f);
          if (pos != std::string::npos) n.insert(pos + 7, ".default");
        }
        renamed[n] = v.to(torch::kBFloat16).to(torch::kFloat32);  // also exercise bf16-exact values
      }
      t = renamed;
    });
    auto f = io::SafetensorsFile::open(dir + "/adapter_model.safetensors");
    REQUIRE(f->find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight"));
    edit_config(dir, [](json& c) {
      c["target_modules"] = R"(.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj))";
      c["revision"] = nullptr;  // keys loratune does not use are ignored
      c["megatron_config"] = nullptr;
    });
    auto fresh = load("qwen3");
    CHECK(load_peft_adapter(fresh, dir).modules.size() == 14);
    // bf16-rounded factors: the logits move, but only by bf16 rounding of A and B (2^-8 relative).
    CHECK(max_abs_diff(logits(fresh), tuned) <= 0.05 * tuned.abs().max().item<double>());
  }
  SECTION("unsupported PEFT features are refused with a reason") {
    auto refused = [&](const std::function<void(json&)>& edit) {
      edit_config(dir, edit);
      auto fresh = load("qwen3");
      auto msg = input_error([&] { load_peft_adapter(fresh, dir); });
      CHECK(lora_modules(fresh).empty());
      return msg;
    };
    CHECK_THAT(refused([](json& c) { c["use_dora"] = true; }), Contains("DoRA") && Contains("adapter_config.json"));
    CHECK_THAT(refused([](json& c) {
                 c["use_dora"] = false;
                 c["modules_to_save"] = json::array({"lm_head"});
               }),
               Contains("modules_to_save [\"lm_head\"] is not supported"));
    CHECK_THAT(refused([](json& c) {
                 c["modules_to_save"] = nullptr;
                 c["bias"] = "lora_only";
               }),
               Contains("bias 'lora_only' is not supported"));
    CHECK_THAT(refused([](json& c) {
                 c["bias"] = "none";
                 c["fan_in_fan_out"] = true;
               }),
               Contains("fan_in_fan_out"));
    CHECK_THAT(refused([](json& c) {
                 c["fan_in_fan_out"] = false;
                 c["peft_type"] = "IA3";
               }),
               Contains("peft_type is 'IA3'"));
    CHECK_THAT(refused([](json& c) {
                 c["peft_type"] = "LORA";
                 c["init_lora_weights"] = "pissa_niter_4";
               }),
               Contains("changes the base model's weights"));
    CHECK_THAT(refused([](json& c) {
                 c["init_lora_weights"] = true;
                 c.erase("target_modules");
               }),
               Contains("'target_modules' is missing"));
    CHECK_THAT(refused([](json& c) { c["target_modules"] = json::array({"c_attn"}); }),
               Contains("match no module") && Contains("available modules"));
  }
  SECTION("an adapter for another base model names the offending tensors") {
    auto other = load("llama_gqa_headdim");  // hidden 48 instead of 32
    auto msg = input_error([&] { load_peft_adapter(other, dir); });
    CHECK_THAT(msg, Contains("does not fit this model") &&
                        Contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight: adapter [4, 32], "
                                 "model expects [4, 48]") &&
                        Contains("adapter for another base model?") && Contains("tests/fixtures/models/qwen3"));
    CHECK(lora_modules(other).empty());
    for (const auto& p : other->parameters()) CHECK_FALSE(p.requires_grad());
  }
  SECTION("missing and unexpected tensors are listed") {
    edit_tensors(dir, [](std::map<std::string, torch::Tensor>& t) {
      t.erase("base_model.model.model.layers.1.mlp.up_proj.lora_B.weight");
      t["base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector"] = torch::ones({64});
    });
    auto fresh = load("qwen3");
    auto msg = input_error([&] { load_peft_adapter(fresh, dir); });
    CHECK_THAT(msg, Contains("missing tensors (1)") &&
                        Contains("base_model.model.model.layers.1.mlp.up_proj.lora_B.weight [64, 4]") &&
                        Contains("unexpected tensors (1)") &&
                        Contains("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector [64]"));
    CHECK(lora_modules(fresh).empty());
  }
  SECTION("directories that are not adapters") {
    auto fresh = load("qwen3");
    CHECK_THAT(input_error([&] { load_peft_adapter(fresh, tmp.file("nope")); }), Contains("does not exist"));
    fs::create_directories(tmp.file("empty"));
    CHECK_THAT(input_error([&] { load_peft_adapter(fresh, tmp.file("empty")); }), Contains("has no adapter_config.json"));
    fs::remove(dir + "/adapter_model.safetensors");
    lt_test::write_file(dir + "/adapter_model.bin", "pickle");
    CHECK_THAT(input_error([&] { load_peft_adapter(fresh, dir); }), Contains("adapter_model.bin"));
    lt_test::write_file(dir + "/adapter_config.json", "{not json");
    CHECK_THAT(input_error([&] { read_peft_config(dir); }), Contains("not valid JSON"));
  }
  SECTION("saving again replaces the files") {
    randomize_adapters(m, 10);
    auto retuned = logits(m);
    save_peft_adapter(dir, m, o, "tests/fixtures/models/qwen3");
    auto fresh = load("qwen3");
    load_peft_adapter(fresh, dir);
    CHECK(torch::equal(logits(fresh), retuned));
  }
}

TEST_CASE("merge folds the adapters into the base weights", "[lora]") {
  for (const char* name : {"qwen2", "qwen3", "llama_gqa_headdim"}) {
    SECTION(name) {
      auto m = load(name);
      const auto base_names = [&] {
        std::set<std::string> s;
        for (const auto& kv : model_state(m)) s.insert(kv.first);
        return s;
      }();
      inject_lora(m, options({"all-linear"}, 4, 8.0), 1);
      randomize_adapters(m, 12);
      auto unmerged = logits(m);
      merge_lora(m);
      CHECK(lora_modules(m).empty());
      CHECK(lora_parameters(m).empty());
      std::set<std::string> after;
      for (const auto& kv : model_state(m)) after.insert(kv.first);
      CHECK(after == base_names);  // a plain HF checkpoint again
      // fp32: W + s*B@A folded once vs x W^T + s (x A^T) B^T are the same sums grouped differently; the
      // rounding differences (~1e-7 relative each) accumulate over the layers to a few 1e-6 of the logit
      // scale (seen: 9e-6 at |logit| 9.4), so the bound is 1e-5 relative to the largest logit.
      const double scale = std::max(1.0, unmerged.abs().max().item<double>());
      double d = max_abs_diff(logits(m), unmerged);
      INFO("max |diff| = " << d << ", max |logit| = " << scale);
      CHECK(d <= 1e-5 * scale);
      merge_lora(m);  // nothing left to merge: no change
      CHECK(max_abs_diff(logits(m), unmerged) <= 1e-5 * scale);
    }
  }
}

TEST_CASE("LoRA on a CUDA model matches the CPU model", "[lora][cuda]") {
  if (!torch::cuda::is_available()) {
    WARN("no CUDA device: skipped");
    return;
  }
  torch::NoGradGuard ng;
  auto cpu = load("qwen3");
  auto gpu = load_model(lt_test::fixture("models/qwen3"), {{DeviceSpec::Kind::Cuda, 0}, ComputeDType::F32}).model;
  const auto o = options({"all-linear"}, 4, 8.0);
  inject_lora(cpu, o, 21);
  inject_lora(gpu, o, 21);
  auto c = lora_modules(cpu), g = lora_modules(gpu);
  REQUIRE(c.size() == g.size());
  for (size_t i = 0; i < c.size(); ++i) {
    CHECK(g[i].adapter->A().device().is_cuda());
    // A is drawn on the CPU generator for every device: the same init bit for bit.
    CHECK(torch::equal(g[i].adapter->A().cpu(), c[i].adapter->A()));
  }
  randomize_adapters(cpu, 8);
  for (size_t i = 0; i < c.size(); ++i) {
    g[i].adapter->A().copy_(c[i].adapter->A());
    g[i].adapter->B().copy_(c[i].adapter->B());
  }
  cpu->eval();
  gpu->eval();
  auto want = cpu->forward(token_ids());
  auto got = gpu->forward(token_ids().cuda()).cpu();
  // Different kernels (and possibly TF32 matmuls) on the GPU: 1e-3 of the logit scale.
  const double scale = std::max(1.0, want.abs().max().item<double>());
  CHECK(max_abs_diff(got, want) <= 1e-3 * scale);
  merge_lora(gpu);
  CHECK(max_abs_diff(gpu->forward(token_ids().cuda()).cpu(), want) <= 1e-3 * scale);
}

TEST_CASE("the architecture table's module list drives LoRA planning", "[lora][arch]") {
  for (const char* name : {"llama_gqa_headdim", "mistral_sliding", "qwen2", "qwen3"}) {
    SECTION(name) {
      auto m = load(name);
      const auto& hp = m->hparams();
      const auto plan = plan_lora(hp, options({"all-linear"}));
      std::vector<std::string> want;
      for (int64_t l = 0; l < hp.num_layers; ++l)
        for (const auto& spec : decoder_linears(hp.arch)) want.push_back(layer_module_path(spec, l));
      std::vector<std::string> got;
      for (const auto& t : plan) got.push_back(t.path);
      CHECK(got == want);
      for (const auto& t : plan) {
        INFO(t.path);
        const auto& specs = decoder_linears(hp.arch);
        auto it = std::find_if(specs.begin(), specs.end(), [&](const ModuleSpec& s) { return t.name == s.name; });
        REQUIRE(it != specs.end());
        CHECK(t.in == dim_of(hp, it->in));
        CHECK(t.out == dim_of(hp, it->out));
      }
      CHECK(lora_module_names() == decoder_linear_names(hp.arch));
    }
  }
}

TEST_CASE("an Adapter is parsed once and applied to a model", "[lora][peft]") {
  lt_test::TempDir tmp("lora");
  const std::string dir = tmp.file("adapter");
  auto o = options({"q_proj", "v_proj"}, 4, 8.0);
  o.rank_pattern = {{"v_proj", 2}};
  auto m = load("qwen3");
  auto inj = inject_lora(m, o, 1);
  randomize_adapters(m, 3);
  auto tuned = logits(m);
  save_peft_adapter(dir, m, o, "base", inj.plan);  // the plan given: no second planning, same files

  const Adapter a = read_peft_adapter(dir);
  CHECK(a.dir == dir);
  CHECK(a.base_model == "base");
  CHECK(a.options.r == 4);
  CHECK(a.options.rank_pattern.at("v_proj") == 2);
  CHECK(a.tensors.size() == 2 * 2 * 2);  // 2 layers x {q, v} x {A, B}
  for (const auto& t : a.tensors) CHECK(t.name.has_value());
  const auto* b = a.find("model.layers.1.self_attn.v_proj", LoraMatrix::B);
  REQUIRE(b != nullptr);
  CHECK(b->shape == std::vector<int64_t>{m->hparams().kv_dim(), 2});
  CHECK(a.find("model.layers.1.self_attn.k_proj", LoraMatrix::A) == nullptr);

  // One Adapter applies to several models (it holds no model state).
  for (int i = 0; i < 2; ++i) {
    auto fresh = load("qwen3");
    auto got = apply_adapter(fresh, a);
    CHECK(got.modules == inj.modules);
    CHECK(got.plan.size() == inj.plan.size());
    CHECK(torch::equal(logits(fresh), tuned));
  }
  auto other = load("llama_gqa_headdim");
  CHECK_FALSE(input_error([&] { apply_adapter(other, a); }).empty());  // another base model
  CHECK(lora_modules(other).empty());
  CHECK_THAT(input_error([&] { read_peft_adapter(tmp.file("nope")); }), Contains("does not exist"));
}
