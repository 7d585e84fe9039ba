// safetensors reading, writing and sharded checkpoints: round trips, every rejection rule of the format
// (each must be a usage Error naming the file and tensor, never a crash), and a quick mutation fuzz.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/fs.h"
#include "io/safetensors.h"

using namespace loratune;
using namespace loratune::io;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = (fs::temp_directory_path() /
             ("lt_test_io_" + std::to_string(::getpid()) + "_" + std::to_string(counter++)))
                .string();
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return join_path(path_, name); }

 private:
  std::string path_;
};

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (size_t i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

// A file with the given raw header text (unpadded) and `data_bytes` bytes of data.
std::string raw_file(const std::string& header, size_t data_bytes) {
  return u64_le(header.size()) + header + std::string(data_bytes, '\x5a');
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs f, which must throw a usage Error (exit 2); returns its message.
template <class F>
std::string usage_error(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.kind() == ExitCode::Usage);
    return e.message();
  }
  FAIL("expected a loratune::Error");
  return {};
}

template <class T>
TensorToWrite tensor(const std::string& name, DType dtype, std::vector<int64_t> shape,
                     const std::vector<T>& v) {
  return TensorToWrite{name, dtype, std::move(shape), v.data(), v.size() * sizeof(T)};
}

void check_same(const TensorView& v, const TensorToWrite& t) {
  INFO("tensor " << t.name);
  CHECK(v.name == t.name);
  CHECK(v.dtype == t.dtype);
  CHECK(v.shape == t.shape);
  REQUIRE(v.nbytes == t.nbytes);
  CHECK(static_cast<size_t>(v.numel()) * dtype_size(v.dtype) == v.nbytes);
  if (t.nbytes > 0) CHECK(std::memcmp(v.data, t.data, t.nbytes) == 0);
}

// Four F32/I32/U8 tensors of 40, 40, 40 and 100 bytes: 80-byte shards give [a, b], [c], [d].
struct ShardFixture {
  std::vector<float> a = std::vector<float>(10, 1.0f), b = std::vector<float>(10, 2.0f);
  std::vector<int32_t> c = std::vector<int32_t>(10, 3);
  std::vector<uint8_t> d = std::vector<uint8_t>(100, 4);
  std::vector<TensorToWrite> tensors() const {
    return {tensor("a", DType::F32, {10}, a), tensor("b", DType::F32, {2, 5}, b),
            tensor("c", DType::I32, {10}, c), tensor("d", DType::U8, {10, 10}, d)};
  }
};

}  // namespace

TEST_CASE("dtype names and sizes", "[io]") {
  for (const auto& name : dtype_names()) {
    auto d = parse_dtype(name);
    REQUIRE(d.has_value());
    CHECK(dtype_name(*d) == name);
  }
  CHECK(dtype_names().size() == 15);
  CHECK(dtype_size(DType::BOOL) == 1);
  CHECK(dtype_size(DType::BF16) == 2);
  CHECK(dtype_size(DType::F32) == 4);
  CHECK(dtype_size(DType::U64) == 8);
  CHECK(dtype_size(DType::F8_E5M2) == 1);
  CHECK_FALSE(parse_dtype("F4").has_value());
  CHECK_FALSE(parse_dtype("f32").has_value());
  CHECK(shape_to_string({}) == "[]");
  CHECK(shape_to_string({2, 3}) == "[2, 3]");
}

TEST_CASE("write then read gives identical bytes, shapes and metadata", "[io]") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  std::vector<float> f32 = {1.5f, -2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  std::vector<uint16_t> bf16 = {0x3f80, 0x4000, 0xc040, 0x0000};
  std::vector<int64_t> step = {-42};
  std::vector<uint8_t> empty, mask = {1, 0, 1}, fp8 = {0x38, 0x40};
  std::vector<double> f64 = {3.25};
  std::vector<TensorToWrite> ts = {
      tensor("w.f32", DType::F32, {2, 3}, f32), tensor("w.bf16", DType::BF16, {4}, bf16),
      tensor("step", DType::I64, {}, step),     tensor("empty", DType::U8, {0, 5}, empty),
      tensor("mask", DType::BOOL, {3}, mask),   tensor("one", DType::F64, {1, 1}, f64),
      tensor("fp8", DType::F8_E4M3, {2}, fp8),
  };
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "\xc3\xbcnicode"}};
  write_safetensors(path, ts, meta);
  CHECK_FALSE(path_exists(path + ".tmp"));

  SECTION("through open (memory map)") {
    auto f = SafetensorsFile::open(path);
    REQUIRE(f->tensors().size() == ts.size());
    for (size_t i = 0; i < ts.size(); ++i) {
      CHECK(f->tensors()[i].name == ts[i].name);  // file order is write order
      check_same(f->at(ts[i].name), ts[i]);
    }
    CHECK(f->metadata() == meta);
    CHECK(f->path() == path);
    CHECK(f->mapping() != nullptr);
    CHECK(f->at("step").numel() == 1);
    CHECK(f->at("empty").numel() == 0);
  }
  SECTION("through from_mapping and from_bytes") {
    auto mapped = SafetensorsFile::from_mapping(MappedFile::open(path));
    auto bytes = SafetensorsFile::from_bytes(std::make_shared<const std::string>(read_bytes(path)), "mem");
    for (const auto& t : ts) {
      check_same(mapped->at(t.name), t);
      check_same(bytes->at(t.name), t);
    }
    CHECK(bytes->mapping() == nullptr);
  }
  SECTION("lookups of absent tensors") {
    auto f = SafetensorsFile::open(path);
    CHECK(f->find("w.f33") == nullptr);
    auto msg = usage_error([&] { f->at("w.f33"); });
    CHECK_THAT(msg, Contains(path) && Contains("'w.f33'") && Contains("did you mean 'w.f32'"));
  }
  SECTION("an empty file list round-trips") {
    write_safetensors(dir.file("none.safetensors"), {});
    auto f = SafetensorsFile::open(dir.file("none.safetensors"));
    CHECK(f->tensors().empty());
    CHECK(f->metadata().empty());
  }
}

TEST_CASE("the written header is compact JSON padded with spaces to a multiple of 8", "[io]") {
  TempDir dir;
  std::vector<uint8_t> v = {7};
  for (size_t len = 1; len <= 9; ++len) {
    const std::string path = dir.file("pad.safetensors");
    write_safetensors(path, {tensor(std::string(len, 'x'), DType::U8, {1}, v)});
    std::string bytes = read_bytes(path);
    REQUIRE(bytes.size() >= 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[static_cast<size_t>(i)]);
    INFO("name length " << len);
    CHECK(n % 8 == 0);
    REQUIRE(bytes.size() == 8 + n + 1);
    std::string header = bytes.substr(8, n);
    size_t end = header.find_last_not_of(' ');
    REQUIRE(end != std::string::npos);
    CHECK(header[end] == '}');
    CHECK(n - (end + 1) < 8);
    CHECK(header.find('\n') == std::string::npos);
    auto parsed = nlohmann::json::parse(header);
    CHECK(parsed[std::string(len, 'x')]["data_offsets"] == nlohmann::json::array({0, 1}));
    CHECK(SafetensorsFile::open(path)->header_bytes() == n);
  }
}

TEST_CASE("malformed files are rejected with a usage error naming the file and tensor", "[io]") {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  auto reject = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    return usage_error([&] { SafetensorsFile::open(path); });
  };
  auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
           ",\"data_offsets\":" + offsets + "}";
  };
  const std::string a12 = entry("a", "F32", "[3]", "[0,12]");

  SECTION("file shorter than 8 bytes") {
    CHECK_THAT(reject(std::string("\x01\x02\x03", 3)), Contains(path) && Contains("too short"));
  }
  SECTION("empty file") { CHECK_THAT(reject(""), Contains(path) && Contains("too short")); }
  SECTION("header length beyond the file") {
    CHECK_THAT(reject(u64_le(1000) + "{}"), Contains(path) && Contains("runs past the end"));
  }
  SECTION("header length above 100,000,000") {
    CHECK_THAT(reject(u64_le(100000001) + "{}"), Contains(path) && Contains("exceeds the limit"));
  }
  SECTION("gap between tensors") {
    auto msg = reject(raw_file("{" + a12 + "," + entry("b", "F32", "[3]", "[16,28]") + "}", 28));
    CHECK_THAT(msg, Contains(path) && Contains("'b'") && Contains("gap of 4 bytes") && Contains("'a'"));
  }
  SECTION("overlapping tensors") {
    auto msg = reject(raw_file("{" + a12 + "," + entry("b", "F32", "[3]", "[8,20]") + "}", 20));
    CHECK_THAT(msg, Contains(path) && Contains("'b'") && Contains("overlapping") && Contains("'a'"));
  }
  SECTION("first offset is not 0") {
    auto msg = reject(raw_file("{" + entry("a", "F32", "[3]", "[4,16]") + "}", 16));
    CHECK_THAT(msg, Contains(path) && Contains("'a'") && Contains("begins at byte 4, expected 0"));
  }
  SECTION("unknown dtype") {
    auto msg = reject(raw_file("{" + entry("a", "F33", "[3]", "[0,12]") + "}", 12));
    CHECK_THAT(msg, Contains(path) && Contains("'a'") && Contains("unknown dtype 'F33'"));
  }
  SECTION("byte size does not match dtype and shape") {
    auto msg = reject(raw_file("{" + entry("x.weight", "F32", "[3]", "[0,10]") + "}", 10));
    CHECK_THAT(msg, Contains(path + ": tensor 'x.weight': data_offsets [0, 10) hold 10 bytes but F32 [3] "
                                    "needs 12"));
  }
  SECTION("trailing bytes after the last tensor") {
    auto msg = reject(raw_file("{" + a12 + "}", 16));
    CHECK_THAT(msg, Contains(path) && Contains("'a'") && Contains("4 trailing bytes"));
  }
  SECTION("data buffer shorter than the tensors") {
    auto msg = reject(raw_file("{" + a12 + "}", 8));
    CHECK_THAT(msg, Contains(path) && Contains("'a'") && Contains("truncated"));
  }
  SECTION("trailing bytes in a file without tensors") {
    CHECK_THAT(reject(raw_file("{}", 8)), Contains(path) && Contains("trailing bytes"));
  }
  SECTION("invalid JSON") {
    CHECK_THAT(reject(raw_file("{\"a\":{\"dtype\":\"F32\",", 0)),
               Contains(path) && Contains("not valid JSON"));
  }
  SECTION("empty header") { CHECK_THAT(reject(u64_le(0)), Contains(path) && Contains("not valid JSON")); }
  SECTION("invalid UTF-8") {
    auto msg = reject(raw_file("{" + entry("a\xff\xfe", "F32", "[3]", "[0,12]") + "}", 12));
    CHECK_THAT(msg, Contains(path) && Contains("not valid UTF-8"));
  }
  SECTION("UTF-8 encoded surrogate") {
    auto msg = reject(raw_file("{" + entry("a\xed\xa0\x80", "F32", "[3]", "[0,12]") + "}", 12));
    CHECK_THAT(msg, Contains(path) && Contains("not valid UTF-8"));
  }
  SECTION("missing field") {
    auto msg = reject(raw_file(R"({"a":{"dtype":"F32","data_offsets":[0,12]}})", 12));
    CHECK_THAT(msg, Contains(path) && Contains("'a'") && Contains("missing \"shape\""));
  }
  SECTION("negative dimension") {
    auto msg = reject(raw_file("{" + entry("a", "F32", "[-1,3]", "[0,12]") + "}", 12));
    CHECK_THAT(msg, Contains(path) && Contains("'a'") && Contains("negative dimension"));
  }
  SECTION("element count overflow") {
    auto msg = reject(raw_file("{" + entry("a", "F32", "[4294967296,4294967296]", "[0,12]") + "}", 12));
    CHECK_THAT(msg, Contains(path) && Contains("'a'") && Contains("overflows"));
  }
  SECTION("end before begin") {
    auto msg = reject(raw_file("{" + entry("a", "F32", "[3]", "[12,0]") + "}", 12));
    CHECK_THAT(msg, Contains(path) && Contains("'a'") && Contains("end before they begin"));
  }
  SECTION("wrong JSON types in an entry") {
    CHECK_THAT(reject(raw_file("{" + entry("a", "F32", "\"3\"", "[0,12]") + "}", 12)),
               Contains("'a'") && Contains("\"shape\" must be an array"));
    CHECK_THAT(reject(raw_file("{" + entry("a", "F32", "[3.0]", "[0,12]") + "}", 12)),
               Contains("'a'") && Contains("\"shape\" must be an array"));
    CHECK_THAT(reject(raw_file("{" + entry("a", "F32", "[3]", "[0]") + "}", 12)),
               Contains("'a'") && Contains("\"data_offsets\" must be [begin, end]"));
    CHECK_THAT(reject(raw_file("{" + entry("a", "F32", "[3]", "[0,-12]") + "}", 12)),
               Contains("'a'") && Contains("\"data_offsets\" must be [begin, end]"));
    CHECK_THAT(reject(raw_file(R"({"a":{"dtype":4,"shape":[3],"data_offsets":[0,12]}})", 12)),
               Contains(path) && Contains("'a'") && Contains("\"dtype\" must be a string"));
  }
  SECTION("entry is not an object") {
    CHECK_THAT(reject(raw_file(R"({"a":5})", 0)), Contains(path) && Contains("'a'") && Contains("object"));
  }
  SECTION("header is not an object") {
    CHECK_THAT(reject(raw_file("[1,2]", 0)), Contains(path) && Contains("must be a JSON object"));
  }
  SECTION("__metadata__ is not string to string") {
    CHECK_THAT(reject(raw_file(R"({"__metadata__":{"k":1}})", 0)),
               Contains(path) && Contains("__metadata__") && Contains("'k'"));
    CHECK_THAT(reject(raw_file(R"({"__metadata__":["k"]})", 0)), Contains(path) && Contains("__metadata__"));
  }
  SECTION("a tensor name listed twice") {
    auto msg = reject(raw_file("{" + a12 + "," + a12 + "}", 12));
    CHECK_THAT(msg, Contains(path) && Contains("'a'") && Contains("twice"));
  }
  SECTION("deeply nested JSON") {
    std::string deep = std::string(100, '[') + std::string(100, ']');
    auto msg =
        reject(raw_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12],"x":)" + deep + "}}", 12));
    CHECK_THAT(msg, Contains(path) && Contains("nests deeper"));
  }
  SECTION("a file that is not safetensors at all") {
    CHECK_THAT(reject(std::string("GGUF\x03\0\0\0\x10\0\0\0", 12) + "not safetensors"), Contains(path));
  }
}

TEST_CASE("valid edge cases of the format are accepted", "[io]") {
  TempDir dir;
  const std::string path = dir.file("edge.safetensors");
  SECTION("zero-size tensors sharing an offset with a non-empty one") {
    write_bytes(path, raw_file(R"({"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                               R"("y":{"dtype":"F16","shape":[2,0],"data_offsets":[0,0]},)"
                               R"("a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}})",
                               3));
    auto f = SafetensorsFile::open(path);
    REQUIRE(f->tensors().size() == 3);
    CHECK(f->tensors().back().name == "a");
    CHECK(f->at("y").nbytes == 0);
  }
  SECTION("unpadded header, entries out of offset order, extra entry keys") {
    write_bytes(path, raw_file(R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5],"extra":1},)"
                               R"("a":{"dtype":"U8","shape":[],"data_offsets":[0,1]},)"
                               R"("m":{"dtype":"I16","shape":[1],"data_offsets":[1,3]}})",
                               5));
    auto f = SafetensorsFile::open(path);
    REQUIRE(f->tensors().size() == 3);
    CHECK(f->tensors()[0].name == "a");
    CHECK(f->tensors()[1].name == "m");
    CHECK(f->tensors()[2].name == "b");
    CHECK(f->at("a").shape.empty());
  }
}

TEST_CASE("the writer rejects bad input and leaves no file behind", "[io]") {
  TempDir dir;
  const std::string path = dir.file("out.safetensors");
  std::vector<float> v = {1, 2, 3};
  SECTION("nbytes does not match the shape") {
    auto msg = usage_error([&] { write_safetensors(path, {{"w", DType::F32, {4}, v.data(), 12}}); });
    CHECK_THAT(msg, Contains(path) && Contains("'w'") && Contains("needs 16"));
  }
  SECTION("duplicate names") {
    auto msg = usage_error([&] {
      write_safetensors(path, {tensor("w", DType::F32, {3}, v), tensor("w", DType::F32, {3}, v)});
    });
    CHECK_THAT(msg, Contains(path) && Contains("'w'") && Contains("twice"));
  }
  SECTION("reserved name") {
    auto msg = usage_error([&] { write_safetensors(path, {tensor("__metadata__", DType::F32, {3}, v)}); });
    CHECK_THAT(msg, Contains(path) && Contains("reserved"));
  }
  SECTION("negative dimension") {
    auto msg = usage_error([&] { write_safetensors(path, {{"w", DType::F32, {-3}, v.data(), 12}}); });
    CHECK_THAT(msg, Contains(path) && Contains("'w'") && Contains("negative"));
  }
  SECTION("name that is not UTF-8") {
    auto msg = usage_error([&] { write_safetensors(path, {tensor("w\xff", DType::F32, {3}, v)}); });
    CHECK_THAT(msg, Contains(path) && Contains("UTF-8"));
  }
  SECTION("metadata that is not UTF-8") {
    auto msg = usage_error([&] {
      write_safetensors(path, {tensor("w", DType::F32, {3}, v)}, {{"k", "\xc3"}});
    });
    CHECK_THAT(msg, Contains(path) && Contains("'k'") && Contains("UTF-8"));
  }
  CHECK_FALSE(path_exists(path));
  CHECK_FALSE(path_exists(path + ".tmp"));
}

TEST_CASE("sharded checkpoints round-trip through Checkpoint", "[io]") {
  TempDir dir;
  ShardFixture fx;
  const auto ts = fx.tensors();
  const std::map<std::string, std::string> meta = {{"format", "pt"}};

  SECTION("three shards and an index") {
    auto files = write_safetensors_sharded(dir.path(), ts, 80, meta);
    CHECK(files ==
          std::vector<std::string>{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                   "model-00003-of-00003.safetensors", "model.safetensors.index.json"});
    CHECK_FALSE(path_exists(dir.file("model.safetensors")));
    auto index = nlohmann::json::parse(read_bytes(dir.file("model.safetensors.index.json")));
    CHECK(index["metadata"]["total_size"] == 220);
    CHECK(index["weight_map"]["b"] == "model-00001-of-00003.safetensors");
    CHECK(index["weight_map"]["c"] == "model-00002-of-00003.safetensors");
    CHECK(index["weight_map"]["d"] == "model-00003-of-00003.safetensors");

    for (const std::string& where : {dir.path(), dir.file("model.safetensors.index.json")}) {
      auto ck = Checkpoint::open(where);
      CHECK(ck.path() == where);
      CHECK(ck.names() == std::vector<std::string>{"a", "b", "c", "d"});
      CHECK(ck.files().size() == 3);
      uint64_t total_bytes = 0;
      for (const auto& name : ck.names()) total_bytes += ck.at(name).nbytes;
      CHECK(total_bytes == 220);
      for (const auto& t : ts) check_same(ck.at(t.name), t);
      CHECK(ck.contains("c"));
      CHECK_FALSE(ck.contains("e"));
      CHECK_THAT(ck.file_of("d")->path(), Contains("model-00003-of-00003.safetensors"));
      CHECK(ck.file_of("a")->metadata() == meta);
      auto msg = usage_error([&] { ck.at("e"); });
      CHECK_THAT(msg, Contains("checkpoint " + where) && Contains("'e'"));
    }
  }
  SECTION("one shard is written as plain model.safetensors") {
    auto files = write_safetensors_sharded(dir.path(), ts, 1000, meta);
    CHECK(files == std::vector<std::string>{"model.safetensors"});
    CHECK_FALSE(path_exists(dir.file("model.safetensors.index.json")));
    auto ck = Checkpoint::open(dir.path());
    CHECK(ck.names().size() == 4);
    check_same(ck.at("d"), ts[3]);
    auto single = Checkpoint::open(dir.file("model.safetensors"));
    CHECK(single.names() == ck.names());
  }
  SECTION("rewriting with another layout removes the stale file") {
    write_safetensors_sharded(dir.path(), ts, 1000);
    write_safetensors_sharded(dir.path(), ts, 80);
    CHECK_FALSE(path_exists(dir.file("model.safetensors")));
    CHECK(Checkpoint::open(dir.path()).files().size() == 3);
    write_safetensors_sharded(dir.path(), ts, 1000);
    CHECK_FALSE(path_exists(dir.file("model.safetensors.index.json")));
    CHECK(Checkpoint::open(dir.path()).files().size() == 1);
  }
  SECTION("a tensor larger than the shard limit gets its own shard") {
    auto files = write_safetensors_sharded(dir.path(), ts, 30);
    CHECK(files.size() == 5);
    CHECK(Checkpoint::open(dir.path()).files().size() == 4);
  }
  SECTION("invalid input writes nothing") {
    auto bad = ts;
    bad[2].nbytes = 3;
    CHECK_THAT(usage_error([&] { write_safetensors_sharded(dir.path(), bad, 80); }), Contains("'c'"));
    CHECK(fs::is_empty(dir.path()));
    CHECK_THAT(usage_error([&] { write_safetensors_sharded(dir.path(), ts, 0); }), Contains(dir.path()));
    CHECK_THAT(usage_error([&] { write_safetensors_sharded(dir.file("missing"), ts, 80); }),
               Contains("not a directory"));
  }
}

TEST_CASE("inconsistent sharded checkpoints are rejected naming index, shard and tensor", "[io]") {
  TempDir dir;
  ShardFixture fx;
  write_safetensors_sharded(dir.path(), fx.tensors(), 80);
  const std::string index_path = dir.file("model.safetensors.index.json");
  auto index = nlohmann::json::parse(read_bytes(index_path));
  auto rewrite_index = [&] { write_bytes(index_path, index.dump()); };

  SECTION("index names a missing shard") {
    fs::remove(dir.file("model-00002-of-00003.safetensors"));
    auto msg = usage_error([&] { Checkpoint::open(dir.path()); });
    CHECK_THAT(msg, Contains(index_path) && Contains("'c'") && Contains("model-00002-of-00003.safetensors") &&
                        Contains("does not exist"));
  }
  SECTION("index maps a tensor to a shard that lacks it") {
    index["weight_map"]["a"] = "model-00003-of-00003.safetensors";
    rewrite_index();
    auto msg = usage_error([&] { Checkpoint::open(dir.path()); });
    CHECK_THAT(msg, Contains(index_path) && Contains("'a'") && Contains("model-00003-of-00003.safetensors") &&
                        Contains("does not contain it"));
  }
  SECTION("a tensor in two shards") {
    std::vector<float> v(10, 5.0f);
    write_safetensors(dir.file("extra.safetensors"),
                      {tensor("a", DType::F32, {10}, v), tensor("e", DType::F32, {10}, v)});
    index["weight_map"]["e"] = "extra.safetensors";
    rewrite_index();
    auto msg = usage_error([&] { Checkpoint::open(dir.path()); });
    CHECK_THAT(msg, Contains("'a'") && Contains("two shards") && Contains("extra.safetensors") &&
                        Contains("model-00001-of-00003.safetensors"));
  }
  SECTION("a corrupt shard is named along with the index") {
    std::string shard = dir.file("model-00003-of-00003.safetensors");
    std::string bytes = read_bytes(shard);
    write_bytes(shard, bytes.substr(0, bytes.size() - 1));
    auto msg = usage_error([&] { Checkpoint::open(dir.path()); });
    CHECK_THAT(msg, Contains(shard) && Contains("'d'") && Contains(index_path));
  }
  SECTION("index without a weight_map") {
    write_bytes(index_path, R"({"metadata": {}})");
    CHECK_THAT(usage_error([&] { Checkpoint::open(dir.path()); }),
               Contains(index_path) && Contains("weight_map"));
  }
  SECTION("index that is not JSON") {
    write_bytes(index_path, "{ nope");
    CHECK_THAT(usage_error([&] { Checkpoint::open(dir.path()); }),
               Contains(index_path) && Contains("not valid JSON"));
  }
  SECTION("index entry that is not a file name") {
    index["weight_map"]["a"] = 3;
    rewrite_index();
    CHECK_THAT(usage_error([&] { Checkpoint::open(dir.path()); }), Contains(index_path) && Contains("'a'"));
    index["weight_map"]["a"] = "../outside.safetensors";
    rewrite_index();
    CHECK_THAT(usage_error([&] { Checkpoint::open(dir.path()); }),
               Contains(index_path) && Contains("'a'") && Contains("not a file name inside"));
  }
  SECTION("both model.safetensors and an index") {
    std::vector<uint8_t> v = {1};
    write_safetensors(dir.file("model.safetensors"), {tensor("x", DType::U8, {1}, v)});
    CHECK_THAT(usage_error([&] { Checkpoint::open(dir.path()); }), Contains(dir.path()) && Contains("both"));
  }
}

TEST_CASE("Checkpoint::open reports missing paths and empty directories", "[io]") {
  TempDir dir;
  CHECK_THAT(usage_error([&] { Checkpoint::open(dir.file("nope")); }),
             Contains(dir.file("nope")) && Contains("does not exist"));
  CHECK_THAT(usage_error([&] { Checkpoint::open(dir.path()); }),
             Contains(dir.path()) && Contains("model.safetensors"));
  std::vector<uint8_t> v = {1};
  write_safetensors(dir.file("adapter_model.safetensors"), {tensor("x", DType::U8, {1}, v)});
  try {
    Checkpoint::open(dir.path());
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK_THAT(e.hint(), Contains("adapter_model.safetensors"));
  }
}

namespace {

// One random edit of a safetensors file: bit flips, byte/digit replacements (biased to the header, where
// the structure is), truncation, insertion/deletion, and rewrites of the length prefix.
void mutate_once(std::string& s, std::mt19937& rng, size_t header_end) {
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  size_t in_header = pick(std::min(header_end, s.size()));
  switch (rng() % 6) {
    case 0:
      if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1u << (rng() % 8));
      break;
    case 1:
      if (in_header < s.size()) s[in_header] = static_cast<char>(rng() % 256);
      break;
    case 2:
      if (in_header < s.size() && std::isdigit(static_cast<unsigned char>(s[in_header])))
        s[in_header] = static_cast<char>('0' + rng() % 10);
      break;
    case 3:
      s.resize(pick(s.size() + 1));
      break;
    case 4:
      if (rng() % 2 == 0 && in_header < s.size())
        s.erase(in_header, 1);
      else
        s.insert(std::min(in_header, s.size()), 1, static_cast<char>(rng() % 256));
      break;
    default:
      if (s.size() >= 8) {
        std::string len = u64_le(pick(s.size() + 16));
        s.replace(0, 8, len);
      }
      break;
  }
}

}  // namespace

TEST_CASE("random mutations of a valid file are parsed or rejected, never crash", "[io]") {
  TempDir dir;
  const std::string path = dir.file("seed.safetensors");
  std::vector<float> w(12, 0.5f);
  std::vector<uint16_t> h(6, 0x3c00);
  std::vector<int64_t> s = {9};
  std::vector<uint8_t> e;
  write_safetensors(path,
                    {tensor("layers.0.w", DType::F32, {3, 4}, w), tensor("layers.0.h", DType::F16, {2, 3}, h),
                     tensor("step", DType::I64, {}, s), tensor("empty", DType::U8, {0}, e)},
                    {{"format", "pt"}});
  const std::string seed = read_bytes(path);
  const size_t header_end = 8 + SafetensorsFile::open(path)->header_bytes();

  std::mt19937 rng(1234567);
  int accepted = 0, rejected = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string bytes = seed;
    for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n; ++k) mutate_once(bytes, rng, header_end);
    auto buffer = std::make_shared<const std::string>(bytes);
    try {
      auto f = SafetensorsFile::from_bytes(buffer, "fuzz.safetensors");
      const auto* lo = reinterpret_cast<const uint8_t*>(buffer->data());
      for (const auto& t : f->tensors()) {
        bool in_bounds = t.data >= lo && t.data + t.nbytes <= lo + buffer->size();
        bool sized = static_cast<size_t>(t.numel()) * dtype_size(t.dtype) == t.nbytes;
        if (!in_bounds || !sized) FAIL("mutation " << i << ": tensor '" << t.name << "' escapes the buffer");
      }
      ++accepted;
    } catch (const Error& err) {
      if (err.kind() != ExitCode::Usage || err.message().rfind("fuzz.safetensors: ", 0) != 0)
        FAIL("mutation " << i << ": unexpected error: " << err.what());
      ++rejected;
    }
  }
  CHECK(accepted + rejected == 2000);
  CHECK(accepted > 0);
  CHECK(rejected > 0);
}
