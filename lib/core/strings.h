// Small string utilities: edit distance and "did you mean" suggestions, trimming, splitting.
#pragma once
#include <string>
#include <vector>

namespace loratune {

size_t edit_distance(const std::string& a, const std::string& b);
// The closest candidate within a distance proportional to the word length, or "" if none is close.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);
// " (did you mean 'x'?)" or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);
std::string trim(const std::string& s);
std::vector<std::string> split(const std::string& s, char sep);
bool starts_with(const std::string& s, const std::string& prefix);
bool ends_with(const std::string& s, const std::string& suffix);
std::string join(const std::vector<std::string>& parts, const std::string& sep);

}  // namespace loratune
