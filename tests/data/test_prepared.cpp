// The prepared-dataset format: writer -> mmap reader round trips, corrupt files, manifest, fingerprint.
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <functional>

#include "core/error.h"
#include "data/prepared.h"
#include "test_util.h"

using namespace loratune;
using namespace loratune::data;
using lt_test::TempDir;

namespace {

Row make_row(std::vector<int32_t> ids, std::vector<uint8_t> trained, std::vector<uint32_t> starts) {
  Row r;
  r.ids = std::move(ids);
  r.trained = std::move(trained);
  r.starts = std::move(starts);
  return r;
}

std::vector<Row> sample_rows(int32_t big_id) {
  return {make_row({1, 2, 3, big_id}, {0, 1, 1, 1}, {0}),
          make_row({5, 6, 7, 8, 9, 10}, {1, 1, 0, 1, 1, 1}, {0, 2, 5}), make_row({big_id - 1}, {1}, {0})};
}

void write_split(const std::string& dir, int token_bytes, const std::vector<Row>& rows) {
  SplitWriter w(dir, token_bytes);
  for (const auto& r : rows) w.add(r);
  w.finish();
}

// The full message + hint of the Error f throws ("" when it throws none).
std::string error_text(const std::function<void()>& f, ExitCode* kind = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.message() + " | " + e.hint();
  }
  return "";
}

void truncate_file(const std::string& path, size_t bytes_less) {
  auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size - bytes_less);
}

void patch_u32(const std::string& path, size_t offset, uint32_t value) {
  std::string bytes = lt_test::read_file(path);
  std::memcpy(&bytes[offset], &value, sizeof value);
  lt_test::write_file(path, bytes);
}

void patch_u64(const std::string& path, size_t offset, uint64_t value) {
  std::string bytes = lt_test::read_file(path);
  std::memcpy(&bytes[offset], &value, sizeof value);
  lt_test::write_file(path, bytes);
}

Manifest make_manifest(int64_t vocab, int64_t train_rows, int64_t val_rows) {
  Manifest m;
  m.tokenizer_fingerprint = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
  m.vocab_size = vocab;
  m.template_name = "chatml";
  m.seq_len = 8;
  m.packed = true;
  m.token_bytes = token_bytes_for_vocab(vocab);
  m.train_rows = train_rows;
  m.val_rows = val_rows;
  m.extra = {{"counts", {{"records", 12}, {"duplicates", 1}}},
             {"sha256", {{"sources", {{"a.jsonl", "00ff"}}}}},
             {"options", {{"stride", 0}, {"val_fraction", 0.1}}}};
  return m;
}

}  // namespace

TEST_CASE("SplitWriter -> PreparedSplit round trip", "[data]") {
  for (int token_bytes : {2, 4}) {
    DYNAMIC_SECTION("token_bytes " << token_bytes) {
      TempDir tmp("prep");
      const int32_t big = token_bytes == 2 ? 65535 : 100000;
      const auto rows = sample_rows(big);
      const std::string dir = tmp.file("train");
      SplitWriter w(dir, token_bytes);
      for (const auto& r : rows) w.add(r);
      w.finish();
      CHECK(w.rows() == 3);
      CHECK(w.tokens() == 11);
      CHECK(w.trained_tokens() == 9);
      CHECK(w.samples() == 5);
      CHECK(std::filesystem::file_size(dir + "/tokens.bin") == 11u * static_cast<unsigned>(token_bytes));
      CHECK(std::filesystem::file_size(dir + "/mask.bin") == 11u);
      CHECK(std::filesystem::file_size(dir + "/rows.bin") == 3u * 24u);
      CHECK(std::filesystem::file_size(dir + "/starts.bin") == 5u * 4u);
      CHECK_FALSE(std::filesystem::exists(dir + "/tokens.bin.tmp"));

      auto split = PreparedSplit::open(dir, token_bytes, 3);
      REQUIRE(split.rows() == 3);
      CHECK(split.tokens() == 11);
      for (int64_t i = 0; i < 3; ++i) {
        const Row& want = rows[static_cast<size_t>(i)];
        RowView v = split.row(i);
        REQUIRE(v.length == want.ids.size());
        REQUIRE(v.n_samples == want.starts.size());
        CHECK(v.token_bytes == token_bytes);
        for (size_t k = 0; k < v.length; ++k) {
          CHECK(v.id(k) == want.ids[k]);
          CHECK(v.trained[k] == want.trained[k]);
        }
        for (size_t k = 0; k < v.n_samples; ++k) CHECK(v.starts[k] == want.starts[k]);
      }
    }
  }
}

TEST_CASE("an empty split round-trips", "[data]") {
  TempDir tmp("prep");
  write_split(tmp.file("val"), 2, {});
  auto split = PreparedSplit::open(tmp.file("val"), 2, 0);
  CHECK(split.rows() == 0);
  CHECK(split.tokens() == 0);
}

TEST_CASE("SplitWriter streams many rows", "[data]") {
  // More than the 1 MiB write buffer, so buffered flushes and the tail are both exercised.
  TempDir tmp("prep");
  const std::string dir = tmp.file("train");
  {
    SplitWriter w(dir, 4);
    for (int32_t i = 0; i < 40000; ++i) {
      Row r = make_row({i, i + 1, i + 2, i + 3, i + 4, i + 5, i + 6, i + 7}, std::vector<uint8_t>(8, i % 2),
                       {0, 4});
      w.add(r);
    }
    w.finish();
  }
  auto split = PreparedSplit::open(dir, 4, 40000);
  CHECK(split.tokens() == 320000);
  for (int64_t i : {int64_t{0}, int64_t{12345}, int64_t{39999}}) {
    RowView v = split.row(i);
    CHECK(v.id(0) == i);
    CHECK(v.id(7) == i + 7);
    CHECK(v.trained[3] == i % 2);
    CHECK(v.starts[1] == 4);
  }
}

TEST_CASE("corrupt or truncated split files are rejected naming the file", "[data]") {
  TempDir tmp("prep");
  const std::string dir = tmp.file("train");
  write_split(dir, 2, sample_rows(300));
  ExitCode kind = ExitCode::Ok;
  auto open = [&](int64_t rows = 3) { return error_text([&] { PreparedSplit::open(dir, 2, rows); }, &kind); };

  SECTION("intact files open") { CHECK(open() == ""); }
  SECTION("tokens.bin cut mid-token") {
    truncate_file(dir + "/tokens.bin", 1);
    auto e = open();
    CHECK_THAT(e, Catch::Contains("tokens.bin"));
    CHECK_THAT(e, Catch::Contains("re-run `loratune prepare`"));
    CHECK(kind == ExitCode::Usage);
  }
  SECTION("tokens.bin missing whole tokens") {
    truncate_file(dir + "/tokens.bin", 2);
    auto e = open();
    CHECK_THAT(e, Catch::Contains("rows.bin: row 2"));
    CHECK_THAT(e, Catch::Contains("tokens.bin"));
  }
  SECTION("tokens.bin with trailing bytes") {
    lt_test::write_file(dir + "/tokens.bin", lt_test::read_file(dir + "/tokens.bin") + std::string(4, '\0'));
    CHECK_THAT(open(), Catch::Contains("tokens.bin: holds 13 tokens"));
  }
  SECTION("mask.bin truncated") {
    truncate_file(dir + "/mask.bin", 1);
    CHECK_THAT(open(), Catch::Contains("mask.bin"));
  }
  SECTION("rows.bin cut mid-record") {
    truncate_file(dir + "/rows.bin", 5);
    CHECK_THAT(open(), Catch::Contains("rows.bin"));
  }
  SECTION("rows.bin with fewer rows than the manifest") {
    CHECK_THAT(open(4), Catch::Contains("rows.bin: holds 3 rows but manifest.json says 4"));
  }
  SECTION("a row whose token offset is wrong") {
    patch_u64(dir + "/rows.bin", 24 + 0, 99);
    CHECK_THAT(open(), Catch::Contains("rows.bin: row 1"));
  }
  SECTION("a row whose length runs past tokens.bin") {
    patch_u32(dir + "/rows.bin", 2 * 24 + 8, 50);
    auto e = open();
    CHECK_THAT(e, Catch::Contains("rows.bin: row 2"));
    CHECK_THAT(e, Catch::Contains("run past the end of tokens.bin"));
  }
  SECTION("a row with too many samples") {
    patch_u32(dir + "/rows.bin", 2 * 24 + 12, 9);
    CHECK_THAT(open(), Catch::Contains("rows.bin: row 2"));
  }
  SECTION("a zero-length row") {
    patch_u32(dir + "/rows.bin", 8, 0);
    CHECK_THAT(open(), Catch::Contains("rows.bin: row 0"));
  }
  SECTION("sample starts out of order") {
    patch_u32(dir + "/starts.bin", 3 * 4, 1);  // row 1 (entries 1..3): starts {0, 2, 5} -> {0, 2, 1}
    CHECK_THAT(open(), Catch::Contains("starts.bin: row 1"));
  }
  SECTION("a sample start past the row") {
    patch_u32(dir + "/starts.bin", 3 * 4, 6);  // row 1 has 6 tokens: start 6 is past its end
    CHECK_THAT(open(), Catch::Contains("starts.bin: row 1"));
  }
  SECTION("a first sample start that is not 0") {
    patch_u32(dir + "/starts.bin", 0, 1);
    CHECK_THAT(open(), Catch::Contains("starts.bin: row 0"));
  }
  SECTION("starts.bin with trailing entries") {
    lt_test::write_file(dir + "/starts.bin", lt_test::read_file(dir + "/starts.bin") + std::string(4, '\0'));
    CHECK_THAT(open(), Catch::Contains("starts.bin: holds 6 entries"));
  }
  SECTION("a missing file") {
    std::filesystem::remove(dir + "/mask.bin");
    CHECK_THAT(open(), Catch::Contains("mask.bin"));
  }
}

TEST_CASE("manifest round trip and validation", "[data]") {
  TempDir tmp("prep");
  const std::string path = tmp.file("manifest.json");

  SECTION("round trip keeps every field and the extra keys verbatim") {
    Manifest m = make_manifest(400, 3, 1);
    const std::string text = manifest_to_json(m);
    CHECK(text.rfind("{\n  \"format_version\": 1,", 0) == 0);  // pretty, fixed fields first
    lt_test::write_file(path, text);
    Manifest r = read_manifest(tmp.path());
    CHECK(r.format_version == kPreparedFormatVersion);
    CHECK(r.tokenizer_fingerprint == m.tokenizer_fingerprint);
    CHECK(r.vocab_size == 400);
    CHECK(r.template_name == "chatml");
    CHECK(r.seq_len == 8);
    CHECK(r.packed);
    CHECK(r.token_bytes == 2);
    CHECK(r.train_rows == 3);
    CHECK(r.val_rows == 1);
    CHECK(r.extra == m.extra);
    CHECK(manifest_to_json(r) == text);
  }
  SECTION("token width follows the vocabulary") {
    CHECK(token_bytes_for_vocab(65536) == 2);
    CHECK(token_bytes_for_vocab(65537) == 4);
    CHECK(make_manifest(128256, 0, 0).token_bytes == 4);
  }
  auto read_err = [&](const nlohmann::json& j) {
    lt_test::write_file(path, j.dump());
    return error_text([&] { read_manifest(tmp.path()); });
  };
  auto base = nlohmann::json::parse(manifest_to_json(make_manifest(400, 3, 1)));

  SECTION("a newer format version names the file and both versions") {
    auto j = base;
    j["format_version"] = 2;
    auto e = read_err(j);
    CHECK_THAT(e, Catch::Contains("manifest.json"));
    CHECK_THAT(e, Catch::Contains("version 2"));
    CHECK_THAT(e, Catch::Contains("version 1"));
    CHECK_THAT(e, Catch::Contains("upgrade loratune"));
  }
  SECTION("an unknown older version") {
    auto j = base;
    j["format_version"] = 0;
    auto e = read_err(j);
    CHECK_THAT(e, Catch::Contains("manifest.json"));
    CHECK_THAT(e, Catch::Contains("version 0"));
  }
  SECTION("missing and wrong-typed keys are named") {
    auto j = base;
    j.erase("seq_len");
    CHECK_THAT(read_err(j), Catch::Contains("manifest.json: missing key \"seq_len\""));
    j = base;
    j["packed"] = "yes";
    CHECK_THAT(read_err(j), Catch::Contains("\"packed\" must be true or false"));
    j = base;
    j["format_version"] = "1";
    CHECK_THAT(read_err(j), Catch::Contains("\"format_version\" must be an integer"));
    j = base;
    j["token_bytes"] = 4;
    CHECK_THAT(read_err(j), Catch::Contains("\"token_bytes\" is 4"));
  }
  SECTION("invalid JSON and a missing manifest") {
    lt_test::write_file(path, "{ not json");
    CHECK_THAT(error_text([&] { read_manifest(tmp.path()); }),
               Catch::Contains("manifest.json: not valid JSON"));
    std::filesystem::remove(path);
    CHECK_THAT(error_text([&] { read_manifest(tmp.path()); }), Catch::Contains("manifest.json: not found"));
  }
}

TEST_CASE("open_prepared checks the tokenizer fingerprint and maps the splits", "[data]") {
  TempDir tmp("prep");
  const std::string ds = tmp.file("ds");
  Manifest m = make_manifest(400, 3, 1);
  write_split(ds + "/train", 2, sample_rows(300));
  write_split(ds + "/val", 2, {make_row({4, 5}, {1, 1}, {0})});
  lt_test::write_file(ds + "/manifest.json", manifest_to_json(m));

  SECTION("the matching fingerprint opens both splits") {
    auto d = open_prepared(ds, m.tokenizer_fingerprint);
    REQUIRE(d.train);
    REQUIRE(d.val);
    CHECK(d.train->rows() == 3);
    CHECK(d.val->rows() == 1);
    CHECK(d.val->row(0).id(1) == 5);
    CHECK(d.manifest.template_name == "chatml");
  }
  SECTION("a mismatch names both fingerprints and says to re-run prepare") {
    const std::string other = "ffee00112233445566778899aabbccddeeff00112233445566778899aabbccdd";
    ExitCode kind = ExitCode::Ok;
    auto e = error_text([&] { open_prepared(ds, other); }, &kind);
    CHECK(kind == ExitCode::Usage);
    CHECK_THAT(e, Catch::Contains(m.tokenizer_fingerprint.substr(0, 12)));
    CHECK_THAT(e, Catch::Contains(other.substr(0, 12)));
    CHECK_THAT(e, Catch::Contains("re-run `loratune prepare` with this model's tokenizer"));
  }
  SECTION("a split without rows may be absent, one with rows may not") {
    std::filesystem::remove_all(ds + "/val");
    CHECK_THAT(error_text([&] { open_prepared(ds, m.tokenizer_fingerprint); }),
               Catch::Contains("val: split directory not found"));
    m.val_rows = 0;
    lt_test::write_file(ds + "/manifest.json", manifest_to_json(m));
    auto d = open_prepared(ds, m.tokenizer_fingerprint);
    CHECK(d.train);
    CHECK_FALSE(d.val);
  }
  SECTION("row counts are checked against the manifest") {
    m.train_rows = 5;
    lt_test::write_file(ds + "/manifest.json", manifest_to_json(m));
    CHECK_THAT(error_text([&] { open_prepared(ds, m.tokenizer_fingerprint); }),
               Catch::Contains("train/rows.bin: holds 3 rows but manifest.json says 5"));
  }
}

TEST_CASE("sample sources: written per sample, read back, optional for older datasets", "[data]") {
  TempDir tmp("prep");
  const std::string dir = tmp.file("train");
  std::vector<Row> rows = sample_rows(300);
  rows[0].sources = {4};
  rows[1].sources = {0, 2, 1};
  // rows[2] leaves sources empty: every sample counts as source 0.
  write_split(dir, 2, rows);
  CHECK(std::filesystem::file_size(dir + "/sample_sources.bin") == 5u * 4u);

  SECTION("round trip") {
    auto split = PreparedSplit::open(dir, 2, 3);
    REQUIRE(split.has_sources());
    const std::vector<std::vector<uint32_t>> want = {{4}, {0, 2, 1}, {0}};
    for (int64_t i = 0; i < 3; ++i) {
      RowView v = split.row(i);
      REQUIRE(v.sources != nullptr);
      for (uint32_t k = 0; k < v.n_samples; ++k) CHECK(v.sources[k] == want[static_cast<size_t>(i)][k]);
    }
  }
  SECTION("a dataset written before sample_sources.bin existed still opens, without sources") {
    std::filesystem::remove(dir + "/sample_sources.bin");
    auto split = PreparedSplit::open(dir, 2, 3);
    CHECK_FALSE(split.has_sources());
    CHECK(split.row(1).sources == nullptr);
    CHECK(split.row(1).starts[2] == 5);
  }
  SECTION("a truncated sample_sources.bin is rejected naming it") {
    truncate_file(dir + "/sample_sources.bin", 4);
    CHECK_THAT(error_text([&] { PreparedSplit::open(dir, 2, 3); }),
               Catch::Contains("sample_sources.bin") && Catch::Contains("expected 4 per sample"));
  }
  SECTION("a sources list that does not match the starts is a bug of the caller") {
    Row bad = make_row({1, 2}, {1, 1}, {0});
    bad.sources = {1, 2};
    SplitWriter w(tmp.file("bad"), 2);
    CHECK_THROWS_AS(w.add(bad), Error);
  }
}

TEST_CASE("manifest_source_paths reads the source list", "[data]") {
  Manifest m = make_manifest(400, 0, 0);
  CHECK(manifest_source_paths(m, "manifest.json").empty());  // older datasets have none
  m.extra["source_paths"] = {"a.txt", "b.jsonl"};
  CHECK(manifest_source_paths(m, "manifest.json") == std::vector<std::string>{"a.txt", "b.jsonl"});
  m.extra["source_paths"] = {"a.txt", 3};
  CHECK_THAT(error_text([&] { manifest_source_paths(m, "x/manifest.json"); }),
             Catch::Contains("x/manifest.json") && Catch::Contains("source_paths"));
}

TEST_CASE("source indices flow through chunking and packing into the rows", "[data]") {
  auto sample = [](int n, uint32_t source) {
    TokenizedSample s;
    for (int i = 0; i < n; ++i) {
      s.ids.push_back(i + 1);
      s.trained.push_back(1);
    }
    s.source_index = source;
    return s;
  };
  for (const auto& c : chunk(sample(10, 7), 4, 1)) CHECK(c.source_index == 7);
  std::vector<Row> rows;
  Packer packed(8, true, [&](Row&& r) { rows.push_back(std::move(r)); });
  packed.add(sample(3, 1));
  packed.add(sample(3, 2));
  packed.add(sample(6, 3));
  packed.finish();
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].sources == std::vector<uint32_t>{1, 2});
  CHECK(rows[1].sources == std::vector<uint32_t>{3});
  rows.clear();
  Packer padded(8, false, [&](Row&& r) { rows.push_back(std::move(r)); });
  padded.add(sample(3, 5));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].sources == std::vector<uint32_t>{5});
}
