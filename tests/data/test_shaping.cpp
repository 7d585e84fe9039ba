// Shaping: chunking with/without stride, truncation, packing boundaries, dedup keys and the split.
#include <catch2/catch.hpp>
#include <numeric>
#include <random>
#include <set>

#include "core/error.h"
#include "data/shaping.h"

using namespace loratune;
using namespace loratune::data;

namespace {

// ids = first, first+1, ...; mask all trained unless given.
TokenizedSample make_sample(size_t n, int32_t first = 0, std::vector<uint8_t> mask = {}) {
  TokenizedSample s;
  s.ids.resize(n);
  std::iota(s.ids.begin(), s.ids.end(), first);
  s.trained = mask.empty() ? std::vector<uint8_t>(n, 1) : std::move(mask);
  s.source = "doc.txt";
  s.line = 7;
  return s;
}

std::vector<int32_t> range(int32_t begin, int32_t end) {
  std::vector<int32_t> v(static_cast<size_t>(end - begin));
  std::iota(v.begin(), v.end(), begin);
  return v;
}

std::vector<Row> pack_all(int64_t seq_len, bool pack, const std::vector<size_t>& lengths,
                          size_t window = 32) {
  std::vector<Row> rows;
  Packer p(
      seq_len, pack, [&](Row&& r) { rows.push_back(std::move(r)); }, window);
  int32_t next = 0;
  for (size_t n : lengths) {
    p.add(make_sample(n, next));
    next += static_cast<int32_t>(n);
  }
  p.finish();
  return rows;
}

// The lengths of the samples packed into a row, from its starts.
std::vector<size_t> sample_lengths(const Row& r) {
  std::vector<size_t> out;
  for (size_t i = 0; i < r.starts.size(); ++i) {
    size_t end = i + 1 < r.starts.size() ? r.starts[i + 1] : r.ids.size();
    out.push_back(end - r.starts[i]);
  }
  return out;
}

ExitCode error_kind(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  return ExitCode::Ok;
}

}  // namespace

TEST_CASE("chunk splits long samples, with and without stride", "[data]") {
  SECTION("a sample that fits is returned as is") {
    auto s = make_sample(4, 0, {0, 1, 1, 0});
    auto out = chunk(s, 4, 1);
    REQUIRE(out.size() == 1);
    CHECK(out[0].ids == s.ids);
    CHECK(out[0].trained == s.trained);
    CHECK(out[0].source == "doc.txt");
    CHECK(out[0].line == 7);
  }
  SECTION("stride 0: disjoint chunks, the last one shorter") {
    auto out = chunk(make_sample(10), 4, 0);
    REQUIRE(out.size() == 3);
    CHECK(out[0].ids == range(0, 4));
    CHECK(out[1].ids == range(4, 8));
    CHECK(out[2].ids == range(8, 10));
    for (const auto& c : out) {
      CHECK(c.trained == std::vector<uint8_t>(c.ids.size(), 1));
      CHECK(c.source == "doc.txt");
      CHECK(c.line == 7);
      CHECK_FALSE(c.truncated);
    }
  }
  SECTION("stride 1: one token of context, not trained again") {
    auto out = chunk(make_sample(10), 4, 1);
    REQUIRE(out.size() == 3);
    CHECK(out[0].ids == range(0, 4));
    CHECK(out[0].trained == std::vector<uint8_t>{1, 1, 1, 1});
    CHECK(out[1].ids == range(3, 7));
    CHECK(out[1].trained == std::vector<uint8_t>{0, 1, 1, 1});
    CHECK(out[2].ids == range(6, 10));
    CHECK(out[2].trained == std::vector<uint8_t>{0, 1, 1, 1});
  }
  SECTION("stride 2 with a short tail") {
    auto out = chunk(make_sample(9), 4, 2);
    REQUIRE(out.size() == 4);
    CHECK(out[0].ids == range(0, 4));
    CHECK(out[1].ids == range(2, 6));
    CHECK(out[2].ids == range(4, 8));
    CHECK(out[3].ids == range(6, 9));
    CHECK(out[3].trained == std::vector<uint8_t>{0, 0, 1});
  }
  SECTION("the original mask is kept outside the overlap") {
    auto out = chunk(make_sample(7, 0, {0, 0, 1, 1, 0, 1, 1}), 4, 1);
    REQUIRE(out.size() == 2);
    CHECK(out[0].trained == std::vector<uint8_t>{0, 0, 1, 1});
    CHECK(out[1].ids == range(3, 7));
    CHECK(out[1].trained == std::vector<uint8_t>{0, 0, 1, 1});
  }
  SECTION("every token is covered and trained at most once (random cases)") {
    std::mt19937 rng(42);
    for (int iter = 0; iter < 300; ++iter) {
      const int64_t seq_len = 1 + static_cast<int64_t>(rng() % 16);
      const int64_t stride = static_cast<int64_t>(rng() % static_cast<uint32_t>(seq_len));
      const size_t n = rng() % 80;
      std::vector<uint8_t> mask(n);
      for (auto& m : mask) m = static_cast<uint8_t>(rng() % 2);
      auto s = make_sample(n, 0, mask);
      std::vector<int> covered(n, 0), trained(n, 0);
      for (const auto& c : chunk(s, seq_len, stride)) {
        REQUIRE(static_cast<int64_t>(c.ids.size()) <= seq_len);
        for (size_t i = 0; i < c.ids.size(); ++i) {
          covered[static_cast<size_t>(c.ids[i])] += 1;
          trained[static_cast<size_t>(c.ids[i])] += c.trained[i];
        }
      }
      for (size_t i = 0; i < n; ++i) {
        REQUIRE(covered[i] >= 1);
        REQUIRE(trained[i] == mask[i]);  // each trained token exactly once, each masked token never
      }
    }
  }
  SECTION("bad seq_len or stride is an input error") {
    CHECK(error_kind([] { chunk(make_sample(10), 4, 4); }) == ExitCode::Usage);
    CHECK(error_kind([] { chunk(make_sample(10), 4, -1); }) == ExitCode::Usage);
    CHECK(error_kind([] { chunk(make_sample(10), 0, 0); }) == ExitCode::Usage);
  }
}

TEST_CASE("truncate cuts from the chosen side", "[data]") {
  SECTION("left drops the beginning") {
    auto s = make_sample(10, 0, {0, 0, 0, 0, 0, 0, 1, 1, 1, 1});
    CHECK(truncate(s, 4, Side::Left));
    CHECK(s.ids == range(6, 10));
    CHECK(s.trained == std::vector<uint8_t>{1, 1, 1, 1});
    CHECK(s.truncated);
  }
  SECTION("right drops the end") {
    auto s = make_sample(10, 0, {0, 0, 1, 1, 1, 1, 1, 1, 1, 1});
    CHECK(truncate(s, 4, Side::Right));
    CHECK(s.ids == range(0, 4));
    CHECK(s.trained == std::vector<uint8_t>{0, 0, 1, 1});
    CHECK(s.truncated);
  }
  SECTION("a sample that fits is untouched") {
    auto s = make_sample(4);
    CHECK_FALSE(truncate(s, 4, Side::Left));
    CHECK(s.ids == range(0, 4));
    CHECK_FALSE(s.truncated);
  }
}

TEST_CASE("Packer packs first-fit into a bounded window of rows", "[data]") {
  SECTION("exact rows and starts for a known sequence of lengths") {
    // seq_len 10: 6 opens A; 5 opens B; 4 fills A (emitted); 3 joins B; 7 opens C; 2 fills B (emitted).
    auto rows = pack_all(10, true, {6, 5, 4, 3, 7, 2});
    REQUIRE(rows.size() == 3);
    CHECK(sample_lengths(rows[0]) == std::vector<size_t>{6, 4});
    CHECK(rows[0].starts == std::vector<uint32_t>{0, 6});
    std::vector<int32_t> a = range(0, 6), a2 = range(11, 15);
    a.insert(a.end(), a2.begin(), a2.end());
    CHECK(rows[0].ids == a);
    CHECK(rows[1].starts == std::vector<uint32_t>{0, 5, 8});
    std::vector<int32_t> b = range(6, 11), b2 = range(15, 18), b3 = range(25, 27);
    b.insert(b.end(), b2.begin(), b2.end());
    b.insert(b.end(), b3.begin(), b3.end());
    CHECK(rows[1].ids == b);
    CHECK(rows[2].starts == std::vector<uint32_t>{0});
    CHECK(rows[2].ids == range(18, 25));
  }
  SECTION("the mask travels with the tokens") {
    std::vector<Row> rows;
    Packer p(8, true, [&](Row&& r) { rows.push_back(std::move(r)); });
    p.add(make_sample(3, 0, {0, 1, 1}));
    p.add(make_sample(4, 3, {0, 0, 1, 1}));
    p.finish();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].trained == std::vector<uint8_t>{0, 1, 1, 0, 0, 1, 1});
    CHECK(rows[0].starts == std::vector<uint32_t>{0, 3});
  }
  SECTION("window 1 emits the open row when the next sample does not fit") {
    auto rows = pack_all(10, true, {6, 5, 4}, 1);
    REQUIRE(rows.size() == 2);
    CHECK(sample_lengths(rows[0]) == std::vector<size_t>{6});
    CHECK(sample_lengths(rows[1]) == std::vector<size_t>{5, 4});
  }
  SECTION("window 2 keeps the first row open long enough") {
    auto rows = pack_all(10, true, {6, 5, 4}, 2);
    REQUIRE(rows.size() == 2);
    CHECK(sample_lengths(rows[0]) == std::vector<size_t>{6, 4});
    CHECK(sample_lengths(rows[1]) == std::vector<size_t>{5});
  }
  SECTION("a full window evicts the oldest row, finish flushes in creation order") {
    auto rows = pack_all(10, true, {9, 8, 7, 6, 1}, 3);
    // 9, 8, 7 open three rows; 6 fits none and the window is full, so the oldest (9) is emitted and 6
    // opens a row; 1 joins the 8-row (first fit among the open 8, 7, 6 rows).
    REQUIRE(rows.size() == 4);
    CHECK(sample_lengths(rows[0]) == std::vector<size_t>{9});
    CHECK(sample_lengths(rows[1]) == std::vector<size_t>{8, 1});
    CHECK(sample_lengths(rows[2]) == std::vector<size_t>{7});
    CHECK(sample_lengths(rows[3]) == std::vector<size_t>{6});
  }
  SECTION("pack=false: one sample per row, emitted at once, never padded") {
    std::vector<Row> rows;
    Packer p(10, false, [&](Row&& r) { rows.push_back(std::move(r)); });
    p.add(make_sample(3));
    CHECK(rows.size() == 1);
    p.add(make_sample(10, 3));
    p.add(make_sample(1, 13));
    p.finish();
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].ids == range(0, 3));
    CHECK(rows[1].ids == range(3, 13));
    CHECK(rows[2].ids == range(13, 14));
    for (const auto& r : rows) {
      CHECK(r.starts == std::vector<uint32_t>{0});
      CHECK(r.trained.size() == r.ids.size());
    }
  }
  SECTION("empty samples are ignored; every token lands in exactly one row") {
    std::mt19937 rng(7);
    std::vector<size_t> lengths;
    size_t total = 0;
    for (int i = 0; i < 500; ++i) {
      lengths.push_back(rng() % 17);  // 0..16, seq_len 16
      total += lengths.back();
    }
    auto rows = pack_all(16, true, lengths, 4);
    std::vector<int> seen(total, 0);
    size_t samples = 0;
    for (const auto& r : rows) {
      REQUIRE(r.ids.size() <= 16);
      REQUIRE(!r.starts.empty());
      REQUIRE(r.starts[0] == 0);
      for (size_t len : sample_lengths(r)) REQUIRE(len > 0);
      samples += r.starts.size();
      for (int32_t id : r.ids) seen[static_cast<size_t>(id)] += 1;
    }
    for (int c : seen) REQUIRE(c == 1);
    size_t non_empty = 0;
    for (size_t l : lengths) non_empty += l > 0;
    CHECK(samples == non_empty);
    // Deterministic: the same input gives the same rows.
    auto again = pack_all(16, true, lengths, 4);
    REQUIRE(again.size() == rows.size());
    for (size_t i = 0; i < rows.size(); ++i) CHECK(again[i].starts == rows[i].starts);
  }
}

TEST_CASE("dedup_key normalises case and whitespace", "[data]") {
  SECTION("normalisation") {
    CHECK(normalise_content("  Hello \t\n World  ") == "hello world");
    CHECK(normalise_content("") == "");
    CHECK(normalise_content(" \n ") == "");
    CHECK(normalise_content("text\x1f  A \x1f\x1f b ") ==
          "text\x1f"
          "a\x1f\x1f"
          "b");  // fields trimmed
    CHECK(normalise_content("ÄBC") ==
          "\xC3\x84"
          "bc");  // non-ASCII bytes are kept as they are
  }
  SECTION("variants are equal, different content differs") {
    const uint64_t k = dedup_key("Hello world");
    CHECK(dedup_key("hello world") == k);
    CHECK(dedup_key("  HELLO\t\tworld\n") == k);
    CHECK(dedup_key("Hello\r\nWorld") == k);
    CHECK(dedup_key("Hello world!") != k);
    CHECK(dedup_key("Helloworld") != k);
    CHECK(dedup_key("Hello worlds") != k);
  }
  SECTION("no collisions over many distinct contents") {
    std::set<uint64_t> keys;
    for (int i = 0; i < 20000; ++i) keys.insert(dedup_key("sample " + std::to_string(i)));
    CHECK(keys.size() == 20000);
  }
}

TEST_CASE("record_content is canonical and unambiguous", "[data]") {
  auto pc = [](std::string p, std::string c) {
    Record r;
    r.format = Format::PromptCompletion;
    r.prompt = std::move(p);
    r.completion = std::move(c);
    return r;
  };
  SECTION("field boundaries matter") {
    CHECK(record_content(pc("ab", "c")) != record_content(pc("a", "bc")));
    CHECK(record_content(pc("a\x1f", "b")) != record_content(pc("a",
                                                                "\x1f"
                                                                "b")));
    CHECK(record_content(pc("a\x1c"
                            "1",
                            "b")) != record_content(pc("a\x1f", "b")));
    CHECK(dedup_key(record_content(pc("ab", "c"))) != dedup_key(record_content(pc("a", "bc"))));
  }
  SECTION("the format is part of the content, the source is not") {
    Record t;
    t.format = Format::Text;
    t.text = "ab";
    Record t2 = t;
    t2.source = "other.txt";
    t2.line = 99;
    CHECK(record_content(t) == record_content(t2));
    CHECK(record_content(t) != record_content(pc("ab", "")));
  }
  SECTION("alpaca, chat and token records") {
    Record a;
    a.format = Format::Alpaca;
    a.instruction = "Summarise";
    a.input = "";
    a.output = "ok";
    Record a2 = a;
    a2.input = "ok";
    a2.output = "";
    CHECK(record_content(a) != record_content(a2));

    Record c;
    c.format = Format::Chat;
    c.messages = {{"user", "hi"}, {"assistant", "hello"}};
    Record c2 = c;
    c2.messages[0].role = "system";
    CHECK(record_content(c) != record_content(c2));
    Record c3 = c;
    c3.messages[1].content = "  HELLO ";
    CHECK(dedup_key(record_content(c)) == dedup_key(record_content(c3)));

    Record k;
    k.format = Format::Tokens;
    k.input_ids = {1, 23};
    k.trained = {0, 1};
    Record k2 = k;
    k2.input_ids = {12, 3};
    Record k3 = k;
    k3.trained = {1, 1};
    CHECK(record_content(k) != record_content(k2));
    CHECK(record_content(k) != record_content(k3));
  }
}

TEST_CASE("is_val: a stable content-hash split", "[data]") {
  SECTION("adding new contents never changes existing assignments") {
    std::vector<std::string> base;
    for (int i = 0; i < 2000; ++i) base.push_back("document number " + std::to_string(i));
    std::vector<bool> before;
    for (const auto& c : base) before.push_back(is_val(c, 0.2));
    // A larger corpus, the old contents interleaved with new ones: the old ones keep their split.
    std::vector<std::string> grown;
    for (size_t i = 0; i < base.size(); ++i) {
      grown.push_back("new text " + std::to_string(i));
      grown.push_back(base[i]);
    }
    size_t j = 0;
    for (size_t i = 0; i < grown.size(); ++i) {
      bool v = is_val(grown[i], 0.2);
      if (i % 2 == 1) REQUIRE(v == before[j++]);
    }
  }
  SECTION("the fraction is respected over 10k samples") {
    // Binomial(10000, p): the standard deviation is at most 50, so +-250 is a 5-sigma bound.
    for (double p : {0.05, 0.1, 0.5}) {
      int val = 0;
      for (int i = 0; i < 10000; ++i) val += is_val("sample " + std::to_string(i), p);
      CHECK(std::abs(val - 10000 * p) < 250);
    }
  }
  SECTION("0 and 1 are all-train and all-val") {
    for (int i = 0; i < 200; ++i) {
      CHECK_FALSE(is_val("x" + std::to_string(i), 0.0));
      CHECK(is_val("x" + std::to_string(i), 1.0));
    }
  }
  SECTION("case and whitespace variants land in the same split") {
    for (int i = 0; i < 200; ++i) {
      std::string c = "Some Text " + std::to_string(i);
      CHECK(is_val(c, 0.5) == is_val("  some   text " + std::to_string(i) + "\n", 0.5));
    }
  }
  SECTION("the split does not follow the dedup key") {
    // Both decisions taken from the same bits would make val == (dedup_key % 1e6 < 5e5) for every sample.
    int agree = 0;
    for (int i = 0; i < 2000; ++i) {
      std::string c = "row " + std::to_string(i);
      agree += is_val(c, 0.5) == (dedup_key(c) % 1000000 < 500000);
    }
    CHECK(agree > 800);
    CHECK(agree < 1200);
  }
  SECTION("content_keys gives both keys from one hash, as dedup_key and is_val do") {
    for (int i = 0; i < 500; ++i) {
      const std::string c = "Row  " + std::to_string(i * 7919);
      const ContentKeys k = content_keys(c);
      CHECK(k.dedup == dedup_key(c));
      for (double f : {0.0, 0.1, 0.5, 1.0}) CHECK(is_val_key(k.split, f) == is_val(c, f));
    }
    CHECK(content_keys("a").split != content_keys("b").split);
  }
  SECTION("a fraction outside [0, 1] is an input error") {
    CHECK(error_kind([] { is_val("a", -0.1); }) == ExitCode::Usage);
    CHECK(error_kind([] { is_val("a", 1.5); }) == ExitCode::Usage);
  }
}
