// Loss evaluation against an independent computation: the cross-entropy of the golden logits of the
// PyTorch reference (tests/reference/llama_reference.py; fp64-computed, stored as fp32).
//
// Tolerance: 1e-4 relative on the mean loss. The model's fp32 logits match the goldens within 1e-4
// absolute (tests/model/test_parity.cpp); a token's cross-entropy logsumexp(z) - z_target then moves by at
// most 2e-4, and the mean loss of these random models is ~ln(V) ~ 4.5 nats, so the relative error is at
// most ~5e-5 (in practice ~1e-6). Any error in the target rule (a shifted target, a target across a packed
// sample boundary, a masked token counted) changes the mean by far more: every token's CE differs by O(1).
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <cmath>
#include <functional>

#include "core/error.h"
#include "data/prepared.h"
#include "train/loss_eval.h"
#include "model/loader.h"
#include "model/tensor_io.h"
#include "test_util.h"
#include "train/batcher.h"
#include "train/loss.h"

using namespace loratune;
using Catch::Matchers::Contains;

namespace {
const char* kFixtures[] = {"llama_gqa_headdim", "llama3_rope", "llama_tied_linear", "mistral_sliding", "qwen2", "qwen3"};

struct Golden {
  torch::Tensor ids;     // [2, T] int64
  torch::Tensor logits;  // [2, T, V] fp32 (fp64-computed)
};
Golden golden(const std::string& name) {
  auto t = load_safetensors(lt_test::fixture("models/" + name + "/reference.safetensors"));
  return {t.at("input_ids"), t.at("logits").to(torch::kFloat64)};
}

// One packed sample: golden sequence `seq`, its first `len` tokens, a trained mask, a source.
struct Piece {
  int64_t seq, len;
  std::vector<uint8_t> trained;
  uint32_t source;
};

data::Row make_row(const Golden& g, const std::vector<Piece>& pieces) {
  data::Row r;
  for (const Piece& p : pieces) {
    r.starts.push_back(static_cast<uint32_t>(r.ids.size()));
    r.sources.push_back(p.source);
    for (int64_t t = 0; t < p.len; ++t) r.ids.push_back(static_cast<int32_t>(g.ids[p.seq][t].item<int64_t>()));
    r.trained.insert(r.trained.end(), p.trained.begin(), p.trained.end());
  }
  return r;
}

std::vector<uint8_t> mask_of(int64_t len, std::function<bool(int64_t)> trained) {
  std::vector<uint8_t> m;
  for (int64_t t = 0; t < len; ++t) m.push_back(trained(t) ? 1 : 0);
  return m;
}

// The reference: per piece, position t predicts t+1 when t+1 is trained; the golden logits of a sample
// do not depend on what is packed before it (positions restart, attention stays inside the sample).
struct Reference {
  train::LossTotals total;
  std::map<uint32_t, train::LossTotals> by_source;
  int64_t near_ties = 0;  // targets whose top-2 golden logits are within 1e-3 (argmax may legitimately flip)
};
Reference reference(const Golden& g, const std::vector<std::vector<Piece>>& rows) {
  Reference ref;
  for (const auto& row : rows)
    for (const Piece& p : row)
      for (int64_t t = 0; t + 1 < p.len; ++t) {
        if (!p.trained[static_cast<size_t>(t + 1)]) continue;
        const auto z = g.logits[p.seq][t];  // [V] fp64
        const int64_t target = g.ids[p.seq][t + 1].item<int64_t>();
        const double ce = (torch::logsumexp(z, 0) - z[target]).item<double>();
        const auto top2 = std::get<0>(z.topk(2));
        ref.near_ties += (top2[0] - top2[1]).item<double>() < 1e-3;
        const train::LossTotals one{ce, 1, z.argmax().item<int64_t>() == target ? 1 : 0};
        ref.total.add(one);
        ref.by_source[p.source].add(one);
      }
  return ref;
}

std::string write_split(const std::string& dir, const Golden& g, const std::vector<std::vector<Piece>>& rows) {
  data::SplitWriter w(dir, 2);
  for (const auto& r : rows) w.add(make_row(g, r));
  w.finish();
  return dir;
}

void check_close(const train::LossTotals& got, const train::LossTotals& want, int64_t near_ties) {
  REQUIRE(got.targets == want.targets);
  INFO("loss " << got.loss() << " reference " << want.loss());
  CHECK(std::fabs(got.loss() - want.loss()) <= 1e-4 * want.loss());
  CHECK(std::llabs(got.correct - want.correct) <= near_ties);
  CHECK(got.perplexity() == Approx(std::exp(got.loss())).epsilon(1e-12));
}
}  // namespace

TEST_CASE("eval loss equals the cross-entropy of the reference logits", "[eval][loss]") {
  for (const char* name : kFixtures) {
    SECTION(name) {
      const Golden g = golden(name);
      const int64_t T = g.ids.size(1);
      auto lm = load_model(lt_test::fixture(std::string("models/") + name), LoadOptions::cpu());
      lt_test::TempDir tmp("eval");
      // Row 0: sequence 0 with its first 3 tokens untrained (a prompt); row 1: the first 6 tokens of
      // sequence 1 (shorter: padded in the batch); row 2: both packed, with sources 1 and 2.
      const auto prompt_masked = mask_of(T, [](int64_t t) { return t >= 3; });
      const auto all = mask_of(T, [](int64_t) { return true; });
      const auto six = mask_of(6, [](int64_t t) { return t != 4; });
      const std::vector<std::vector<Piece>> rows = {{{0, T, prompt_masked, 0}},
                                                    {{1, 6, six, 0}},
                                                    {{0, T, all, 1}, {1, 6, six, 2}}};
      const auto split = data::PreparedSplit::open(write_split(tmp.file("val"), g, rows), 2, 3);
      const Reference ref = reference(g, rows);
      REQUIRE(ref.total.targets == (T - 3) + 4 + (T - 1) + 4);

      for (int64_t bs : {1, 2, 3}) {
        DYNAMIC_SECTION("batch size " << bs) {
          train::LossEvalOptions o;
          o.batch_size = bs;
          const auto res = train::evaluate_loss(lm.model, split, o);
          check_close(res.total, ref.total, ref.near_ties);
          CHECK(res.rows == 3);
          CHECK(res.tokens == T + 6 + T + 6);
          REQUIRE(res.by_source.size() == 3);
          for (uint32_t s = 0; s < 3; ++s) check_close(res.by_source.at(s), ref.by_source.at(s), ref.near_ties);
        }
      }
    }
  }
}

TEST_CASE("eval loss equals training's token_loss_sum on the same batch", "[eval][loss]") {
  // The training loss path (train::token_loss_sum over a full forward) and eval's gathered-positions path
  // compute the same fp32 numbers up to summation order: 1e-5 relative.
  const Golden g = golden("qwen2");
  const int64_t T = g.ids.size(1);
  auto lm = load_model(lt_test::fixture("models/qwen2"), LoadOptions::cpu());
  lt_test::TempDir tmp("eval");
  const std::vector<std::vector<Piece>> rows = {{{0, T, mask_of(T, [](int64_t t) { return t % 2 == 0; }), 0}},
                                                {{1, 5, mask_of(5, [](int64_t) { return true; }), 0}}};
  const auto split = data::PreparedSplit::open(write_split(tmp.file("val"), g, rows), 2, 2);
  const auto res = train::evaluate_loss(lm.model, split, {});
  torch::NoGradGuard ng;
  const auto b = train::make_batch(split, {0, 1}, 0, lm.hp.sliding_window);
  ForwardOptions fo;
  fo.position_ids = b.position_ids;
  fo.attention_mask = b.attention_mask;
  const double sum = train::token_loss_sum(lm.model->forward(b.input_ids, fo), b.targets).item<double>();
  CHECK(res.total.targets == b.target_tokens);
  CHECK(res.total.loss_sum == Approx(sum).epsilon(1e-5));
}

TEST_CASE("eval loss options and bad inputs", "[eval][loss]") {
  const Golden g = golden("llama_gqa_headdim");
  const int64_t T = g.ids.size(1);
  auto lm = load_model(lt_test::fixture("models/llama_gqa_headdim"), LoadOptions::cpu());
  lt_test::TempDir tmp("eval");
  const auto all = mask_of(T, [](int64_t) { return true; });

  SECTION("max_batches limits the rows, in order") {
    const std::vector<std::vector<Piece>> rows = {{{0, T, all, 0}}, {{1, T, all, 0}}, {{1, T, all, 0}}};
    const auto split = data::PreparedSplit::open(write_split(tmp.file("v"), g, rows), 2, 3);
    train::LossEvalOptions o;
    o.batch_size = 1;
    o.max_batches = 1;
    int64_t calls = 0;
    o.on_progress = [&](int64_t done, int64_t total, int64_t) {
      ++calls;
      CHECK(done == 1);
      CHECK(total == 1);
    };
    const auto res = train::evaluate_loss(lm.model, split, o);
    CHECK(calls == 1);
    CHECK(res.rows == 1);
    check_close(res.total, reference(g, {rows[0]}).total, reference(g, {rows[0]}).near_ties);
  }
  SECTION("an empty split is an input error naming it") {
    const auto split = data::PreparedSplit::open(write_split(tmp.file("empty"), g, {}), 2, 0);
    try {
      train::evaluate_loss(lm.model, split, {});
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.kind() == ExitCode::Usage);
      CHECK_THAT(e.message(), Contains(tmp.file("empty")) && Contains("empty"));
    }
  }
  SECTION("a token id beyond the vocabulary is an input error") {
    data::Row r;
    r.ids = {1, 2, 500};  // the model has 96 tokens
    r.trained = {1, 1, 1};
    r.starts = {0};
    data::SplitWriter w(tmp.file("big"), 2);
    w.add(r);
    w.finish();
    const auto split = data::PreparedSplit::open(tmp.file("big"), 2, 1);
    try {
      train::evaluate_loss(lm.model, split, {});
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.kind() == ExitCode::Usage);
      CHECK_THAT(e.message(), Contains("500") && Contains("vocabulary"));
    }
  }
}
