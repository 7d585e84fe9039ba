// Batches from a hand-built prepared split (exact targets, positions, masks), agreement of a packed
// row with its samples run alone through a real model, and the deterministic, resumable row order.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "data/prepared.h"
#include "model/loader.h"
#include "test_util.h"
#include "train/batcher.h"

using namespace loratune;
using namespace loratune::train;
using Catch::Matchers::Contains;

namespace {

data::Row make_row(std::vector<int32_t> ids, std::vector<uint8_t> trained, std::vector<uint32_t> starts) {
  data::Row r;
  r.ids = std::move(ids);
  r.trained = std::move(trained);
  r.starts = std::move(starts);
  return r;
}

data::PreparedSplit write_split(const std::string& dir, const std::vector<data::Row>& rows) {
  data::SplitWriter w(dir, 2);
  for (const auto& r : rows) w.add(r);
  w.finish();
  return data::PreparedSplit::open(dir, 2, static_cast<int64_t>(rows.size()));
}

torch::Tensor i64(std::vector<std::vector<int64_t>> rows) {
  std::vector<torch::Tensor> t;
  for (auto& r : rows) t.push_back(torch::tensor(r, torch::kInt64));
  return torch::stack(t);
}

// [T, T] bool from rows of 0/1.
torch::Tensor bool_matrix(std::vector<std::vector<int64_t>> rows) { return i64(std::move(rows)).to(torch::kBool); }

}  // namespace

TEST_CASE("make_batch builds targets, positions and masks from prepared rows", "[train][batcher]") {
  lt_test::TempDir tmp;
  // Row 0: one sample of 4 tokens; token 2 is context only.
  // Row 1: two packed samples, {10, 11, 12} and {13, 14, 15}; the second sample's first token is marked
  // trained, but predicting it would cross the sample boundary, so it is not a target.
  auto split = write_split(tmp.file("train"), {make_row({5, 6, 7, 8}, {0, 1, 0, 1}, {0}),
                                               make_row({10, 11, 12, 13, 14, 15}, {0, 1, 1, 1, 1, 1}, {0, 3})});

  SECTION("two rows, padded to the longest") {
    auto b = make_batch(split, {0, 1});
    CHECK(torch::equal(b.input_ids, i64({{5, 6, 7, 8, 0, 0}, {10, 11, 12, 13, 14, 15}})));
    CHECK(torch::equal(b.targets, i64({{6, -100, 8, -100, -100, -100}, {11, 12, -100, 14, 15, -100}})));
    CHECK(torch::equal(b.position_ids, i64({{0, 1, 2, 3, 0, 0}, {0, 1, 2, 0, 1, 2}})));
    CHECK(b.attention_mask.sizes() == torch::IntArrayRef({2, 6, 6}));
    CHECK(b.attention_mask.scalar_type() == torch::kBool);
    CHECK(torch::equal(b.attention_mask[0], bool_matrix({{1, 0, 0, 0, 0, 0},
                                                         {1, 1, 0, 0, 0, 0},
                                                         {1, 1, 1, 0, 0, 0},
                                                         {1, 1, 1, 1, 0, 0},
                                                         {0, 0, 0, 0, 1, 0},  // padding: itself only
                                                         {0, 0, 0, 0, 0, 1}})));
    CHECK(torch::equal(b.attention_mask[1], bool_matrix({{1, 0, 0, 0, 0, 0},
                                                         {1, 1, 0, 0, 0, 0},
                                                         {1, 1, 1, 0, 0, 0},
                                                         {0, 0, 0, 1, 0, 0},  // second sample
                                                         {0, 0, 0, 1, 1, 0},
                                                         {0, 0, 0, 1, 1, 1}})));
    CHECK(b.target_tokens == 6);
    CHECK(b.tokens == 10);
    CHECK(b.target_tokens == b.targets.ne(kIgnoreIndex).sum().item<int64_t>());
  }
  SECTION("row order follows the request; a single short row needs no padding") {
    auto b = make_batch(split, {1, 0});
    CHECK(torch::equal(b.input_ids[1], torch::tensor({5, 6, 7, 8, 0, 0}, torch::kInt64)));
    auto one = make_batch(split, {0});
    CHECK(one.input_ids.sizes() == torch::IntArrayRef({1, 4}));
    CHECK(torch::equal(one.targets, i64({{6, -100, 8, -100}})));
    CHECK(one.tokens == 4);
    CHECK(one.target_tokens == 2);
  }
  SECTION("pad_to fixes T") {
    auto b = make_batch(split, {0, 1}, 8);
    CHECK(b.input_ids.sizes() == torch::IntArrayRef({2, 8}));
    CHECK(torch::equal(b.input_ids[1], torch::tensor({10, 11, 12, 13, 14, 15, 0, 0}, torch::kInt64)));
    CHECK(b.targets.slice(1, 6).eq(kIgnoreIndex).all().item<bool>());
    CHECK(torch::equal(b.attention_mask[1].slice(0, 6).slice(1, 6), torch::eye(2).to(torch::kBool)));
  }
  SECTION("a row longer than pad_to is an input error naming the split and row") {
    try {
      make_batch(split, {0, 1}, 5);
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(e.kind() == ExitCode::Usage);
      CHECK_THAT(e.message(), Contains(tmp.file("train")) && Contains("row 1 has 6 tokens") && Contains("5"));
    }
  }
  SECTION("a sliding window limits keys within each sample") {
    auto b = make_batch(split, {1}, 0, 2);
    CHECK(torch::equal(b.attention_mask[0], bool_matrix({{1, 0, 0, 0, 0, 0},
                                                         {1, 1, 0, 0, 0, 0},
                                                         {0, 1, 1, 0, 0, 0},
                                                         {0, 0, 0, 1, 0, 0},
                                                         {0, 0, 0, 1, 1, 0},
                                                         {0, 0, 0, 0, 1, 1}})));
  }
  SECTION("Batch::to keeps tensors and counts") {
    auto b = make_batch(split, {0, 1}).to(torch::kCPU);
    CHECK(b.tokens == 10);
    CHECK(b.attention_mask.sizes() == torch::IntArrayRef({2, 6, 6}));
  }
}

TEST_CASE("a packed row gives each sample the logits it has alone", "[train][batcher]") {
  // The batch's positions and mask must make packing invisible to the model: every packed sample (and a
  // padded row) gets the logits of a plain forward pass over that sample alone. fp32 on CPU; 1e-4
  // absolute covers the different reduction blocking of longer rows and the -inf-masked keys
  // (logits are O(1); observed differences are ~1e-6).
  for (const char* fixture : {"llama_gqa_headdim", "mistral_sliding"}) {
    INFO(fixture);
    auto lm = load_model(lt_test::fixture(std::string("models/") + fixture), LoadOptions::cpu());
    torch::NoGradGuard no_grad;
    const std::vector<std::vector<int32_t>> samples = {{3, 17, 25, 9, 4, 40, 2}, {8, 21, 33, 5, 11}, {7, 19, 6}};
    auto cat = [](std::vector<int32_t> a, const std::vector<int32_t>& b) {
      a.insert(a.end(), b.begin(), b.end());
      return a;
    };
    auto packed_ids = cat(samples[0], samples[1]);
    lt_test::TempDir tmp;
    auto split = write_split(tmp.file("train"),
                             {make_row(packed_ids, std::vector<uint8_t>(packed_ids.size(), 1), {0, 7}),
                              make_row(samples[2], {1, 1, 1}, {0})});
    auto b = make_batch(split, {0, 1}, 0, lm.hp.sliding_window);
    ForwardOptions fo;
    fo.position_ids = b.position_ids;
    fo.attention_mask = b.attention_mask;
    auto logits = lm.model->forward(b.input_ids, fo);  // [2, 12, V]

    auto alone = [&](const std::vector<int32_t>& ids) {
      std::vector<int64_t> v(ids.begin(), ids.end());
      return lm.model->forward(torch::tensor(v, torch::kInt64).unsqueeze(0))[0];  // [T, V]
    };
    auto diff = [](const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); };
    CHECK(diff(logits[0].slice(0, 0, 7), alone(samples[0])) < 1e-4);
    CHECK(diff(logits[0].slice(0, 7, 12), alone(samples[1])) < 1e-4);
    CHECK(diff(logits[1].slice(0, 0, 3), alone(samples[2])) < 1e-4);
    CHECK_FALSE(torch::isnan(logits).any().item<bool>());  // padding rows attend to themselves: no NaN

    // The test has teeth: a mask that lets the second sample see the first, or (mistral) one without
    // the window, changes the logits far beyond the tolerance. (Positions that do not restart would
    // not: RoPE scores depend only on position differences, which a block-diagonal mask keeps within
    // one sample. The exact position_ids are checked in the make_batch test.)
    ForwardOptions leaky = fo;
    leaky.attention_mask = torch::ones({12, 12}, torch::kBool).tril().expand({2, 12, 12});
    CHECK(diff(lm.model->forward(b.input_ids, leaky)[0].slice(0, 7, 12), alone(samples[1])) > 1e-3);
    if (std::string(fixture) == "mistral_sliding") {
      REQUIRE(lm.hp.sliding_window == 4);  // shorter than the 7-token first sample
      ForwardOptions no_window = fo;
      no_window.attention_mask = make_batch(split, {0, 1}).attention_mask;
      CHECK(diff(lm.model->forward(b.input_ids, no_window)[0].slice(0, 0, 7), alone(samples[0])) > 1e-3);
    }
  }
}

TEST_CASE("epoch_order is a deterministic permutation per (seed, epoch)", "[train][batcher]") {
  SECTION("without shuffling: 0..n-1") {
    CHECK(epoch_order(5, 42, 3, false) == std::vector<int64_t>{0, 1, 2, 3, 4});
    CHECK(epoch_order(0, 42, 0, true).empty());
    CHECK(epoch_order(1, 42, 0, true) == std::vector<int64_t>{0});
  }
  SECTION("a permutation, identical for the same (seed, epoch), different across epochs and seeds") {
    const int64_t n = 1000;
    auto a = epoch_order(n, 42, 0, true);
    auto sorted = a;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == epoch_order(n, 42, 0, false));
    CHECK(a == epoch_order(n, 42, 0, true));
    CHECK(a != epoch_order(n, 42, 1, true));
    CHECK(a != epoch_order(n, 43, 0, true));
    // Neighbouring epochs are not shifted copies of each other (streams are keyed, not offset).
    auto b = epoch_order(n, 42, 1, true);
    int64_t same = 0;
    for (int64_t i = 0; i < n; ++i) same += a[static_cast<size_t>(i)] == b[static_cast<size_t>(i)];
    CHECK(same < 10);  // ~1 expected for independent permutations
  }
  SECTION("pinned values: the order is part of the resume contract and must never change") {
    // Computed independently by a Python transcription of the algorithm (splitmix64, keyed per epoch,
    // rejection-sampled Fisher-Yates); a change here breaks resuming runs started earlier.
    CHECK(epoch_order(10, 42, 0, true) == std::vector<int64_t>{9, 4, 7, 8, 2, 6, 5, 0, 1, 3});
    CHECK(epoch_order(10, 42, 1, true) == std::vector<int64_t>{1, 9, 8, 4, 3, 7, 0, 6, 5, 2});
  }
  SECTION("every position receives every row about equally often (no bias in the draws)") {
    // 4000 epochs of n = 5: each of 25 (position, row) cells expects 800; 5 sigma ~ 126.
    std::vector<int64_t> counts(25, 0);
    for (int64_t e = 0; e < 4000; ++e) {
      auto o = epoch_order(5, 7, e, true);
      for (size_t p = 0; p < 5; ++p) ++counts[p * 5 + static_cast<size_t>(o[p])];
    }
    for (int64_t c : counts) CHECK(std::abs(c - 800) < 126);
  }
}

TEST_CASE("RowCursor hands out every row once per epoch and resumes exactly", "[train][batcher]") {
  SECTION("10 rows in batches of 4: 4, 4, then a short 2, covering each row once; next epoch reshuffles") {
    RowCursor c(10, 4, 42, true);
    CHECK(c.batches_per_epoch() == 3);
    std::vector<int64_t> seen;
    for (size_t expected : {4u, 4u, 2u}) {
      auto b = c.next();
      CHECK(b.size() == expected);
      seen.insert(seen.end(), b.begin(), b.end());
    }
    CHECK(seen == epoch_order(10, 42, 0, true));
    CHECK(c.epoch() == 0);
    CHECK(c.position() == 10);
    auto first = c.next();
    CHECK(c.epoch() == 1);
    CHECK(c.position() == 4);
    auto order1 = epoch_order(10, 42, 1, true);
    CHECK(first == std::vector<int64_t>(order1.begin(), order1.begin() + 4));
  }
  SECTION("restoring (epoch, position) yields the same future batches") {
    RowCursor straight(7, 3, 9, true);
    std::vector<std::vector<int64_t>> expected;
    std::vector<std::pair<int64_t, int64_t>> states;
    for (int i = 0; i < 12; ++i) {
      states.emplace_back(straight.epoch(), straight.position());
      expected.push_back(straight.next());
    }
    for (size_t stop : {0u, 1u, 2u, 3u, 5u, 8u}) {
      INFO("stopped before batch " << stop);
      RowCursor resumed(7, 3, 9, true);
      resumed.restore(states[stop].first, states[stop].second);
      for (size_t i = stop; i < expected.size(); ++i) CHECK(resumed.next() == expected[i]);
    }
  }
  SECTION("without shuffling every epoch is 0..n-1") {
    RowCursor c(3, 2, 1, false);
    CHECK(c.next() == std::vector<int64_t>{0, 1});
    CHECK(c.next() == std::vector<int64_t>{2});
    CHECK(c.next() == std::vector<int64_t>{0, 1});
  }
  SECTION("impossible positions and empty splits are input errors") {
    RowCursor c(5, 2, 1, true);
    CHECK_THROWS_AS(c.restore(0, 6), Error);
    CHECK_THROWS_AS(c.restore(-1, 0), Error);
    CHECK_THROWS_AS(RowCursor(0, 2, 1, true), Error);
    CHECK_THROWS_AS(RowCursor(5, 0, 1, true), Error);
    CHECK_NOTHROW(c.restore(2, 5));
    CHECK(c.next().size() == 2);
    CHECK(c.epoch() == 3);
  }
}
