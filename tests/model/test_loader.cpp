#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <filesystem>

#include "core/error.h"
#include "model/loader.h"
#include "model/tensor_io.h"
#include "test_util.h"

using namespace loratune;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {
// A copy of a fixture whose model.safetensors is rewritten by `edit`.
std::string edited_copy(const lt_test::TempDir& tmp, const std::string& fixture,
                        const std::function<void(std::map<std::string, torch::Tensor>&)>& edit) {
  std::string dir = tmp.file("m");
  fs::create_directories(dir);
  fs::copy_file(lt_test::fixture("models/" + fixture + "/config.json"), dir + "/config.json");
  auto tensors = load_safetensors(lt_test::fixture("models/" + fixture + "/model.safetensors"));
  edit(tensors);
  std::vector<std::pair<std::string, torch::Tensor>> list(tensors.begin(), tensors.end());
  save_safetensors(dir + "/model.safetensors", list);
  return dir;
}

std::string load_error(const std::string& dir) {
  try {
    load_model(dir, LoadOptions::cpu());
  } catch (const Error& e) {
    CHECK(e.kind() == ExitCode::Usage);
    return e.message();
  }
  FAIL("expected a load error");
  return {};
}
}  // namespace

TEST_CASE("loader validates tensor names and shapes against config.json", "[model][loader]") {
  lt_test::TempDir tmp;
  SECTION("missing tensor is listed with its shape") {
    auto dir = edited_copy(tmp, "llama_gqa_headdim", [](auto& t) { t.erase("model.layers.1.mlp.up_proj.weight"); });
    CHECK_THAT(load_error(dir), Contains("missing tensors") && Contains("model.layers.1.mlp.up_proj.weight [32, 48]"));
  }
  SECTION("shape mismatch names both shapes") {
    auto dir = edited_copy(tmp, "llama_gqa_headdim",
                           [](auto& t) { t["model.norm.weight"] = torch::ones({47}); });
    CHECK_THAT(load_error(dir), Contains("model.norm.weight: checkpoint [47], model expects [48]"));
  }
  SECTION("unexpected tensor is listed") {
    auto dir = edited_copy(tmp, "llama_gqa_headdim", [](auto& t) { t["model.extra.weight"] = torch::ones({2}); });
    CHECK_THAT(load_error(dir), Contains("unexpected tensors") && Contains("model.extra.weight [2]"));
  }
  SECTION("rotary inv_freq buffers of old checkpoints are ignored") {
    auto dir = edited_copy(tmp, "llama_gqa_headdim",
                           [](auto& t) { t["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch::ones({8}); });
    CHECK_NOTHROW(load_model(dir, LoadOptions::cpu()));
  }
  SECTION("missing directory and missing weights") {
    CHECK_THAT(load_error(tmp.file("nope")), Contains("nope"));
    std::string dir = tmp.file("only-config");
    fs::create_directories(dir);
    fs::copy_file(lt_test::fixture("models/qwen3/config.json"), dir + "/config.json");
    CHECK_THAT(load_error(dir), Contains("only-config"));
  }
}

TEST_CASE("fp32 weights on CPU are zero-copy views of the mapped file and stay frozen", "[model][loader]") {
  auto lm = load_model(lt_test::fixture("models/qwen3"), LoadOptions::cpu());
  auto ckpt = io::Checkpoint::open(lt_test::fixture("models/qwen3"));
  const auto& view = ckpt.at("model.layers.0.self_attn.q_proj.weight");
  auto w = lm.model->model->layer_list[0]->self_attn->q_proj->weight;
  CHECK(w.sizes() == c10::IntArrayRef(view.shape));
  CHECK_FALSE(w.requires_grad());
  // Same bytes; the mapping of this second open is a different address, so compare contents.
  CHECK(std::memcmp(w.data_ptr(), view.data, view.nbytes) == 0);
  // bf16 load converts.
  auto lb = load_model(lt_test::fixture("models/qwen3"), LoadOptions::cpu(ComputeDType::BF16));
  CHECK(lb.model->model->layer_list[0]->self_attn->q_proj->weight.scalar_type() == torch::kBFloat16);
}

TEST_CASE("in-place writes to loaded weights never reach the checkpoint file", "[model][loader]") {
  lt_test::TempDir tmp;
  auto dir = edited_copy(tmp, "llama_tied_linear", [](auto&) {});
  auto before = lt_test::read_file(dir + "/model.safetensors");
  {
    auto lm = load_model(dir, LoadOptions::cpu());
    torch::NoGradGuard ng;
    lm.model->model->norm->weight.fill_(123.0f);
    CHECK(lm.model->model->norm->weight[0].item<float>() == 123.0f);
  }
  CHECK(lt_test::read_file(dir + "/model.safetensors") == before);
}
