// Text metrics of generation-based evaluation (torch-free), following the SQuAD v1.1 evaluation script
// for normalisation, exact match and token F1, and ROUGE-L (Lin 2004) as an LCS F1 over words.
#pragma once
#include <string>
#include <vector>

namespace loratune::eval {

// SQuAD's normalize_answer: ASCII letters lower-cased, ASCII punctuation (Python's string.punctuation)
// removed, the articles "a", "an", "the" dropped as whole words, whitespace runs collapsed to one space
// and the ends trimmed. Non-ASCII bytes are kept as they are (no Unicode case folding).
std::string normalize_answer(const std::string& text);

// The words of the normalised text (split on spaces); empty for an empty text.
std::vector<std::string> normalized_tokens(const std::string& text);

// 1 when the normalised prediction equals the normalised reference, else 0.
double exact_match(const std::string& prediction, const std::string& reference);

// 1 when the normalised reference occurs in the normalised prediction as a run of whole words
// ("paris" in "it is paris france", not "par" in "paris"); an empty normalised reference counts only
// for an empty prediction.
double contains_match(const std::string& prediction, const std::string& reference);

// SQuAD token F1 over normalised words: the multiset overlap gives precision = overlap / |prediction|
// and recall = overlap / |reference|, F1 = 2PR / (P + R); 0 without overlap. When either side has no
// words, 1 if both have none, else 0.
double token_f1(const std::string& prediction, const std::string& reference);

// The length of the longest common subsequence of two word sequences (O(|a| |b|) time, O(|b|) memory).
size_t lcs_length(const std::vector<std::string>& a, const std::vector<std::string>& b);

// ROUGE-L F1 (beta = 1) over normalised words: P = LCS / |prediction|, R = LCS / |reference|,
// F = 2PR / (P + R); 0 when the LCS is empty; when either side has no words, 1 if both have none, else 0.
double rouge_l_f1(const std::string& prediction, const std::string& reference);

// The four metrics of one prediction, named as in the report.
struct TextScores {
  double exact_match = 0, contains = 0, token_f1 = 0, rouge_l = 0;
};
TextScores score_text(const std::string& prediction, const std::string& reference);

}  // namespace loratune::eval
