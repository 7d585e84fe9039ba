#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/hf_regex.h"

#include <pcre2.h>
#include <cctype>
#include <stdexcept>

#include "core/error.h"
#include "tokenizer/hf_unicode.h"

namespace loratune::hf {

struct Regex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  std::string pattern;
  ~Code() {
    if (code) pcre2_code_free(code);
  }
};

namespace {

const char* kWord = "\\p{L}\\p{M}\\p{N}\\p{Pc}";

Regex::Code* compile(const std::string& pattern, uint32_t options) {
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK | options, &err, &off, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    throw std::invalid_argument("regex /" + pattern + "/ does not compile at offset " + std::to_string(off) +
                                ": " + reinterpret_cast<const char*>(msg));
  }
  auto* c = new Regex::Code;
  c->code = code;
  c->pattern = pattern;
  c->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return c;
}

// One match-data block per thread: matching is then allocation-free and thread-safe.
struct MatchData {
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  ~MatchData() { pcre2_match_data_free(md); }
};
thread_local MatchData tl_match;

}  // namespace

std::string onig_to_pcre2(const std::string& p) {
  std::string out;
  out.reserve(p.size() + 32);
  int depth = 0;  // character-class nesting
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[++i];
      const bool in = depth > 0;
      switch (e) {
        case 's':
          out += "\\p{White_Space}";
          break;
        case 'S':
          out += "\\P{White_Space}";
          break;
        case 'w':
          out += in ? std::string(kWord) : "[" + std::string(kWord) + "]";
          break;
        case 'W':
          if (in)
            out += "\\W";  // no exact class-internal complement; PCRE2's own
          else
            out += "[^" + std::string(kWord) + "]";
          break;
        case 'h':
          out += in ? "0-9a-fA-F" : "[0-9a-fA-F]";
          break;
        case 'H':
          out += in ? "\\H" : "[^0-9a-fA-F]";
          break;
        case 'u':
          if (i + 4 < p.size()) {
            out += "\\x{" + p.substr(i + 1, 4) + "}";
            i += 4;
          } else {
            out += "\\u";
          }
          break;
        default:
          out += '\\';
          out += e;
      }
      continue;
    }
    if (c == '(' && depth == 0 && i + 2 < p.size() && p[i + 1] == '?') {
      // Inline options: Ruby's (?m) is "dot matches newline", PCRE2's (?s).
      size_t k = i + 2;
      while (k < p.size() && (p[k] == 'i' || p[k] == 'm' || p[k] == 'x' || p[k] == '-')) ++k;
      if (k > i + 2 && k < p.size() && (p[k] == ':' || p[k] == ')')) {
        out += "(?";
        for (size_t q = i + 2; q < k; ++q) out += p[q] == 'm' ? 's' : p[q];
        i = k - 1;
        continue;
      }
    }
    if (c == '[') {
      if (depth > 0 && i + 1 < p.size() && p[i + 1] == ':') {  // POSIX bracket [:alpha:] inside a class
        const size_t close = p.find(":]", i + 2);
        if (close != std::string::npos) {
          out.append(p, i, close + 2 - i);
          i = close + 1;
          continue;
        }
      }
      ++depth;
      out += c;
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < p.size() && p[i + 1] == '^') {
        out += '^';
        ++i;
      }
      if (i + 1 < p.size() && p[i + 1] == ']') {
        out += "\\]";
        ++i;
      }
      continue;
    }
    if (c == ']' && depth > 0) --depth;
    out += c;
  }
  return out;
}

Regex Regex::onig(const std::string& pattern) {
  Regex r;
  r.code_.reset(compile(onig_to_pcre2(pattern), PCRE2_MULTILINE));
  return r;
}

Regex Regex::literal(const std::string& text) {
  Regex r;
  // Escaped by hand: PCRE2_LITERAL does not combine with PCRE2_UCP.
  std::string p;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && !std::isalnum(u)) p += '\\';
    p += c;
  }
  r.code_.reset(compile(p, 0));
  return r;
}

Regex Regex::pcre(const std::string& pattern) {
  Regex r;
  r.code_.reset(compile(pattern, 0));
  return r;
}

const std::string& Regex::pattern() const { return code_->pattern; }

bool Regex::search(const std::string& s, size_t start, size_t& mstart, size_t& mend) const {
  pcre2_match_data* md = tl_match.md;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  int rc = code_->jit ? pcre2_jit_match(code_->code, subject, s.size(), start, 0, md, nullptr)
                      : pcre2_match(code_->code, subject, s.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr);
  // JIT's stack is small (32 KiB); the interpreter keeps its backtracking state on the heap.
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
    rc = pcre2_match(code_->code, subject, s.size(), start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, nullptr);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    fail_runtime("tokenizer regex /" + code_->pattern + "/ failed on a text of " + std::to_string(s.size()) +
                     " bytes: " + reinterpret_cast<const char*>(msg),
                 "split the text into shorter pieces");
  }
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
  mstart = ov[0];
  mend = ov[1];
  return true;
}

void Regex::find_all(const std::string& s, std::vector<std::pair<size_t, size_t>>& out) const {
  out.clear();
  size_t last_end = 0;
  bool have_last = false;
  size_t last_match_end = 0;
  while (last_end <= s.size()) {
    size_t ms, me;
    if (!search(s, last_end, ms, me)) break;
    if (ms == me && have_last && last_match_end == me) {
      last_end += last_end < s.size() ? utf8_seq_len(static_cast<unsigned char>(s[last_end])) : 1;
      continue;
    }
    last_end = me;
    last_match_end = me;
    have_last = true;
    out.emplace_back(ms, me);
  }
}

}  // namespace loratune::hf
