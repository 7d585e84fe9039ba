// Block-quantized ggml types decode to the values their layouts define (hand-built blocks; bit-equality with
// gguf-py on random and real data is tests/reference/test_gguf_quants.py), and the type table.
#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "io/gguf_codec.h"

using namespace loratune;
using io::GgmlType;

namespace {
void put_f16(std::vector<uint8_t>& b, size_t at, float v) {
  const uint16_t h = io::fp32_to_fp16(v);
  b[at] = static_cast<uint8_t>(h & 0xFF);
  b[at + 1] = static_cast<uint8_t>(h >> 8);
}
}  // namespace

TEST_CASE("ggml type table: block sizes and bytes as ggml's", "[io][gguf]") {
  struct Row { GgmlType t; int64_t block; size_t bytes; const char* name; };
  const Row rows[] = {{GgmlType::Q4_0, 32, 18, "Q4_0"}, {GgmlType::Q4_1, 32, 20, "Q4_1"},
                      {GgmlType::Q5_0, 32, 22, "Q5_0"}, {GgmlType::Q5_1, 32, 24, "Q5_1"},
                      {GgmlType::Q8_0, 32, 34, "Q8_0"}, {GgmlType::Q2_K, 256, 84, "Q2_K"},
                      {GgmlType::Q3_K, 256, 110, "Q3_K"}, {GgmlType::Q4_K, 256, 144, "Q4_K"},
                      {GgmlType::Q5_K, 256, 176, "Q5_K"}, {GgmlType::Q6_K, 256, 210, "Q6_K"},
                      {GgmlType::BF16, 1, 2, "BF16"}};
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(io::ggml_block_size(r.t) == r.block);
    CHECK(io::ggml_block_bytes(r.t) == r.bytes);
    CHECK(std::string(io::ggml_type_name(r.t)) == r.name);
    CHECK(io::ggml_type_known(static_cast<uint32_t>(r.t)));
  }
  CHECK_FALSE(io::ggml_type_known(16));  // IQ2_XXS
  CHECK_FALSE(io::ggml_type_known(4));   // removed Q4_2
  CHECK(io::ggml_types().size() == 13);
  CHECK(io::ggml_nbytes(GgmlType::Q4_K, 512) == 288);
}

TEST_CASE("block-quantized types decode as their layouts define", "[io][gguf]") {
  SECTION("Q4_0: d * (nibble - 8), low nibbles first") {
    std::vector<uint8_t> b(18);
    put_f16(b, 0, 0.5f);
    for (int l = 0; l < 16; ++l) b[2 + l] = static_cast<uint8_t>(l | ((15 - l) << 4));
    const auto y = io::ggml_decode(b.data(), 32, GgmlType::Q4_0);
    for (int l = 0; l < 16; ++l) {
      CHECK(y[l] == 0.5f * static_cast<float>(l - 8));
      CHECK(y[16 + l] == 0.5f * static_cast<float>(7 - l));
    }
  }
  SECTION("Q5_0: the fifth bit from qh, d * (q - 16)") {
    std::vector<uint8_t> b(22);
    put_f16(b, 0, 1.0f);
    const uint32_t qh = 0x0000FFFF;
    std::memcpy(b.data() + 2, &qh, 4);
    for (int l = 0; l < 16; ++l) b[6 + l] = static_cast<uint8_t>(l | ((15 - l) << 4));
    const auto y = io::ggml_decode(b.data(), 32, GgmlType::Q5_0);
    for (int l = 0; l < 16; ++l) {
      CHECK(y[l] == static_cast<float>(l));            // l + 16 - 16
      CHECK(y[16 + l] == static_cast<float>(-1 - l));  // 15 - l - 16
    }
  }
  SECTION("Q4_1: d * q + m") {
    std::vector<uint8_t> b(20);
    put_f16(b, 0, 0.25f);
    put_f16(b, 2, -1.0f);
    for (int l = 0; l < 16; ++l) b[4 + l] = static_cast<uint8_t>(l | (l << 4));
    const auto y = io::ggml_decode(b.data(), 32, GgmlType::Q4_1);
    for (int l = 0; l < 16; ++l) CHECK(y[l] == 0.25f * static_cast<float>(l) - 1.0f);
  }
  SECTION("Q2_K: 16 scale/min nibble pairs, 2-bit values in four planes") {
    std::vector<uint8_t> b(84);
    for (int g = 0; g < 16; ++g) b[g] = static_cast<uint8_t>(g | (1 << 4));  // scale g, min 1
    for (int k = 0; k < 64; ++k) b[16 + k] = 0xE4;  // plane s holds the value s
    put_f16(b, 80, 1.0f);
    put_f16(b, 82, 0.5f);
    const auto y = io::ggml_decode(b.data(), 256, GgmlType::Q2_K);
    for (int i = 0; i < 256; ++i) {
      INFO(i);
      CHECK(y[i] == static_cast<float>((i / 16) * ((i % 128) / 32)) - 0.5f);
    }
  }
  SECTION("Q6_K: low nibbles, high bit pairs, int8 scales") {
    std::vector<uint8_t> b(210);
    for (int k = 0; k < 128; ++k) b[k] = 0x53;  // nibble 0: 3, nibble 1: 5
    for (int k = 0; k < 64; ++k) b[128 + k] = 0xE4;
    for (int g = 0; g < 16; ++g) b[192 + g] = static_cast<uint8_t>(static_cast<int8_t>(g - 8));
    put_f16(b, 208, 1.0f);
    const auto y = io::ggml_decode(b.data(), 256, GgmlType::Q6_K);
    for (int i = 0; i < 256; ++i) {
      const int r = i % 128, q = ((r < 64 ? 3 : 5) | ((r % 128) / 32) << 4) - 32;
      INFO(i);
      CHECK(y[i] == static_cast<float>((i / 16 - 8) * q));
    }
  }
  SECTION("a partial block and encoding a type loratune does not write are internal errors") {
    std::vector<uint8_t> b(144);
    CHECK_THROWS_AS(io::ggml_decode(b.data(), 100, GgmlType::Q4_K), Error);
    const std::vector<float> x(32, 1.0f);
    CHECK_THROWS_AS(io::ggml_encode(x.data(), 32, GgmlType::Q4_0), Error);
  }
}
