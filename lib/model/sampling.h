// Decoding options (the app converts its [generate] config section and runtime.seed into these once).
// Torch-free.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace loratune {

struct SamplingOptions {
  int64_t max_new_tokens = 128;
  double temperature = 0.0;  // 0 = greedy
  int64_t top_k = 0;         // 0 = off
  double top_p = 1.0;        // 1 = off
  uint64_t seed = 42;
  std::vector<std::string> stop;  // stop strings
  std::vector<int> eos_ids;       // tokens that end generation
};

}  // namespace loratune
