#include "tokenizer/hf_added_tokens.h"

#include <algorithm>

#include "tokenizer/hf_regex.h"
#include "tokenizer/hf_unicode.h"

namespace loratune::hf {

namespace {

// Rust regex \w (tokenizers' ends_with_word / starts_with_word use the regex crate).
bool is_word_char(uint32_t cp) {
  if (cp < 0x80)
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
  static const Regex re = Regex::pcre("^[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]$");
  std::string s;
  append_utf8(s, cp);
  size_t a, b;
  return re.search(s, 0, a, b);
}

uint32_t last_char(const std::string& s, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  return next_char(s, start);
}

}  // namespace

AddedVocab AddedVocab::parse(const JsonAt& list, const Bpe& model, const Normalizer& normalizer) {
  AddedVocab v;
  int next_id = static_cast<int>(model.vocab_len());
  for (size_t i = 0; i < list.size(); ++i) {
    const JsonAt e = list.at(i);
    HfAddedToken t;
    t.content = e["content"].str();
    e["id"].integer();  // validated; tokenizers re-derives the id (below) and only warns on a difference
    t.special = e.get_bool("special", false);
    t.normalized = e.get_bool("normalized", !t.special);
    t.lstrip = e.get_bool("lstrip", false);
    t.rstrip = e.get_bool("rstrip", false);
    t.single_word = e.get_bool("single_word", false);
    if (t.content.empty()) continue;
    auto known = v.content_to_id_.find(t.content);
    int id;
    if (known != v.content_to_id_.end())
      id = known->second;
    else if (model.token_to_id(t.content) >= 0)
      id = model.token_to_id(t.content);
    else
      id = next_id++;
    t.id = id;
    v.content_to_id_[t.content] = id;
    if (t.special) v.specials_[t.content] = 1;
    v.by_id_[id] = t;
  }
  std::vector<std::pair<std::string, int>> raw, norm;
  for (const auto& [id, t] : v.by_id_) {
    v.sorted_.push_back(t);
    if (t.normalized) {
      const std::string form = normalizer.empty() ? t.content : normalizer.apply(t.content);
      if (form != t.content) v.normalized_form_[id] = form;
      norm.emplace_back(form, id);
    } else {
      raw.emplace_back(t.content, id);
    }
  }
  std::sort(v.sorted_.begin(), v.sorted_.end(),
            [](const HfAddedToken& a, const HfAddedToken& b) { return a.id < b.id; });
  build(v.raw_, raw);
  build(v.norm_, norm);
  return v;
}

void AddedVocab::build(Matcher& m, const std::vector<std::pair<std::string, int>>& pats) {
  for (const auto& [pat, id] : pats) {
    if (pat.empty()) continue;
    m.empty = false;
    int& r = m.root[static_cast<unsigned char>(pat[0])];
    if (r < 0) {
      r = static_cast<int>(m.nodes.size());
      m.nodes.emplace_back();
    }
    int node = r;
    for (size_t k = 1; k < pat.size(); ++k) {
      const auto c = static_cast<unsigned char>(pat[k]);
      auto& kids = m.nodes[static_cast<size_t>(node)].kids;
      auto it = std::lower_bound(kids.begin(), kids.end(), std::make_pair(c, -1));
      if (it != kids.end() && it->first == c) {
        node = it->second;
      } else {
        const int fresh = static_cast<int>(m.nodes.size());
        kids.insert(it, {c, fresh});
        m.nodes.emplace_back();  // may reallocate: `kids` is not used after this
        node = fresh;
      }
    }
    // Two tokens with the same text (after normalization): the first one listed keeps it.
    if (m.nodes[static_cast<size_t>(node)].id < 0) m.nodes[static_cast<size_t>(node)].id = id;
  }
}

size_t AddedVocab::Matcher::longest(const std::string& s, size_t p, int& id) const {
  int node = root[static_cast<unsigned char>(s[p])];
  size_t best = 0;
  size_t k = p + 1;
  while (node >= 0) {
    const Node& n = nodes[static_cast<size_t>(node)];
    if (n.id >= 0) {
      best = k - p;
      id = n.id;
    }
    if (k >= s.size() || n.kids.empty()) break;
    const auto c = static_cast<unsigned char>(s[k]);
    auto it = std::lower_bound(n.kids.begin(), n.kids.end(), std::make_pair(c, -1));
    if (it == n.kids.end() || it->first != c) break;
    node = it->second;
    ++k;
  }
  return best;
}

int AddedVocab::token_to_id(const std::string& content) const {
  auto it = content_to_id_.find(content);
  return it == content_to_id_.end() ? -1 : it->second;
}

const HfAddedToken* AddedVocab::by_id(int id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

const std::string* AddedVocab::decode_form(int id) const {
  auto f = normalized_form_.find(id);
  if (f != normalized_form_.end()) return &f->second;
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second.content;
}

int AddedVocab::max_id() const { return sorted_.empty() ? -1 : sorted_.back().id; }

void AddedVocab::find(const std::string& s, const Matcher& m, std::vector<Split>& out) const {
  out.clear();
  if (s.empty()) {
    out.push_back({0, 0, -1});
    return;
  }
  if (m.empty) {
    out.push_back({0, s.size(), -1});
    return;
  }
  size_t start_offset = 0;
  size_t p = 0;
  const size_t n = s.size();
  while (p < n) {
    int hit_id = -1;
    const size_t len = m.longest(s, p, hit_id);
    if (len == 0) {
      ++p;
      continue;
    }
    size_t start = p, stop = p + len;
    p = stop;  // non-overlapping: the search goes on after this match whatever happens to it
    const HfAddedToken& t = by_id_.at(hit_id);
    if (t.single_word) {
      const bool start_space = start == 0 || !is_word_char(last_char(s, start));
      size_t k = stop;
      const bool stop_space = stop == n || !is_word_char(next_char(s, k));
      if (!start_space || !stop_space) continue;
    }
    if (t.lstrip) {
      size_t ns = start;
      while (ns > 0) {
        const uint32_t cp = last_char(s, ns);
        if (!is_white_space(cp)) break;
        size_t back = ns - 1;
        while (back > 0 && (static_cast<unsigned char>(s[back]) & 0xC0) == 0x80) --back;
        ns = back;
      }
      start = std::max(ns, start_offset);
    }
    if (t.rstrip) {
      while (stop < n) {
        size_t k = stop;
        if (!is_white_space(next_char(s, k))) break;
        stop = k;
      }
    }
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, t.id});
    start_offset = stop;
  }
  if (start_offset != n) out.push_back({start_offset, n, -1});
}

}  // namespace loratune::hf
