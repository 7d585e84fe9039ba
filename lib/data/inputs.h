// Input discovery for `loratune prepare`: expands files, directories and glob patterns into a
// deterministic list of the files prepare reads (.txt/.md raw text, .jsonl records). Torch-free.
#pragma once
#include <string>
#include <vector>

namespace loratune::data {

// The file extensions prepare reads (lower case, with the dot), and them as one ".txt, .md, .jsonl".
const std::vector<std::string>& supported_extensions();
std::string supported_extensions_list();

std::string input_extension(const std::string& path);  // lower case, with the dot; "" for none
bool is_supported_input(const std::string& path);      // its extension is one of supported_extensions()
bool is_text_input(const std::string& path);           // .txt or .md: raw text, not JSONL records

// Expands input specs into files: files as given; directories recursively (only *.txt, *.md, *.jsonl,
// hidden entries skipped, sorted by path); glob patterns (containing * ? or [) via glob(3), sorted, each
// match expanded like a plain spec (non-matching extensions dropped). A missing path, a glob matching
// nothing, a directory with no usable files or an explicit file with another extension: fail_input naming
// it. Duplicates (the same file reached twice) are removed, keeping the first occurrence.
std::vector<std::string> expand_inputs(const std::vector<std::string>& specs);

}  // namespace loratune::data
