// ggml tensor element types and their encodings: block sizes, byte counts, encoding (F32, F16, BF16, Q8_0:
// what loratune writes) and decoding (those and the block-quantized Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K,
// Q4_K, Q5_K, Q6_K that GGUF models come in), and the f16/bf16 scalar conversions. Torch-free.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace loratune::io {

// ggml tensor types loratune reads (the numbers are ggml's); it writes F32, F16, BF16 and Q8_0.
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, BF16 = 30
};
// Whether `t` (a number read from a file) is one of the types above.
bool ggml_type_known(uint32_t t);
const std::vector<GgmlType>& ggml_types();  // every type above, in ggml's numbering order
const char* ggml_type_name(GgmlType t);     // "F32", "F16", "Q4_0", ..., "Q6_K", "BF16"
int64_t ggml_block_size(GgmlType t);        // elements per block: 1 (F32/F16/BF16), 32, or 256 (K-quants)
size_t ggml_block_bytes(GgmlType t);        // bytes per block (ggml's type_size: Q8_0 34, Q4_K 144, ...)
// Bytes of `numel` elements; numel must be a multiple of the block size (LT_CHECK).
uint64_t ggml_nbytes(GgmlType t, int64_t numel);

// Element encodings. `n` must be a multiple of the type's block size (else an internal error: callers
// pick a type that fits the row length first).
// Q8_0 follows ggml's reference quantize_row_q8_0_ref: per block of 32, d = max|x| / 127 stored as f16,
// q_i = round-half-away-from-zero(x_i * (1/d)) as int8 (0 when d == 0); decoding gives f16(d) * q_i.
// Only F32, F16, BF16 and Q8_0 can be encoded (another type is an internal error).
std::vector<uint8_t> ggml_encode(const float* x, int64_t n, GgmlType t);
// Decodes any type above. The block-quantized types are computed exactly as ggml's dequantize_row_* and
// gguf-py's dequantize (the same float32 operations in the same order: bit-equal results).
std::vector<float> ggml_decode(const uint8_t* bytes, int64_t n, GgmlType t);
// The block-quantized decoders (gguf_quants.cpp): Q4_0, Q4_1, Q5_0, Q5_1, Q2_K ... Q6_K; `n` whole blocks.
void dequantize_blocks(GgmlType t, const uint8_t* bytes, int64_t n, float* out);
uint16_t fp32_to_fp16(float f);  // IEEE half, round to nearest even; overflow -> inf, NaN stays NaN
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);  // round to nearest even; NaN stays a quiet NaN
float bf16_to_fp32(uint16_t b);

}  // namespace loratune::io
