#include "eval/metrics.h"

#include <algorithm>
#include <map>

namespace loratune::eval {
namespace {

bool is_ascii_punct(unsigned char c) {
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
}

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool is_article(const std::string& w) { return w == "a" || w == "an" || w == "the"; }

// Harmonic mean of overlap/|pred| and overlap/|ref|, with SQuAD's conventions for empty sides.
double overlap_f1(size_t overlap, size_t n_pred, size_t n_ref) {
  if (n_pred == 0 || n_ref == 0) return n_pred == n_ref ? 1.0 : 0.0;
  if (overlap == 0) return 0.0;
  const double p = static_cast<double>(overlap) / static_cast<double>(n_pred);
  const double r = static_cast<double>(overlap) / static_cast<double>(n_ref);
  return 2.0 * p * r / (p + r);
}

}  // namespace

std::vector<std::string> normalized_tokens(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (!word.empty() && !is_article(word)) words.push_back(word);
    word.clear();
  };
  for (unsigned char c : text) {
    if (is_space(c)) {
      flush();
    } else if (!is_ascii_punct(c)) {
      word.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c));
    }
  }
  flush();
  return words;
}

std::string normalize_answer(const std::string& text) {
  std::string out;
  for (const std::string& w : normalized_tokens(text)) {
    if (!out.empty()) out.push_back(' ');
    out += w;
  }
  return out;
}

double exact_match(const std::string& prediction, const std::string& reference) {
  return normalize_answer(prediction) == normalize_answer(reference) ? 1.0 : 0.0;
}

double contains_match(const std::string& prediction, const std::string& reference) {
  const std::string ref = normalize_answer(reference), pred = normalize_answer(prediction);
  if (ref.empty()) return pred.empty() ? 1.0 : 0.0;
  return (" " + pred + " ").find(" " + ref + " ") != std::string::npos ? 1.0 : 0.0;
}

double token_f1(const std::string& prediction, const std::string& reference) {
  const auto pred = normalized_tokens(prediction), ref = normalized_tokens(reference);
  std::map<std::string, size_t> ref_counts;
  for (const auto& w : ref) ++ref_counts[w];
  size_t overlap = 0;
  for (const auto& w : pred) {
    auto it = ref_counts.find(w);
    if (it != ref_counts.end() && it->second > 0) {
      --it->second;
      ++overlap;
    }
  }
  return overlap_f1(overlap, pred.size(), ref.size());
}

size_t lcs_length(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<size_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

double rouge_l_f1(const std::string& prediction, const std::string& reference) {
  const auto pred = normalized_tokens(prediction), ref = normalized_tokens(reference);
  return overlap_f1(lcs_length(pred, ref), pred.size(), ref.size());
}

TextScores score_text(const std::string& prediction, const std::string& reference) {
  return {exact_match(prediction, reference), contains_match(prediction, reference),
          token_f1(prediction, reference), rouge_l_f1(prediction, reference)};
}

}  // namespace loratune::eval
