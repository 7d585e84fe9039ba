#include "train/loss_eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.h"
#include "core/signals.h"
#include "train/batcher.h"

namespace loratune::train {
namespace {

// Logit elements materialised at once (fp32): 2^26 = 256 MiB, e.g. 1365 positions of a 49152 vocabulary.
constexpr int64_t kLogitElementsPerChunk = int64_t{1} << 26;

// Flat [B*T] indices of the target positions of a batch and the source index of each, in order.
struct TargetPositions {
  std::vector<int64_t> flat;      // b * T + t
  std::vector<uint32_t> sources;  // the source of the packed sample holding position t
};

TargetPositions target_positions(const data::PreparedSplit& split, const std::vector<int64_t>& rows,
                                 const Batch& batch) {
  TargetPositions out;
  const int64_t T = batch.targets.size(1);
  const int64_t* targets = batch.targets.data_ptr<int64_t>();
  out.flat.reserve(static_cast<size_t>(batch.target_tokens));
  out.sources.reserve(static_cast<size_t>(batch.target_tokens));
  for (size_t b = 0; b < rows.size(); ++b) {
    const data::RowView v = split.row(rows[b]);
    uint32_t sample = 0;
    for (int64_t t = 0; t < static_cast<int64_t>(v.length); ++t) {
      while (sample + 1 < v.n_samples && v.starts[sample + 1] <= t) ++sample;
      const int64_t flat = static_cast<int64_t>(b) * T + t;
      if (targets[flat] == kIgnoreIndex) continue;
      out.flat.push_back(flat);
      out.sources.push_back(v.sources ? v.sources[sample] : 0);
    }
  }
  return out;
}

// Every token id of the batch (targets are a subset) must index the model's embedding.
void check_token_range(const torch::Tensor& ids, int64_t vocab, const std::string& split_dir) {
  // ids [B, T] int64 (padding is 0)
  const auto bad = ids.lt(0).logical_or(ids.ge(vocab));
  if (!bad.any().item<bool>()) return;
  fail_input(split_dir + ": token id " + std::to_string(ids.masked_select(bad)[0].item<int64_t>()) +
                 " is outside the model's vocabulary of " + std::to_string(vocab) + " tokens",
             "the dataset was prepared for another tokenizer; re-run prepare with this model ({opt:model} DIR)");
}

// Per-target cross-entropy (fp64 on the CPU) and correctness of hidden states `h` [N, H] against
// `targets` [N], in chunks that bound the fp32 logits.
void score_targets(CausalLM& model, const torch::Tensor& h, const torch::Tensor& targets,
                   std::vector<double>* ce, std::vector<uint8_t>* correct) {
  const int64_t N = h.size(0), V = model->hparams().vocab_size;
  const int64_t chunk = std::max<int64_t>(1, kLogitElementsPerChunk / V);
  for (int64_t begin = 0; begin < N; begin += chunk) {
    const int64_t n = std::min(chunk, N - begin);
    const auto logits = model->logits_from_hidden(h.narrow(0, begin, n).unsqueeze(0)).squeeze(0)
                            .to(torch::kFloat32);                                     // [n, V]
    const auto t = targets.narrow(0, begin, n);                                       // [n]
    const auto nll = torch::logsumexp(logits, -1) - logits.gather(1, t.unsqueeze(1)).squeeze(1);  // [n]
    const auto hit = logits.argmax(-1).eq(t);                                         // [n]
    const auto nll_cpu = nll.to(torch::kCPU, torch::kFloat64).contiguous();
    const auto hit_cpu = hit.to(torch::kCPU, torch::kUInt8).contiguous();
    ce->insert(ce->end(), nll_cpu.data_ptr<double>(), nll_cpu.data_ptr<double>() + n);
    correct->insert(correct->end(), hit_cpu.data_ptr<uint8_t>(), hit_cpu.data_ptr<uint8_t>() + n);
  }
}

}  // namespace

double LossTotals::loss() const { return targets > 0 ? loss_sum / static_cast<double>(targets) : NAN; }
double LossTotals::perplexity() const { return std::exp(loss()); }
double LossTotals::accuracy() const {
  return targets > 0 ? static_cast<double>(correct) / static_cast<double>(targets) : NAN;
}
void LossTotals::add(const LossTotals& o) {
  loss_sum += o.loss_sum;
  targets += o.targets;
  correct += o.correct;
}

LossEvalResult evaluate_loss(CausalLM& model, const data::PreparedSplit& split, const LossEvalOptions& opts) {
  LT_CHECK(opts.batch_size >= 1 && opts.max_batches >= 0, "evaluate_loss: bad batch options");
  if (split.rows() == 0)
    fail_input(split.dir() + ": the split is empty, nothing to evaluate",
               "evaluate another split ({opt:split} train|val), or prepare with a validation share ({opt:val_fraction})");
  torch::NoGradGuard no_grad;
  model->eval();
  const auto& hp = model->hparams();
  const torch::Device device = model->device();
  int64_t n_rows = split.rows();
  if (opts.max_batches > 0) n_rows = std::min(n_rows, opts.max_batches * opts.batch_size);

  LossEvalResult res;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t start = 0; start < n_rows; start += opts.batch_size) {
    if (opts.interruptible) throw_if_interrupted("eval");
    std::vector<int64_t> rows;
    for (int64_t r = start; r < std::min(start + opts.batch_size, n_rows); ++r) rows.push_back(r);
    const Batch cpu = make_batch(split, rows, 0, hp.sliding_window);
    res.rows += static_cast<int64_t>(rows.size());
    res.tokens += cpu.tokens;
    check_token_range(cpu.input_ids, hp.vocab_size, split.dir());
    if (cpu.target_tokens > 0) {
      const TargetPositions pos = target_positions(split, rows, cpu);
      const auto flat = torch::tensor(pos.flat, torch::kInt64);                    // [N]
      const auto targets = cpu.targets.reshape({-1}).index_select(0, flat);         // [N]
      const Batch b = cpu.to(device);
      ForwardOptions fo;
      fo.position_ids = b.position_ids;
      fo.attention_mask = b.attention_mask;
      const auto hidden = model->hidden_states(b.input_ids, fo);                    // [B, T, H]
      const auto h = hidden.reshape({-1, hidden.size(2)}).index_select(0, flat.to(device));  // [N, H]
      std::vector<double> ce;
      std::vector<uint8_t> correct;
      score_targets(model, h, targets.to(device), &ce, &correct);
      for (size_t i = 0; i < ce.size(); ++i) {
        const LossTotals one{ce[i], 1, correct[i]};
        res.total.add(one);
        if (split.has_sources()) res.by_source[pos.sources[i]].add(one);
      }
    }
    if (opts.on_progress) opts.on_progress(res.rows, n_rows, res.tokens);
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!std::isfinite(res.total.loss_sum))
    fail_runtime(split.dir() + ": the loss is not finite (" + std::to_string(res.total.loss_sum) + ")",
                 "the weights may hold NaN/Inf, or fp16 overflowed: try {opt:dtype} fp32");
  return res;
}

}  // namespace loratune::train
