// Device and dtype selection for the compute path.
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <string>

namespace loratune {

// "auto" -> cuda when LibTorch has CUDA and a GPU is visible, else cpu. "cuda[:N]" without a GPU is an
// input error naming the flag.
c10::Device resolve_device(const std::string& spec);
// "auto" -> bf16 on CUDA (when supported) and on CPUs with AVX-512-BF16 or AMX; fp32 otherwise.
c10::ScalarType resolve_dtype(const std::string& spec, const c10::Device& device);
bool cpu_has_fast_bf16();
std::string dtype_label(c10::ScalarType t);  // "fp32", "bf16", "fp16"
// 0 = all cores. Applies to intra-op parallelism.
void set_compute_threads(int64_t threads);

}  // namespace loratune
