#include "data/inputs.h"

#include <glob.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <system_error>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"

namespace loratune::data {
namespace fs = std::filesystem;

const std::vector<std::string>& supported_extensions() {
  static const std::vector<std::string> exts = {".txt", ".md", ".jsonl"};
  return exts;
}

std::string supported_extensions_list() { return join(supported_extensions(), ", "); }

std::string input_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

bool is_supported_input(const std::string& path) {
  const auto& exts = supported_extensions();
  return std::find(exts.begin(), exts.end(), input_extension(path)) != exts.end();
}

bool is_text_input(const std::string& path) {
  const std::string ext = input_extension(path);
  return ext == ".txt" || ext == ".md";
}

namespace {

bool is_glob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// Usable files under dir, recursively, sorted by path. Hidden files and directories (".git", editor
// backups) are skipped.
std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code entry_ec;  // a broken symlink is just not a usable file, not a listing failure
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(entry_ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(entry_ec) && is_supported_input(name)) out.push_back(it->path().string());
  }
  if (ec) fail_input(dir + ": cannot list directory (" + ec.message() + ")", "check that it is readable");
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> glob_matches(const std::string& pattern) {
  glob_t g{};
  int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> out;
  if (rc == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  if (rc == GLOB_NOSPACE) fail_runtime(pattern + ": out of memory expanding the pattern");
  if (rc == GLOB_ABORTED) fail_input(pattern + ": a directory could not be read while expanding the pattern");
  std::sort(out.begin(), out.end());  // byte order, independent of the locale
  return out;
}

void expand_path(const std::string& path, bool from_glob, std::vector<std::string>& out) {
  if (is_directory(path)) {
    auto files = files_under(path);
    if (files.empty() && !from_glob)
      fail_input(path + ": directory contains no " + supported_extensions_list() + " files",
                 "prepare reads raw text from .txt/.md and records from .jsonl files");
    out.insert(out.end(), files.begin(), files.end());
    return;
  }
  if (is_supported_input(path)) {
    out.push_back(path);
  } else if (!from_glob) {
    fail_input(path + ": unsupported file type \"" + input_extension(path) + "\"; expected " + supported_extensions_list(),
               "a file with one JSON object per line should be named .jsonl");
  }
}

}  // namespace

std::vector<std::string> expand_inputs(const std::vector<std::string>& specs) {
  if (specs.empty()) fail_input("no input files given", "pass files, directories or glob patterns");
  std::vector<std::string> all;
  for (const auto& spec : specs) {
    if (is_glob(spec) && !path_exists(spec)) {
      auto matches = glob_matches(spec);
      if (matches.empty())
        fail_input(spec + ": no files match this pattern", "check the pattern and the working directory");
      const size_t before = all.size();
      for (const auto& m : matches) expand_path(m, true, all);
      if (all.size() == before)
        fail_input(spec + ": the pattern matches no " + supported_extensions_list() + " files");
      continue;
    }
    if (!path_exists(spec))
      fail_input(spec + ": no such file or directory", "check the path (relative paths start at the working directory)");
    expand_path(spec, false, all);
  }
  // The same file reached twice (a file inside a given directory, "./a.jsonl" and "a.jsonl") is read once.
  std::set<std::string> seen;
  std::vector<std::string> unique;
  for (auto& f : all) {
    std::error_code ec;
    fs::path canon = fs::weakly_canonical(f, ec);
    std::string key = ec ? fs::path(f).lexically_normal().string() : canon.string();
    if (seen.insert(key).second) unique.push_back(std::move(f));
  }
  return unique;
}

}  // namespace loratune::data
