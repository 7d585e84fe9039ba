#include "train/batcher.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace loratune::train {
namespace {

// splitmix64 (Steele, Lea & Flood 2014; the seeding generator of xoshiro): a 64-bit state advanced by a
// fixed odd constant and passed through a bijective finalizer.
constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ULL;

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t state) : state_(state) {}
  uint64_t next() { return mix64(state_ += kGamma); }
  // Uniform in [0, bound), bound >= 1, without modulo bias: draws below 2^64 mod bound are rejected so
  // that the accepted range is a whole number of periods of `bound`.
  uint64_t below(uint64_t bound) {
    const uint64_t threshold = (0 - bound) % bound;
    for (;;) {
      const uint64_t r = next();
      if (r >= threshold) return r % bound;
    }
  }

 private:
  uint64_t state_;
};

}  // namespace

Batch Batch::to(const torch::Device& device) const {
  Batch b = *this;
  b.input_ids = input_ids.to(device);
  b.targets = targets.to(device);
  b.position_ids = position_ids.to(device);
  b.attention_mask = attention_mask.to(device);
  return b;
}

Batch make_batch(const data::PreparedSplit& split, const std::vector<int64_t>& rows, int64_t pad_to,
                 int64_t sliding_window) {
  LT_CHECK(!rows.empty(), "make_batch: no rows");
  LT_CHECK(pad_to >= 0 && sliding_window >= 0, "make_batch: negative pad_to or sliding_window");
  std::vector<data::RowView> views;
  views.reserve(rows.size());
  int64_t longest = 0;
  for (int64_t r : rows) {
    LT_CHECK(r >= 0 && r < split.rows(),
             "make_batch: row " + std::to_string(r) + " of a split with " + std::to_string(split.rows()) + " rows");
    views.push_back(split.row(r));
    const int64_t len = views.back().length;
    if (pad_to > 0 && len > pad_to)
      fail_input(split.dir() + ": row " + std::to_string(r) + " has " + std::to_string(len) +
                     " tokens, more than the training sequence length " + std::to_string(pad_to),
                 "prepare the data with {opt:seq_len} " + std::to_string(pad_to) +
                     " (or less), or train with a sequence length of at least " + std::to_string(len));
    longest = std::max(longest, len);
  }
  const int64_t B = static_cast<int64_t>(rows.size());
  const int64_t T = pad_to > 0 ? pad_to : longest;

  Batch batch;
  batch.causal = sliding_window == 0 || T <= sliding_window;
  for (const auto& v : views) batch.causal = batch.causal && v.n_samples <= 1;
  batch.input_ids = torch::zeros({B, T}, torch::kInt64);
  batch.targets = torch::full({B, T}, kIgnoreIndex, torch::kInt64);
  batch.position_ids = torch::zeros({B, T}, torch::kInt64);
  batch.attention_mask = torch::zeros({B, T, T}, torch::kBool);
  int64_t* ids = batch.input_ids.data_ptr<int64_t>();
  int64_t* targets = batch.targets.data_ptr<int64_t>();
  int64_t* positions = batch.position_ids.data_ptr<int64_t>();
  bool* mask = batch.attention_mask.data_ptr<bool>();

  for (int64_t b = 0; b < B; ++b) {
    const data::RowView& v = views[static_cast<size_t>(b)];
    const int64_t len = v.length;
    int64_t* row_ids = ids + b * T;
    int64_t* row_targets = targets + b * T;
    int64_t* row_positions = positions + b * T;
    bool* row_mask = mask + b * T * T;

    // starts[next_start] is the first sample start after the current position (n_samples = none).
    uint32_t next_start = 1;
    int64_t sample_begin = 0;
    for (int64_t t = 0; t < len; ++t) {
      if (next_start < v.n_samples && v.starts[next_start] == t) {
        sample_begin = t;
        ++next_start;
      }
      row_ids[t] = v.id(static_cast<size_t>(t));
      row_positions[t] = t - sample_begin;
      int64_t first_key = sample_begin;
      if (sliding_window > 0) first_key = std::max(first_key, t - sliding_window + 1);
      std::memset(row_mask + t * T + first_key, 1, static_cast<size_t>(t - first_key + 1));

      const int64_t u = t + 1;
      const bool u_starts_sample = next_start < v.n_samples && v.starts[next_start] == u;
      if (u < len && !u_starts_sample && v.trained[u]) {
        row_targets[t] = v.id(static_cast<size_t>(u));
        ++batch.target_tokens;
      }
    }
    for (int64_t t = len; t < T; ++t) row_mask[t * T + t] = true;  // padding: only itself (no empty softmax)
    batch.tokens += len;
  }
  return batch;
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  LT_CHECK(n >= 0 && epoch >= 0, "epoch_order: negative row count or epoch");
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  if (!shuffle) return order;
  // One stream per (seed, epoch): the key hashes both, so the streams of neighbouring epochs are not
  // shifted copies of one another (as seed + epoch * gamma would make them).
  SplitMix64 rng(mix64(seed + mix64(static_cast<uint64_t>(epoch) ^ 0xD1B54A32D192ED03ULL)));
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i) + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

RowCursor::RowCursor(int64_t rows, int64_t batch_size, uint64_t seed, bool shuffle)
    : rows_(rows), batch_size_(batch_size), seed_(seed), shuffle_(shuffle) {
  if (rows < 1) fail_input("the training split has no rows", "prepare more data, or lower the validation fraction");
  if (batch_size < 1)
    fail_input("the micro-batch size is " + std::to_string(batch_size), "use a batch size of at least 1");
  load_order();
}

void RowCursor::load_order() { order_ = epoch_order(rows_, seed_, epoch_, shuffle_); }

std::vector<int64_t> RowCursor::next() {
  if (position_ >= rows_) {
    ++epoch_;
    position_ = 0;
    load_order();
  }
  const int64_t n = std::min(batch_size_, rows_ - position_);
  std::vector<int64_t> batch(order_.begin() + position_, order_.begin() + position_ + n);
  position_ += n;
  return batch;
}

void RowCursor::restore(int64_t epoch, int64_t position) {
  if (epoch < 0 || position < 0 || position > rows_)
    fail_input("the saved data position (epoch " + std::to_string(epoch) + ", row " + std::to_string(position) +
                   ") does not fit a training split of " + std::to_string(rows_) + " rows",
               "the checkpoint was written for another prepared dataset; resume with that dataset, or start a "
               "fresh run without {opt:resume}");
  const bool reload = epoch != epoch_;
  epoch_ = epoch;
  position_ = position;
  if (reload) load_order();
}

}  // namespace loratune::train
