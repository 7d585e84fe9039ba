#include "model/device.h"

#include <torch/torch.h>
#include <dlfcn.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace loratune {

bool cpu_has_fast_bf16() {
  static const bool has = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("flags", 0) != 0) continue;
      std::istringstream ss(line);
      std::string flag;
      while (ss >> flag)
        if (flag == "avx512_bf16" || flag == "amx_bf16") return true;
      return false;
    }
    return false;
  }();
  return has;
}

c10::Device resolve_device(const DeviceSpec& spec) {
  switch (spec.kind) {
    case DeviceSpec::Kind::Auto:
      return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
    case DeviceSpec::Kind::Cpu: return c10::Device(c10::kCPU);
    case DeviceSpec::Kind::Cuda: break;
  }
  const std::string name = device_spec_name(spec);
  if (!torch::cuda::is_available())
    fail_input("{opt:device} " + name + ": no CUDA device is available to this build of loratune",
               "use {opt:device} cpu, or build against a CUDA LibTorch (see README)");
  if (spec.index < 0 || spec.index >= static_cast<int>(torch::cuda::device_count()))
    fail_input("{opt:device} " + name + ": there are " + std::to_string(torch::cuda::device_count()) + " CUDA devices");
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(spec.index));
}

c10::ScalarType resolve_dtype(ComputeDType dtype, const c10::Device& device) {
  switch (dtype) {
    case ComputeDType::F32: return c10::kFloat;
    case ComputeDType::BF16: return c10::kBFloat16;
    case ComputeDType::F16:
      if (device.is_cpu())
        fail_input("{opt:dtype} fp16 is not supported on CPU (many fp16 CPU kernels are missing or slow)",
                   "use {opt:dtype} bf16 or fp32 on CPU");
      return c10::kHalf;
    case ComputeDType::Auto: break;
  }
  if (device.is_cuda()) return c10::kBFloat16;
  return cpu_has_fast_bf16() ? c10::kBFloat16 : c10::kFloat;
}

std::string dtype_label(c10::ScalarType t) {
  switch (t) {
    case c10::kFloat: return "fp32";
    case c10::kBFloat16: return "bf16";
    case c10::kHalf: return "fp16";
    default: return c10::toString(t);
  }
}

void set_compute_threads(int64_t threads) {
  int64_t n = threads > 0 ? threads : static_cast<int64_t>(sysconf(_SC_NPROCESSORS_ONLN));
  if (n < 1) n = 1;
  at::set_num_threads(static_cast<int>(n));
  // LibTorch already parallelises around BLAS calls; a multi-threaded OpenBLAS underneath oversubscribes
  // the cores (measured: fp32 forward +50% with one BLAS thread, scripts/bench-forward.sh). Looked up at
  // run time because the BLAS behind libblas.so.3 is chosen by Debian's alternatives.
  using SetThreads = void (*)(int);
  if (auto set_blas = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set_blas(1);
}

}  // namespace loratune
