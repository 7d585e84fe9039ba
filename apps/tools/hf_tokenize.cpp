// loratune-hftok: runs loratune's tokenizer.json reader over a JSONL file, for the reference test
// (tests/reference/test_hf_tokenizers.py) and the benchmark (scripts/bench-tokenize.sh). Not installed.
//   loratune-hftok TOKENIZER_JSON INPUT_JSONL OUTPUT_JSONL [--field text] [--ids-only] [--repeat N]
// Each input line {"text": ...} gives one output line
//   {"ids": [...], "ids_nospecial": [...], "decoded": "...", "decoded_skip": "...", "decoded_nospecial":
//   "..."}
// where decoded = decode(ids, skip_special=false), decoded_skip = decode(ids, skip_special=true) and
// decoded_nospecial = decode(ids_nospecial, false). --ids-only writes {"ids": [...]}
// (add_special_tokens=true) and times only the encoding; the time is printed to stderr as "encode_seconds=S
// bytes=B lines=L".
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/hf_tokenizer.h"

using loratune::HfTokenizer;

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  std::string field = "text";
  bool ids_only = false;
  int repeat = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--field" && i + 1 < argc)
      field = argv[++i];
    else if (a == "--ids-only")
      ids_only = true;
    else if (a == "--repeat" && i + 1 < argc)
      repeat = std::stoi(argv[++i]);
    else
      pos.push_back(a);
  }
  if (pos.size() != 3) {
    std::cerr << "usage: loratune-hftok TOKENIZER_JSON INPUT_JSONL OUTPUT_JSONL [--field text] [--ids-only] "
                 "[--repeat N]\n";
    return 2;
  }
  try {
    const auto t_load = std::chrono::steady_clock::now();
    const HfTokenizer tok = HfTokenizer::from_file(pos[0]);
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();
    std::ifstream in(pos[1]);
    if (!in) throw loratune::Error(loratune::ExitCode::Usage, pos[1] + ": cannot open");
    std::vector<std::string> texts;
    std::string line;
    size_t lineno = 0, bytes = 0;
    while (std::getline(in, line)) {
      ++lineno;
      if (line.empty()) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::parse_error& e) {
        throw loratune::Error(loratune::ExitCode::Usage,
                              pos[1] + ":" + std::to_string(lineno) + ": " + e.what());
      }
      if (!j.contains(field) || !j[field].is_string())
        throw loratune::Error(loratune::ExitCode::Usage,
                              pos[1] + ":" + std::to_string(lineno) + ": no string field '" + field + "'");
      texts.push_back(j[field].get<std::string>());
      bytes += texts.back().size();
    }
    std::ofstream out(pos[2]);
    if (!out) throw loratune::Error(loratune::ExitCode::Usage, pos[2] + ": cannot write");
    if (ids_only) {
      std::vector<std::vector<int>> all(texts.size());
      const auto t0 = std::chrono::steady_clock::now();
      for (int r = 0; r < repeat; ++r)
        for (size_t k = 0; k < texts.size(); ++k) all[k] = tok.encode(texts[k], true);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      for (const auto& ids : all) out << nlohmann::json{{"ids", ids}}.dump() << "\n";
      std::fprintf(stderr, "encode_seconds=%.6f bytes=%zu lines=%zu repeat=%d load_seconds=%.3f\n", s, bytes,
                   texts.size(), repeat, load_s);
      return 0;
    }
    for (const std::string& t : texts) {
      const std::vector<int> ids = tok.encode(t, true), ids_ns = tok.encode(t, false);
      nlohmann::json o;
      o["ids"] = ids;
      o["ids_nospecial"] = ids_ns;
      o["decoded"] = tok.decode(ids, false);
      o["decoded_skip"] = tok.decode(ids, true);
      o["decoded_nospecial"] = tok.decode(ids_ns, false);
      out << o.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    return 0;
  } catch (const loratune::Error& e) {
    std::cerr << "error: " << e.message() << "\n";
    if (!e.hint().empty()) std::cerr << "hint: " << e.hint() << "\n";
    return 2;
  }
}
