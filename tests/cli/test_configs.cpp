// Every bundled config under configs/ passes `finetune --dry-run` against a model directory holding only
// the real config.json of the model it targets (tests/fixtures/configs), and prints a memory estimate.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "test_util.h"

using lt_test::run_loratune;
using lt_test::shell_quote;

TEST_CASE("bundled configs pass finetune --dry-run on their real model config", "[cli][configs]") {
  const std::string src = LORATUNE_SOURCE_DIR;
  const std::pair<const char*, const char*> cases[] = {
      {"tinyllama-1.1b", "tinyllama-1.1b"}, {"mistral-7b", "mistral-7b"}, {"llama-2-7b", "llama-2-7b"}};
  for (auto [cfg, model] : cases) {
    SECTION(cfg) {
      lt_test::TempDir tmp;
      auto r = run_loratune("finetune --dry-run --json --config " + shell_quote(src + "/configs/" + cfg + ".json") +
                            " --model " + shell_quote(lt_test::fixture(std::string("configs/") + model)) +
                            " --out " + shell_quote(tmp.file("run")));
      INFO(r.err);
      REQUIRE(r.code == 0);
      auto j = nlohmann::json::parse(r.out);
      const auto& plan = j["plan"];
      CHECK(plan["parameters"].get<int64_t>() > 1'000'000'000);
      CHECK(plan["trainable_parameters"].get<int64_t>() > 0);
      CHECK(plan["trainable_percent"].get<double>() < 5.0);
      CHECK(plan["estimated_peak_memory_bytes"].get<double>() > 2e9);
      CHECK(j["config"]["train"]["grad_checkpointing"] == true);
    }
  }
}
