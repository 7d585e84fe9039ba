// ggml tensor element types and their encodings (F32, F16, BF16, Q8_0): block sizes, byte counts,
// quantization and dequantization, and the f16/bf16 scalar conversions. Torch-free.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace loratune::io {

// ggml tensor types loratune writes and reads (the numbers are ggml's).
enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q8_0 = 8, BF16 = 30 };
const char* ggml_type_name(GgmlType t);  // "F32", "F16", "Q8_0", "BF16"
int64_t ggml_block_size(GgmlType t);     // elements per block: 1, or 32 for Q8_0
size_t ggml_block_bytes(GgmlType t);     // bytes per block: 4, 2, 34 (f16 scale + 32 int8), 2
// Bytes of `numel` elements; numel must be a multiple of the block size (LT_CHECK).
uint64_t ggml_nbytes(GgmlType t, int64_t numel);

// Element encodings. `n` must be a multiple of the type's block size (else an internal error: callers
// pick a type that fits the row length first).
// Q8_0 follows ggml's reference quantize_row_q8_0_ref: per block of 32, d = max|x| / 127 stored as f16,
// q_i = round-half-away-from-zero(x_i * (1/d)) as int8 (0 when d == 0); decoding gives f16(d) * q_i.
std::vector<uint8_t> ggml_encode(const float* x, int64_t n, GgmlType t);
std::vector<float> ggml_decode(const uint8_t* bytes, int64_t n, GgmlType t);
uint16_t fp32_to_fp16(float f);  // IEEE half, round to nearest even; overflow -> inf, NaN stays NaN
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);  // round to nearest even; NaN stays a quiet NaN
float bf16_to_fp32(uint16_t b);

}  // namespace loratune::io
