// GGUF writing and reading: the exact byte layout of a small file, round trips of every metadata type and
// tensor type, the element encodings (f16, bf16 and Q8_0 against hand-computed values), and every rejection
// rule of the reader (an input Error naming the file, never a crash), plus a quick truncation/mutation fuzz.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>

#include "core/error.h"
#include "core/fs.h"
#include "io/gguf.h"
#include "test_util.h"

using namespace loratune;
using namespace loratune::io;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

std::string le(uint64_t v, size_t bytes) {
  std::string s;
  for (size_t i = 0; i < bytes; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  return s;
}
std::string gstr(const std::string& s) { return le(s.size(), 8) + s; }

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

std::shared_ptr<const GgufFile> parse(const std::string& bytes, const std::string& label = "mem.gguf") {
  return GgufFile::from_bytes(std::make_shared<const std::string>(bytes), label);
}

// The message of the input error that parsing `bytes` raises.
std::string parse_error(const std::string& bytes) {
  try {
    parse(bytes, "bad.gguf");
  } catch (const Error& e) {
    CHECK(e.kind() == ExitCode::Usage);
    CHECK_THAT(e.message(), Contains("bad.gguf"));
    return e.message();
  }
  FAIL("expected the GGUF reader to refuse the bytes");
  return {};
}

// A hand-assembled file: a header with `kv` (already encoded key/value pairs) and `tensors` encoded infos.
std::string assemble(uint64_t n_tensors, uint64_t n_kv, const std::string& kv, const std::string& infos,
                     const std::string& data, uint64_t align = 32) {
  std::string s = "GGUF" + le(3, 4) + le(n_tensors, 8) + le(n_kv, 8) + kv + infos;
  s.resize((s.size() + align - 1) / align * align, '\0');
  return s + data;
}
std::string kv_u32(const std::string& key, uint32_t v) { return gstr(key) + le(4, 4) + le(v, 4); }
std::string info(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
  std::string s = gstr(name) + le(ne.size(), 4);
  for (auto d : ne) s += le(d, 8);
  return s + le(type, 4) + le(offset, 8);
}

std::string small_valid_file() {
  return assemble(1, 1, kv_u32("general.alignment", 32), info("t", {4}, 0, 0), std::string(16, '\0'));
}

}  // namespace

TEST_CASE("GGUF writer produces the documented byte layout", "[io][gguf]") {
  lt_test::TempDir tmp("gguf");
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("llama"));
  w.add_tensor("t", {2}, GgmlType::F32, f32_bytes({1.0f, -2.0f}));
  const std::string path = tmp.file("x.gguf");
  w.write(path);
  const std::string got = lt_test::read_file(path);

  // magic, version 3, 1 tensor, 1 key; "general.architecture" = string "llama"; tensor info "t": 1 dim, ne 2,
  // F32, offset 0; zero padding to 32; the data 1.0f, -2.0f; zero padding to 32.
  std::string want = "GGUF" + le(3, 4) + le(1, 8) + le(1, 8) + gstr("general.architecture") + le(8, 4) + gstr("llama") +
                     gstr("t") + le(1, 4) + le(2, 8) + le(0, 4) + le(0, 8);
  CHECK(want.size() == 102);
  want.resize(128, '\0');
  want += std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8) + std::string(24, '\0');
  CHECK(got.size() == 160);
  CHECK(got == want);
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("GGUF metadata and tensors round trip", "[io][gguf]") {
  lt_test::TempDir tmp("gguf");
  GgufWriter w;
  const std::vector<std::pair<std::string, GgufValue>> kv = {
      {"k.u8", GgufValue::u8(200)},
      {"k.i8", GgufValue::i8(-100)},
      {"k.u16", GgufValue::u16(60000)},
      {"k.i16", GgufValue::i16(-30000)},
      {"k.u32", GgufValue::u32(4000000000u)},
      {"k.i32", GgufValue::i32(-2000000000)},
      {"k.u64", GgufValue::u64(18000000000000000000ull)},
      {"k.i64", GgufValue::i64(-9000000000000000000ll)},
      {"k.f32", GgufValue::f32(0.1f)},
      {"k.f64", GgufValue::f64(0.1)},
      {"k.true", GgufValue::boolean(true)},
      {"k.false", GgufValue::boolean(false)},
      {"k.str", GgufValue::string("héllo\nworld")},
      {"k.empty", GgufValue::string("")},
      {"k.strs", GgufValue::strings({"<unk>", "<s>", "\xe2\x96\x81the", "<0x0A>"})},
      {"k.f32s", GgufValue::f32s({0.0f, -1000.0f, 1e-30f})},
      {"k.i32s", GgufValue::i32s({1, 2, 6, -1})},
      {"k.noitems", GgufValue::array(GgufType::U32, {})},
  };
  for (const auto& [k, v] : kv) w.set(k, v);

  std::vector<float> a(2 * 3), b(64 * 2), c(5);
  for (size_t i = 0; i < a.size(); ++i) a[i] = 0.5f * static_cast<float>(i) - 1.0f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = std::sin(0.37f * static_cast<float>(i));
  for (size_t i = 0; i < c.size(); ++i) c[i] = 1.0f / (1.0f + static_cast<float>(i));
  w.add_tensor("a", {3, 2}, GgmlType::F32, f32_bytes(a));
  w.add_tensor("b.q8", {64, 2}, GgmlType::Q8_0, ggml_encode(b.data(), 128, GgmlType::Q8_0));
  w.add_tensor("c.f16", {5}, GgmlType::F16, ggml_encode(c.data(), 5, GgmlType::F16));
  w.add_tensor("d.bf16", {5, 1, 1, 1}, GgmlType::BF16, [&] { return ggml_encode(c.data(), 5, GgmlType::BF16); });
  const std::string path = tmp.file("rt.gguf");
  w.write(path);

  auto f = GgufFile::open(path);
  CHECK(f->version() == 3);
  CHECK(f->alignment() == 32);
  REQUIRE(f->metadata().size() == kv.size());
  for (size_t i = 0; i < kv.size(); ++i) {
    INFO(kv[i].first);
    CHECK(f->metadata()[i].first == kv[i].first);  // file order
    CHECK(f->metadata()[i].second == kv[i].second);
  }
  CHECK(f->get_u32("k.u32") == 4000000000u);
  CHECK(f->get_f32("k.f32") == 0.1f);
  CHECK(f->get_bool("k.true"));
  CHECK(f->get_string("k.str") == "héllo\nworld");
  CHECK(f->get_array("k.strs", GgufType::String)[2].as_string() == "\xe2\x96\x81the");

  REQUIRE(f->tensors().size() == 4);
  const auto& ta = f->tensor("a");
  CHECK(ta.ne == std::vector<int64_t>{3, 2});
  CHECK(ta.type == GgmlType::F32);
  CHECK(ta.offset == 0);
  CHECK(ggml_decode(ta.data, ta.numel(), ta.type) == a);
  const auto& tb = f->tensor("b.q8");
  CHECK(tb.offset == 32);  // 24 bytes of "a" padded to 32
  CHECK(tb.nbytes == 4 * 34);
  CHECK(ggml_decode(tb.data, 128, GgmlType::Q8_0) ==
        ggml_decode(ggml_encode(b.data(), 128, GgmlType::Q8_0).data(), 128, GgmlType::Q8_0));
  for (const auto& t : f->tensors()) {
    CHECK(t.offset % 32 == 0);
    CHECK((f->data_offset() + t.offset) % 32 == 0);
  }
  const auto& tc = f->tensor("c.f16");
  CHECK(ggml_decode(tc.data, 5, GgmlType::F16) == ggml_decode(ggml_encode(c.data(), 5, GgmlType::F16).data(), 5, GgmlType::F16));
  CHECK(f->tensor("d.bf16").ne == std::vector<int64_t>{5, 1, 1, 1});
  CHECK(f->find_tensor("nope") == nullptr);
  CHECK(f->find("nope") == nullptr);

  SECTION("typed getters name the key and both types") {
    try {
      f->get_u32("k.i32");
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK_THAT(e.message(), Contains(path) && Contains("'k.i32' has type i32, expected u32"));
    }
    CHECK_THROWS_WITH(f->get_string("missing.key"), Contains("'missing.key' is missing"));
    CHECK_THROWS_WITH(f->get_array("k.strs", GgufType::F32), Contains("array of string, expected an array of f32"));
    CHECK_THROWS_WITH(f->tensor("zz"), Contains("no tensor 'zz'"));
  }
  SECTION("a non-default alignment is honoured") {
    GgufWriter w2;
    w2.set("general.alignment", GgufValue::u32(64));
    w2.add_tensor("x", {3}, GgmlType::F32, f32_bytes({1, 2, 3}));
    w2.add_tensor("y", {1}, GgmlType::F32, f32_bytes({4}));
    w2.write(tmp.file("a64.gguf"));
    auto f2 = GgufFile::open(tmp.file("a64.gguf"));
    CHECK(f2->alignment() == 64);
    CHECK(f2->data_offset() % 64 == 0);
    CHECK(f2->tensor("y").offset == 64);
    CHECK(ggml_decode(f2->tensor("y").data, 1, GgmlType::F32)[0] == 4.0f);
  }
}

TEST_CASE("f16 and bf16 conversions round to nearest even", "[io][gguf]") {
  SECTION("f16 hand-computed values") {
    CHECK(fp32_to_fp16(1.0f) == 0x3C00);
    CHECK(fp32_to_fp16(-2.0f) == 0xC000);
    CHECK(fp32_to_fp16(0.0f) == 0x0000);
    CHECK(fp32_to_fp16(-0.0f) == 0x8000);
    CHECK(fp32_to_fp16(65504.0f) == 0x7BFF);                   // largest half
    CHECK(fp32_to_fp16(65520.0f) == 0x7C00);                   // halfway to the next binade: rounds to inf
    CHECK(fp32_to_fp16(65519.0f) == 0x7BFF);
    CHECK(fp32_to_fp16(0.1f) == 0x2E66);                       // 0.0999755859375
    CHECK(fp32_to_fp16(std::ldexp(1.0f, -24)) == 0x0001);      // smallest subnormal
    CHECK(fp32_to_fp16(std::ldexp(1.0f, -25)) == 0x0000);      // half of it: ties to even (0)
    CHECK(fp32_to_fp16(std::ldexp(3.0f, -26)) == 0x0001);      // 0.75 of it: up
    CHECK(fp32_to_fp16(std::ldexp(1.0f, -14)) == 0x0400);      // smallest normal
    CHECK(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);  // tie between 0x3C00 and 0x3C01: even
    CHECK(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);  // tie between 0x3C01 and 0x3C02: even
    CHECK(fp32_to_fp16(std::numeric_limits<float>::infinity()) == 0x7C00);
    CHECK((fp32_to_fp16(std::nanf("")) & 0x7FFF) > 0x7C00);
    CHECK(fp16_to_fp32(0x3C00) == 1.0f);
    CHECK(fp16_to_fp32(0x0001) == std::ldexp(1.0f, -24));
    CHECK(fp16_to_fp32(0x7BFF) == 65504.0f);
    CHECK(fp16_to_fp32(0x2E66) == 0.0999755859375f);
    CHECK(std::isinf(fp16_to_fp32(0xFC00)));
  }
  SECTION("every f16 value survives f16 -> f32 -> f16") {
    for (uint32_t h = 0; h < 0x10000; ++h) {
      if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue;  // NaNs
      REQUIRE(fp32_to_fp16(fp16_to_fp32(static_cast<uint16_t>(h))) == h);
    }
  }
  SECTION("bf16") {
    CHECK(fp32_to_bf16(1.0f) == 0x3F80);
    CHECK(fp32_to_bf16(0.1f) == 0x3DCD);  // 0x3DCCCCCD rounds up
    float tie_even, tie_odd;
    uint32_t bits = 0x3F808000;  // exactly between 0x3F80 and 0x3F81
    std::memcpy(&tie_even, &bits, 4);
    bits = 0x3F818000;  // exactly between 0x3F81 and 0x3F82
    std::memcpy(&tie_odd, &bits, 4);
    CHECK(fp32_to_bf16(tie_even) == 0x3F80);
    CHECK(fp32_to_bf16(tie_odd) == 0x3F82);
    CHECK(bf16_to_fp32(0x3F80) == 1.0f);
    CHECK(std::isnan(bf16_to_fp32(fp32_to_bf16(std::nanf("")))));
  }
}

TEST_CASE("Q8_0 blocks match hand-computed values", "[io][gguf]") {
  // Block 1: max |x| = 127, so d = 1 (f16 0x3C00) and q = round-half-away-from-zero(x).
  // Block 2: max |x| = 63.5, d = 0.5 (f16 0x3800), q = round(2x).
  // Block 3: all zeros: d = 0, q = 0.
  // Block 4: max |x| = 1, d = 1/127 = 0.0078740157 -> f16 0x2008 (= 2^-7 * (1 + 8/1024) = 0.00787353515625).
  std::vector<float> x(128, 0.0f);
  const float b1[] = {127.0f, 2.5f, -2.5f, 0.49f, -0.51f, -127.0f, 3.0f};
  const int8_t q1[] = {127, 3, -3, 0, -1, -127, 3};
  const float b2[] = {0.3f, -63.5f, 10.25f, 63.0f, -0.2f};
  const int8_t q2[] = {1, -127, 21, 126, 0};
  const float b4[] = {1.0f, 0.25f, -0.1f, -1.0f};
  const int8_t q4[] = {127, 32, -13, -127};
  std::copy(std::begin(b1), std::end(b1), x.begin());
  std::copy(std::begin(b2), std::end(b2), x.begin() + 32);
  std::copy(std::begin(b4), std::end(b4), x.begin() + 96);

  const auto bytes = ggml_encode(x.data(), 128, GgmlType::Q8_0);
  REQUIRE(bytes.size() == 4 * 34);
  auto d_of = [&](int block) { return static_cast<uint16_t>(bytes[34 * block] | (bytes[34 * block + 1] << 8)); };
  auto q_of = [&](int block, int i) { return static_cast<int8_t>(bytes[34 * block + 2 + i]); };
  CHECK(d_of(0) == 0x3C00);
  CHECK(d_of(1) == 0x3800);
  CHECK(d_of(2) == 0x0000);
  CHECK(d_of(3) == 0x2008);
  for (int i = 0; i < 7; ++i) CHECK(q_of(0, i) == q1[i]);
  for (int i = 7; i < 32; ++i) CHECK(q_of(0, i) == 0);
  for (int i = 0; i < 5; ++i) CHECK(q_of(1, i) == q2[i]);
  for (int i = 0; i < 32; ++i) CHECK(q_of(2, i) == 0);
  for (int i = 0; i < 4; ++i) CHECK(q_of(3, i) == q4[i]);

  const auto back = ggml_decode(bytes.data(), 128, GgmlType::Q8_0);
  CHECK(back[1] == 3.0f);
  CHECK(back[32 + 2] == 10.5f);
  CHECK(back[64] == 0.0f);
  CHECK(back[96] == 127 * 0.00787353515625f);  // 0.99993896484375
  CHECK(back[98] == -13 * 0.00787353515625f);
  // Error bound: |x - x'| <= d/2 + |q| * (f16 rounding of d) for every element.
  for (int i = 0; i < 128; ++i) CHECK(std::fabs(back[static_cast<size_t>(i)] - x[static_cast<size_t>(i)]) <= 0.5f * 1.0f + 1e-6f);
}

TEST_CASE("GGUF writer refuses invalid tensors and leaves no file behind", "[io][gguf]") {
  lt_test::TempDir tmp("gguf");
  GgufWriter w;
  auto input_error = [](const std::function<void()>& fn) {
    try {
      fn();
    } catch (const Error& e) {
      CHECK(e.kind() == ExitCode::Usage);
      return e.message();
    }
    FAIL("expected an input error");
    return std::string();
  };
  CHECK_THAT(input_error([&] { w.add_tensor(std::string(64, 'x'), {1}, GgmlType::F32, f32_bytes({1})); }),
             Contains("1 to 63 bytes"));
  w.add_tensor("ok", {1}, GgmlType::F32, f32_bytes({1}));
  CHECK_THAT(input_error([&] { w.add_tensor("ok", {1}, GgmlType::F32, f32_bytes({1})); }), Contains("added twice"));
  CHECK_THAT(input_error([&] { w.add_tensor("q", {33}, GgmlType::Q8_0, std::vector<uint8_t>()); }),
             Contains("row length 33 is not a multiple of the Q8_0 block size 32"));
  CHECK_THAT(input_error([&] { w.add_tensor("d", {1, 1, 1, 1, 1}, GgmlType::F32, f32_bytes({1})); }),
             Contains("5 dimensions"));
  // A producer that returns the wrong number of bytes is a bug: the write stops and nothing is left.
  w.add_tensor("bad", {4}, GgmlType::F32, [] { return std::vector<uint8_t>(3); });
  CHECK_THROWS_AS(w.write(tmp.file("bad.gguf")), Error);
  CHECK_FALSE(fs::exists(tmp.file("bad.gguf")));
  CHECK_FALSE(fs::exists(tmp.file("bad.gguf.tmp")));
}

TEST_CASE("GGUF reader rejects malformed files naming the file", "[io][gguf]") {
  REQUIRE_NOTHROW(parse(small_valid_file()));
  SECTION("magic and version") {
    CHECK_THAT(parse_error("GGU"), Contains("not a GGUF file"));
    CHECK_THAT(parse_error("GGML" + std::string(40, '\0')), Contains("not a GGUF file"));
    std::string v1 = small_valid_file();
    v1[4] = 1;
    CHECK_THAT(parse_error(v1), Contains("GGUF version 1 is not supported"));
  }
  SECTION("counts that cannot fit") {
    CHECK_THAT(parse_error("GGUF" + le(3, 4) + le(0, 8) + le(1ull << 40, 8)), Contains("metadata count"));
    CHECK_THAT(parse_error("GGUF" + le(3, 4) + le(1ull << 40, 8) + le(0, 8)), Contains("tensor count"));
  }
  SECTION("metadata values") {
    CHECK_THAT(parse_error(assemble(0, 1, gstr("k") + le(99, 4) + le(0, 8), "", "")), Contains("unknown value type 99"));
    CHECK_THAT(parse_error(assemble(0, 1, gstr("k") + le(8, 4) + le(1000, 8) + "abc", "", "")),
               Contains("string length 1000 runs past the end"));
    CHECK_THAT(parse_error(assemble(0, 1, gstr("k") + le(7, 4) + le(2, 1), "", "")), Contains("neither 0 nor 1"));
    CHECK_THAT(parse_error(assemble(0, 1, gstr("k") + le(9, 4) + le(9, 4) + le(1, 8), "", "")),
               Contains("arrays of arrays"));
    CHECK_THAT(parse_error(assemble(0, 1, gstr("k") + le(9, 4) + le(4, 4) + le(1ull << 50, 8), "", "")),
               Contains("runs past the end of the file"));
    CHECK_THAT(parse_error(assemble(0, 2, kv_u32("k", 1) + kv_u32("k", 2), "", "")), Contains("duplicate key 'k'"));
    CHECK_THAT(parse_error(assemble(0, 1, kv_u32("general.alignment", 24), "", "")), Contains("not a power of two"));
    CHECK_THAT(parse_error(assemble(0, 1, gstr("general.alignment") + le(5, 4) + le(32, 4), "", "")),
               Contains("'general.alignment' has type i32, expected u32"));
  }
  SECTION("tensor infos") {
    const std::string data(64, '\0');
    CHECK_THAT(parse_error(assemble(1, 0, "", info(std::string(64, 'n'), {4}, 0, 0), data)),
               Contains("longer than ggml's limit of 63"));
    CHECK_THAT(parse_error(assemble(1, 0, "", info("t", {}, 0, 0), data)), Contains("0 dimensions"));
    CHECK_THAT(parse_error(assemble(1, 0, "", info("t", {1, 1, 1, 1, 1}, 0, 0), data)), Contains("5 dimensions"));
    // 16 is IQ2_XXS, a type loratune does not decode; Q4_0 (2) and the other block types it does.
    CHECK_THAT(parse_error(assemble(1, 0, "", info("t", {4}, 16, 0), data)), Contains("ggml type 16"));
    CHECK_THAT(parse_error(assemble(1, 0, "", info("t", {4}, 16, 0), data)), Contains("Q4_K"));
    CHECK_THAT(parse_error(assemble(1, 0, "", info("t", {1ull << 62, 1ull << 62}, 0, 0), data)),
               Contains("element count overflows"));
    CHECK_THAT(parse_error(assemble(1, 0, "", info("t", {33}, 8, 0), data)),
               Contains("row length 33 is not a multiple of the Q8_0 block size 32"));
    CHECK_THAT(parse_error(assemble(2, 0, "", info("t", {4}, 0, 0) + info("t", {4}, 0, 32), data)),
               Contains("duplicate tensor name 't'"));
  }
  SECTION("tensor data placement") {
    CHECK_THAT(parse_error(assemble(1, 0, "", info("t", {4}, 0, 32), std::string(64, '\0'))),
               Contains("is at data offset 32, expected 0"));
    CHECK_THAT(parse_error(assemble(2, 0, "", info("a", {4}, 0, 0) + info("b", {4}, 0, 16), std::string(64, '\0'))),
               Contains("tensor 'b' is at data offset 16, expected 32"));
    CHECK_THAT(parse_error(assemble(1, 0, "", info("t", {40}, 0, 0), std::string(64, '\0'))),
               Contains("runs past the end of the file"));
  }
}

TEST_CASE("GGUF reader survives truncation and random corruption", "[io][gguf][fuzz]") {
  lt_test::TempDir tmp("gguf");
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("llama"));
  w.set("tokenizer.ggml.tokens", GgufValue::strings({"a", "bb", "ccc"}));
  w.set("x.scores", GgufValue::f32s({1, 2, 3}));
  std::vector<float> v(64, 0.25f);
  w.add_tensor("w", {32, 2}, GgmlType::Q8_0, ggml_encode(v.data(), 64, GgmlType::Q8_0));
  w.add_tensor("n", {3}, GgmlType::F32, f32_bytes({1, 2, 3}));
  w.write(tmp.file("f.gguf"));
  const std::string good = lt_test::read_file(tmp.file("f.gguf"));
  auto f = parse(good);
  const auto& last = f->tensors().back();
  const size_t needed = f->data_offset() + last.offset + last.nbytes;

  SECTION("every truncation before the end of the last tensor is refused") {
    for (size_t n = 0; n < needed; ++n) {
      try {
        parse(good.substr(0, n));
        FAIL("accepted a file truncated to " << n << " bytes");
      } catch (const Error& e) {
        REQUIRE(e.kind() == ExitCode::Usage);
      }
    }
    CHECK_NOTHROW(parse(good.substr(0, needed)));  // the trailing padding is optional
  }
  SECTION("random byte flips are parsed or refused, never crash") {
    std::mt19937 rng(1234);
    int refused = 0;
    for (int i = 0; i < 3000; ++i) {
      std::string bad = good;
      const int flips = 1 + static_cast<int>(rng() % 3);
      for (int k = 0; k < flips; ++k)
        bad[rng() % f->data_offset()] = static_cast<char>(rng() & 0xFF);
      try {
        parse(bad);
      } catch (const Error& e) {
        REQUIRE(e.kind() == ExitCode::Usage);
        ++refused;
      }
    }
    CHECK(refused > 0);
  }
}
