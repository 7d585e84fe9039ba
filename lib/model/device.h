// Device and dtype selection for the compute path.
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <string>

#include "model/model_spec.h"

namespace loratune {

// Auto -> cuda when LibTorch has CUDA and a GPU is visible, else cpu. Cuda without a GPU, or an index past
// the last device, is an input error naming the option.
c10::Device resolve_device(const DeviceSpec& spec);
// Auto -> bf16 on CUDA and on CPUs with AVX-512-BF16 or AMX; fp32 otherwise. F16 on the CPU is an input error.
c10::ScalarType resolve_dtype(ComputeDType dtype, const c10::Device& device);
bool cpu_has_fast_bf16();
std::string dtype_label(c10::ScalarType t);  // "fp32", "bf16", "fp16"
// 0 = all cores. Applies to intra-op parallelism.
void set_compute_threads(int64_t threads);

}  // namespace loratune
