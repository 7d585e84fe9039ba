// Dequantization of ggml's block-quantized types (Q4_0, Q4_1, Q5_0, Q5_1 with blocks of 32; the K-quants
// Q2_K ... Q6_K with super-blocks of 256), following the block layouts of ggml (ggml-common.h) and computing
// each value with the same float32 operations, in the same order, as ggml's dequantize_row_* and gguf-py's
// quants.py (so the results are bit-equal: tests/reference/test_gguf_quants.py). The arithmetic must not be
// contracted into fused multiply-adds (this file is built with -ffp-contract=off).
#include <cstring>
#include <string>

#include "core/error.h"
#include "io/gguf_codec.h"

namespace loratune::io {
namespace {

float f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_fp32(h);
}

uint32_t u32le(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

// ---- blocks of 32 ----

// Q4_0: f16 d, 16 bytes of nibbles (element l: low nibble of byte l; element 16 + l: its high nibble).
// x = d * (q - 8).
void q4_0(const uint8_t* b, float* y) {
  const float d = f16(b);
  const uint8_t* qs = b + 2;
  for (int l = 0; l < 16; ++l) {
    y[l] = d * static_cast<float>(static_cast<int>(qs[l] & 0x0F) - 8);
    y[l + 16] = d * static_cast<float>(static_cast<int>(qs[l] >> 4) - 8);
  }
}

// Q4_1: f16 d, f16 m, nibbles as Q4_0. x = d * q + m.
void q4_1(const uint8_t* b, float* y) {
  const float d = f16(b), m = f16(b + 2);
  const uint8_t* qs = b + 4;
  for (int l = 0; l < 16; ++l) {
    y[l] = d * static_cast<float>(qs[l] & 0x0F) + m;
    y[l + 16] = d * static_cast<float>(qs[l] >> 4) + m;
  }
}

// Q5_0: f16 d, u32 qh (bit j: the fifth bit of element j), nibbles as Q4_0. x = d * (q - 16).
void q5_0(const uint8_t* b, float* y) {
  const float d = f16(b);
  const uint32_t qh = u32le(b + 2);
  const uint8_t* qs = b + 6;
  for (int l = 0; l < 16; ++l) {
    const int lo = (qs[l] & 0x0F) | static_cast<int>(((qh >> l) & 1u) << 4);
    const int hi = (qs[l] >> 4) | static_cast<int>(((qh >> (l + 16)) & 1u) << 4);
    y[l] = d * static_cast<float>(lo - 16);
    y[l + 16] = d * static_cast<float>(hi - 16);
  }
}

// Q5_1: f16 d, f16 m, u32 qh, nibbles. x = d * q + m.
void q5_1(const uint8_t* b, float* y) {
  const float d = f16(b), m = f16(b + 2);
  const uint32_t qh = u32le(b + 4);
  const uint8_t* qs = b + 8;
  for (int l = 0; l < 16; ++l) {
    const int lo = (qs[l] & 0x0F) | static_cast<int>(((qh >> l) & 1u) << 4);
    const int hi = (qs[l] >> 4) | static_cast<int>(((qh >> (l + 16)) & 1u) << 4);
    y[l] = d * static_cast<float>(lo) + m;
    y[l + 16] = d * static_cast<float>(hi) + m;
  }
}

// ---- super-blocks of 256 ----

// Q2_K: scales[16] (low nibble: scale, high nibble: min, per 16 elements), qs[64] (2-bit values: element
// 128h + 32s + l is bits 2s..2s+1 of byte 32h + l), f16 d, f16 dmin. x = (d * sc) * q - (dmin * mn).
void q2_k(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const uint8_t* qs = b + 16;
  const float d = f16(b + 80), dmin = f16(b + 82);
  for (int h = 0; h < 2; ++h)
    for (int s = 0; s < 4; ++s)
      for (int l = 0; l < 32; ++l) {
        const int i = 128 * h + 32 * s + l;
        const uint8_t sc = scales[i / 16];
        const float dl = d * static_cast<float>(sc & 0x0F), ml = dmin * static_cast<float>(sc >> 4);
        y[i] = dl * static_cast<float>((qs[32 * h + l] >> (2 * s)) & 3) - ml;
      }
}

// Q3_K: hmask[32] (element 32j + l: bit j of byte l, the value's third bit, set = no offset), qs[64] (low two
// bits as Q2_K), scales[12] (sixteen 6-bit scales: low nibbles in bytes 0..7, low then high nibble; high two
// bits in bytes 8..11, two bits each), f16 d. x = (d * (scale - 32)) * (q_low - 4 * !bit).
void q3_k(const uint8_t* b, float* y) {
  const uint8_t* hmask = b;
  const uint8_t* qs = b + 32;
  const uint8_t* sc = b + 96;
  const float d = f16(b + 108);
  float dl[16];
  for (int k = 0; k < 16; ++k) {
    const int low = (sc[k % 8] >> (4 * (k / 8))) & 0x0F;
    const int high = (sc[8 + k % 4] >> (2 * (k / 4))) & 0x03;
    dl[k] = d * static_cast<float>(static_cast<int8_t>(low | (high << 4)) - 32);
  }
  for (int i = 0; i < 256; ++i) {
    const int h = i / 128, s = (i % 128) / 32, l = i % 32;
    const int ql = (qs[32 * h + l] >> (2 * s)) & 3;
    const int bit = (hmask[l] >> (i / 32)) & 1;
    y[i] = dl[i / 16] * static_cast<float>(ql - ((bit ^ 1) << 2));
  }
}

// The eight 6-bit scales and mins of Q4_K / Q5_K, packed in 12 bytes.
void k_scale_min(const uint8_t* s, uint8_t* sc, uint8_t* mn) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 0x3F;
    mn[j] = s[4 + j] & 0x3F;
    sc[4 + j] = static_cast<uint8_t>((s[8 + j] & 0x0F) | ((s[j] >> 2) & 0x30));
    mn[4 + j] = static_cast<uint8_t>((s[8 + j] >> 4) | ((s[4 + j] >> 2) & 0x30));
  }
}

// Q4_K: f16 d, f16 dmin, scales[12], qs[128] (element 64c + 32s + l: nibble s of byte 32c + l; sub-block of
// 32 = 2c + s). x = (d * sc) * q - (dmin * mn).
void q4_k(const uint8_t* b, float* y) {
  const float d = f16(b), dmin = f16(b + 2);
  uint8_t sc[8], mn[8];
  k_scale_min(b + 4, sc, mn);
  const uint8_t* qs = b + 16;
  for (int j = 0; j < 8; ++j) {
    const float dj = d * static_cast<float>(sc[j]), mj = dmin * static_cast<float>(mn[j]);
    const int c = j / 2, s = j % 2;
    for (int l = 0; l < 32; ++l) y[32 * j + l] = dj * static_cast<float>((qs[32 * c + l] >> (4 * s)) & 0x0F) - mj;
  }
}

// Q5_K: as Q4_K plus qh[32] (element 32j + l: bit j of byte l, the fifth bit), before qs.
void q5_k(const uint8_t* b, float* y) {
  const float d = f16(b), dmin = f16(b + 2);
  uint8_t sc[8], mn[8];
  k_scale_min(b + 4, sc, mn);
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int j = 0; j < 8; ++j) {
    const float dj = d * static_cast<float>(sc[j]), mj = dmin * static_cast<float>(mn[j]);
    const int c = j / 2, s = j % 2;
    for (int l = 0; l < 32; ++l) {
      const int q = ((qs[32 * c + l] >> (4 * s)) & 0x0F) | (((qh[l] >> j) & 1) << 4);
      y[32 * j + l] = dj * static_cast<float>(q) - mj;
    }
  }
}

// Q6_K: ql[128] (element 128h + 64s + l: nibble s of byte 64h + l), qh[64] (element 128h + 32s + l: bits
// 2s..2s+1 of byte 32h + l, the high two bits), int8 scales[16] (per 16 elements), f16 d.
// x = (d * scale) * (q - 32).
void q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* scales = reinterpret_cast<const int8_t*>(b + 192);
  const float d = f16(b + 208);
  for (int i = 0; i < 256; ++i) {
    const int h = i / 128, r = i % 128;
    const int low = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 0x0F;
    const int high = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 0x03;
    const float dg = d * static_cast<float>(scales[i / 16]);
    y[i] = dg * static_cast<float>((low | (high << 4)) - 32);
  }
}

}  // namespace

void dequantize_blocks(GgmlType t, const uint8_t* bytes, int64_t n, float* out) {
  const int64_t bs = ggml_block_size(t);
  LT_CHECK(n >= 0 && n % bs == 0, std::string("dequantize_blocks: ") + std::to_string(n) +
                                      " elements do not fill whole " + ggml_type_name(t) + " blocks");
  void (*fn)(const uint8_t*, float*) = nullptr;
  switch (t) {
    case GgmlType::Q4_0: fn = q4_0; break;
    case GgmlType::Q4_1: fn = q4_1; break;
    case GgmlType::Q5_0: fn = q5_0; break;
    case GgmlType::Q5_1: fn = q5_1; break;
    case GgmlType::Q2_K: fn = q2_k; break;
    case GgmlType::Q3_K: fn = q3_k; break;
    case GgmlType::Q4_K: fn = q4_k; break;
    case GgmlType::Q5_K: fn = q5_k; break;
    case GgmlType::Q6_K: fn = q6_k; break;
    default: LT_CHECK(false, std::string("dequantize_blocks: ") + ggml_type_name(t) + " is not a block-quantized type here");
  }
  const size_t bb = ggml_block_bytes(t);
  for (int64_t k = 0; k < n / bs; ++k) fn(bytes + static_cast<size_t>(k) * bb, out + k * bs);
}

}  // namespace loratune::io
