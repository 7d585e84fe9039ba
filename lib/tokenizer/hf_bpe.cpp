#include "tokenizer/hf_bpe.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "core/error.h"
#include "tokenizer/hf_unicode.h"

namespace loratune::hf {

Bpe Bpe::parse(const JsonAt& m, const TokenizerDoc* doc) {
  Bpe b;
  if (m.has("dropout")) {
    const double d = m["dropout"].number();
    if (d != 0.0) m["dropout"].unsupported("BPE dropout " + m["dropout"].raw().dump() + " (only null or 0)");
  }
  const JsonAt vocab = m["vocab"];
  // (token, id) in a order where the entry that wins a duplicate key comes first.
  std::vector<std::pair<const std::string*, int>> entries;
  if (doc && doc->has_vocab) {
    if (!doc->bad_vocab.empty()) vocab.fail(doc->bad_vocab);
    entries.reserve(doc->vocab.size());
    for (auto it = doc->vocab.rbegin(); it != doc->vocab.rend(); ++it) {  // a later duplicate wins (as a map)
      if (it->second > 0x7FFFFFF)
        vocab.fail("token '" + it->first + "' has id " + std::to_string(it->second) + ", too large");
      entries.emplace_back(&it->first, static_cast<int>(it->second));
    }
  } else {
    const auto& vj = vocab.raw();
    if (!vj.is_object()) vocab.fail("expected an object {token: id}, got " + std::string(vj.type_name()));
    for (auto it = vj.begin(); it != vj.end(); ++it) {
      if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 0x7FFFFFF)
        vocab.fail("token '" + it.key() + "' needs a non-negative integer id, got " + it->dump());
      entries.emplace_back(&it.key(), static_cast<int>(it->get<int64_t>()));
    }
  }
  int max_id = -1;
  for (const auto& e : entries) max_id = std::max(max_id, e.second);
  // The id -> token table is dense; refuse ids so sparse that it would be mostly holes (a corrupt file).
  if (static_cast<size_t>(max_id) > entries.size() * 4 + 65536)
    vocab.fail(
        "ids go up to " + std::to_string(max_id) + " for " + std::to_string(entries.size()) + " tokens",
        "the vocabulary ids should be 0..N-1: fix or fetch the tokenizer.json again");
  b.vocab_r_.assign(static_cast<size_t>(max_id + 1), std::string());
  b.has_id_.assign(static_cast<size_t>(max_id + 1), 0);
  size_t cap = 16;
  while (cap < entries.size() * 2) cap <<= 1;
  b.slots_.assign(cap, 0);
  b.mask_ = cap - 1;
  for (const auto& [tokp, id] : entries) {
    const std::string& tok = *tokp;
    const int slot = b.find_slot(tok.data(), tok.size());
    if (b.slots_[static_cast<size_t>(slot)] != 0) continue;  // a duplicate key: the first in `entries` won
    if (b.has_id_[static_cast<size_t>(id)]) {
      if (b.extra_.emplace(tok, id).second) ++b.vocab_count_;
      continue;
    }
    ++b.vocab_count_;
    b.vocab_r_[static_cast<size_t>(id)] = tok;
    b.has_id_[static_cast<size_t>(id)] = 1;
    b.slots_[static_cast<size_t>(slot)] = static_cast<uint32_t>(id) + 1;
  }

  if (m.has("unk_token")) {
    b.has_unk_ = true;
    b.unk_token_ = m["unk_token"].str();
    b.unk_id_ = b.token_to_id(b.unk_token_);
  }
  if (m.has("continuing_subword_prefix")) {
    b.has_prefix_ = true;
    b.prefix_ = m["continuing_subword_prefix"].str();
  }
  if (m.has("end_of_word_suffix")) {
    b.has_suffix_ = true;
    b.suffix_ = m["end_of_word_suffix"].str();
  }
  b.fuse_unk_ = m.get_bool("fuse_unk", false);
  b.byte_fallback_ = m.get_bool("byte_fallback", false);
  b.ignore_merges_ = m.get_bool("ignore_merges", false);
  for (int i = 0; i < 256; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", i);
    b.byte_ids_[i] = b.token_to_id(name);
  }

  const JsonAt merges = m["merges"];
  static const nlohmann::json kNull;
  const auto at = [&](size_t i) {
    return JsonAt(kNull, merges.file(), merges.path() + "[" + std::to_string(i) + "]");
  };
  uint32_t rank = 0;
  std::string merged_text;
  const size_t prefix_len = b.prefix_.size();
  // One merge: `line` ("a b") or the pair (left, right).
  const auto add = [&](size_t i, const std::string* line, const std::string* l, const std::string* r) {
    std::string left, right;
    if (line) {
      if (line->rfind("#version", 0) == 0) return;  // a merges.txt header kept in the list
      const size_t sp = line->find(' ');
      if (sp == std::string::npos || line->find(' ', sp + 1) != std::string::npos)
        at(i).fail("merge \"" + *line + "\" must be two tokens separated by one space");
      left = line->substr(0, sp);
      right = line->substr(sp + 1);
      l = &left;
      r = &right;
    }
    const int a = b.token_to_id(*l), c = b.token_to_id(*r);
    const auto missing = [&](const std::string& tok) {
      at(i).fail("merge " + std::to_string(i) + " (\"" + *l + "\", \"" + *r + "\") names \"" + tok +
                     "\", which is not in model.vocab",
                 "the vocabulary and the merges do not belong together: fetch the tokenizer.json again");
    };
    if (a < 0) missing(*l);
    if (c < 0) missing(*r);
    if (r->size() < prefix_len) missing(*r);
    merged_text.assign(*l).append(*r, prefix_len, std::string::npos);
    const int merged = b.token_to_id(merged_text);
    if (merged < 0) missing(merged_text);
    b.merges_[key(a, c)] = MergeTarget{rank, merged};  // a later duplicate overrides (as tokenizers' HashMap)
    ++rank;
  };
  if (doc && doc->has_merges) {
    if (doc->bad_merge >= 0)
      at(static_cast<size_t>(doc->bad_merge))
          .fail("a merge must be \"a b\" or [\"a\", \"b\"], got " + doc->bad_merge_text);
    b.merges_.reserve(doc->merges.size() * 2);
    for (size_t i = 0; i < doc->merges.size(); ++i) {
      const auto& e = doc->merges[i];
      if (e.legacy)
        add(i, &e.a, nullptr, nullptr);
      else
        add(i, nullptr, &e.a, &e.b);
    }
  } else {
    const size_t n = merges.size();
    b.merges_.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) {
      const JsonAt e = merges.at(i);
      const auto& v = e.raw();
      if (v.is_string())
        add(i, &v.get_ref<const std::string&>(), nullptr, nullptr);
      else if (v.is_array() && v.size() == 2 && v[0].is_string() && v[1].is_string())
        add(i, nullptr, &v[0].get_ref<const std::string&>(), &v[1].get_ref<const std::string&>());
      else
        e.fail("a merge must be \"a b\" or [\"a\", \"b\"], got " + v.dump());
    }
  }
  return b;
}

int Bpe::find_slot(const char* p, size_t n) const {
  size_t h = std::hash<std::string_view>()(std::string_view(p, n)) & mask_;
  for (;;) {
    const uint32_t v = slots_[h];
    if (v == 0) return static_cast<int>(h);
    const std::string& t = vocab_r_[v - 1];
    if (t.size() == n && std::memcmp(t.data(), p, n) == 0) return static_cast<int>(h);
    h = (h + 1) & mask_;
  }
}

int Bpe::token_to_id(const char* p, size_t n) const {
  if (slots_.empty()) return -1;
  const uint32_t v = slots_[static_cast<size_t>(find_slot(p, n))];
  if (v != 0) return static_cast<int>(v - 1);
  if (extra_.empty()) return -1;
  auto it = extra_.find(std::string(p, n));
  return it == extra_.end() ? -1 : it->second;
}

const std::string* Bpe::id_to_token(int id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_r_.size() || !has_id_[static_cast<size_t>(id)])
    return nullptr;
  return &vocab_r_[static_cast<size_t>(id)];
}

void Bpe::tokenize(const std::string& w, std::vector<int>& out) const {
  if (w.empty()) return;
  if (ignore_merges_) {
    const int id = token_to_id(w);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  thread_local std::vector<int> ids;
  thread_local std::string s;
  ids.clear();
  int unk = -1;  // a pending unknown token (fused when fuse_unk)
  size_t i = 0;
  while (i < w.size()) {
    const size_t start = i;
    i += std::min(utf8_seq_len(static_cast<unsigned char>(w[i])), w.size() - i);
    const bool first = start == 0, last = i == w.size();
    s.clear();
    if (!first && has_prefix_) s += prefix_;
    s.append(w, start, i - start);
    if (last && has_suffix_) s += suffix_;
    const int id = token_to_id(s);
    if (id >= 0) {
      if (unk >= 0) {
        ids.push_back(unk);
        unk = -1;
      }
      ids.push_back(id);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char c : s) all = all && byte_ids_[c] >= 0;
      if (all) {
        for (unsigned char c : s) ids.push_back(byte_ids_[c]);
        continue;
      }
    }
    if (has_unk_) {
      if (unk_id_ < 0)
        fail_input("tokenizer.json: model.unk_token \"" + unk_token_ + "\" is not in model.vocab",
                   "fix the tokenizer.json (its unknown token must be in the vocabulary)");
      if (unk >= 0 && !fuse_unk_) ids.push_back(unk);
      unk = unk_id_;
    }
  }
  if (unk >= 0) ids.push_back(unk);
  merge(ids);
  out.insert(out.end(), ids.begin(), ids.end());
}

void Bpe::merge(std::vector<int>& ids) const {
  const int n = static_cast<int>(ids.size());
  if (n < 2 || merges_.empty()) return;
  struct Sym {
    int id, prev, next;
    bool alive;
  };
  struct Cand {
    uint32_t rank;
    int pos, id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  thread_local std::vector<Sym> sym;
  thread_local std::vector<Cand> heap;
  sym.resize(static_cast<size_t>(n));
  heap.clear();
  for (int k = 0; k < n; ++k)
    sym[static_cast<size_t>(k)] = Sym{ids[static_cast<size_t>(k)], k - 1, k + 1 < n ? k + 1 : -1, true};
  const auto cmp = [](const Cand& a, const Cand& b) { return a > b; };
  for (int k = 0; k + 1 < n; ++k) {
    auto it = merges_.find(key(ids[static_cast<size_t>(k)], ids[static_cast<size_t>(k + 1)]));
    if (it != merges_.end()) heap.push_back(Cand{it->second.rank, k, it->second.id});
  }
  std::make_heap(heap.begin(), heap.end(), cmp);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), cmp);
    const Cand top = heap.back();
    heap.pop_back();
    Sym& cur = sym[static_cast<size_t>(top.pos)];
    if (!cur.alive || cur.next < 0) continue;
    const Sym right = sym[static_cast<size_t>(cur.next)];
    // A stale entry: the pair at this position changed since it was queued.
    auto it = merges_.find(key(cur.id, right.id));
    if (it == merges_.end() || it->second.id != top.id) continue;
    cur.id = top.id;
    sym[static_cast<size_t>(cur.next)].alive = false;
    cur.next = right.next;
    if (right.next >= 0) sym[static_cast<size_t>(right.next)].prev = top.pos;
    if (cur.prev >= 0) {
      auto p = merges_.find(key(sym[static_cast<size_t>(cur.prev)].id, cur.id));
      if (p != merges_.end()) {
        heap.push_back(Cand{p->second.rank, cur.prev, p->second.id});
        std::push_heap(heap.begin(), heap.end(), cmp);
      }
    }
    if (cur.next >= 0) {
      auto q = merges_.find(key(cur.id, sym[static_cast<size_t>(cur.next)].id));
      if (q != merges_.end()) {
        heap.push_back(Cand{q->second.rank, top.pos, q->second.id});
        std::push_heap(heap.begin(), heap.end(), cmp);
      }
    }
  }
  ids.clear();
  for (int k = 0; k >= 0; k = sym[static_cast<size_t>(k)].next) ids.push_back(sym[static_cast<size_t>(k)].id);
}

}  // namespace loratune::hf
