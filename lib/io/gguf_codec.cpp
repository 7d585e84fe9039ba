#include "io/gguf_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"

namespace loratune::io {

namespace {
struct TypeInfo {
  GgmlType type;
  const char* name;
  int64_t block;
  size_t bytes;
};
// ggml's type traits (ggml.c type_traits: blck_size, type_size).
constexpr TypeInfo kTypes[] = {
    {GgmlType::F32, "F32", 1, 4},       {GgmlType::F16, "F16", 1, 2},       {GgmlType::Q4_0, "Q4_0", 32, 18},
    {GgmlType::Q4_1, "Q4_1", 32, 20},   {GgmlType::Q5_0, "Q5_0", 32, 22},   {GgmlType::Q5_1, "Q5_1", 32, 24},
    {GgmlType::Q8_0, "Q8_0", 32, 34},   {GgmlType::Q2_K, "Q2_K", 256, 84},  {GgmlType::Q3_K, "Q3_K", 256, 110},
    {GgmlType::Q4_K, "Q4_K", 256, 144}, {GgmlType::Q5_K, "Q5_K", 256, 176}, {GgmlType::Q6_K, "Q6_K", 256, 210},
    {GgmlType::BF16, "BF16", 1, 2},
};
const TypeInfo* info(GgmlType t) {
  for (const TypeInfo& i : kTypes)
    if (i.type == t) return &i;
  return nullptr;
}
}  // namespace

bool ggml_type_known(uint32_t t) { return info(static_cast<GgmlType>(t)) != nullptr; }

const std::vector<GgmlType>& ggml_types() {
  static const std::vector<GgmlType> all = [] {
    std::vector<GgmlType> v;
    for (const TypeInfo& i : kTypes) v.push_back(i.type);
    return v;
  }();
  return all;
}

const char* ggml_type_name(GgmlType t) {
  const TypeInfo* i = info(t);
  return i ? i->name : "unknown";
}

int64_t ggml_block_size(GgmlType t) {
  const TypeInfo* i = info(t);
  LT_CHECK(i, "ggml_block_size: unknown ggml type " + std::to_string(static_cast<uint32_t>(t)));
  return i->block;
}

size_t ggml_block_bytes(GgmlType t) {
  const TypeInfo* i = info(t);
  LT_CHECK(i, "ggml_block_bytes: unknown ggml type " + std::to_string(static_cast<uint32_t>(t)));
  return i->bytes;
}

uint64_t ggml_nbytes(GgmlType t, int64_t numel) {
  LT_CHECK(numel >= 0 && numel % ggml_block_size(t) == 0,
           std::string("ggml_nbytes: ") + std::to_string(numel) + " elements do not fill whole " +
               ggml_type_name(t) + " blocks");
  return static_cast<uint64_t>(numel / ggml_block_size(t)) * ggml_block_bytes(t);
}

// ---------------------------------------------------------------------------------------------------------
// Scalar conversions

uint16_t fp32_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t exp = (x >> 23) & 0xFF;
  uint32_t mant = x & 0x7FFFFF;
  if (exp == 0xFF) return static_cast<uint16_t>(sign | 0x7C00 | (mant ? 0x200 | (mant >> 13) : 0));  // inf / NaN
  const int32_t e = static_cast<int32_t>(exp) - 127 + 15;  // the half exponent
  if (e >= 0x1F) return static_cast<uint16_t>(sign | 0x7C00);  // overflow -> inf
  if (e <= 0) {
    // Subnormal half (or zero): shift the full significand (with its implicit 1) into place, rounding to
    // nearest even on the bits shifted out.
    if (e < -10) return sign;  // below half of the smallest subnormal: rounds to zero
    mant |= 0x800000;
    const uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // a carry into the exponent is correct (up to inf)
  return static_cast<uint16_t>(sign | h);
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  const uint32_t mant = h & 0x3FF;
  uint32_t x;
  if (exp == 0x1F) {
    x = sign | 0x7F800000 | (mant << 13) | (mant ? 0x00400000u : 0u);  // a NaN comes out quiet, as F16C's
  } else if (exp != 0) {
    x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  } else if (mant == 0) {
    x = sign;
  } else {
    // Subnormal: value = mant * 2^-24, exact in fp32.
    float f = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -f : f;
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

uint16_t fp32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet NaN
  x += 0x7FFF + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}

float bf16_to_fp32(uint16_t b) {
  const uint32_t x = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

// ---------------------------------------------------------------------------------------------------------
// Element encodings

std::vector<uint8_t> ggml_encode(const float* x, int64_t n, GgmlType t) {
  std::vector<uint8_t> out(ggml_nbytes(t, n));
  uint8_t* p = out.data();
  switch (t) {
    case GgmlType::F32:
      std::memcpy(p, x, static_cast<size_t>(n) * 4);
      break;
    case GgmlType::F16:
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = t == GgmlType::F16 ? fp32_to_fp16(x[i]) : fp32_to_bf16(x[i]);
        p[2 * i] = static_cast<uint8_t>(h & 0xFF);
        p[2 * i + 1] = static_cast<uint8_t>(h >> 8);
      }
      break;
    case GgmlType::Q8_0:
      for (int64_t b = 0; b < n / 32; ++b) {
        const float* xb = x + 32 * b;
        uint8_t* pb = p + 34 * b;
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xb[i]));
        const float d = amax / 127.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        const uint16_t dh = fp32_to_fp16(d);
        pb[0] = static_cast<uint8_t>(dh & 0xFF);
        pb[1] = static_cast<uint8_t>(dh >> 8);
        for (int i = 0; i < 32; ++i) pb[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(std::round(xb[i] * id)));
      }
      break;
    default:
      LT_CHECK(false, std::string("ggml_encode: loratune does not write ") + ggml_type_name(t));
  }
  return out;
}

std::vector<float> ggml_decode(const uint8_t* p, int64_t n, GgmlType t) {
  LT_CHECK(n >= 0 && n % ggml_block_size(t) == 0, "ggml_decode: partial block");
  std::vector<float> out(static_cast<size_t>(n));
  switch (t) {
    case GgmlType::F32:
      std::memcpy(out.data(), p, static_cast<size_t>(n) * 4);
      break;
    case GgmlType::F16:
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = static_cast<uint16_t>(p[2 * i] | (p[2 * i + 1] << 8));
        out[static_cast<size_t>(i)] = t == GgmlType::F16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
      }
      break;
    case GgmlType::Q8_0:
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* pb = p + 34 * b;
        const float d = fp16_to_fp32(static_cast<uint16_t>(pb[0] | (pb[1] << 8)));
        for (int i = 0; i < 32; ++i)
          out[static_cast<size_t>(32 * b + i)] = d * static_cast<float>(static_cast<int8_t>(pb[2 + i]));
      }
      break;
    default:
      dequantize_blocks(t, p, n, out.data());
  }
  return out;
}

}  // namespace loratune::io
