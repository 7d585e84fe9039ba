// Which model a command works on and how to hold it: the model directory, an adapter on top, and the
// device and compute dtype asked for (model/device.h resolves "auto" against the machine). Torch-free.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace loratune {

// Where to compute: Auto = CUDA device 0 when LibTorch has CUDA and a GPU is visible, else the CPU.
struct DeviceSpec {
  enum class Kind { Auto, Cpu, Cuda };
  Kind kind = Kind::Auto;
  int index = 0;  // CUDA device index (Kind::Cuda only)
};
// "auto" | "cpu" | "cuda" | "cuda:N" (N a non-negative integer); nullopt for anything else.
std::optional<DeviceSpec> parse_device_spec(const std::string& name);
std::string device_spec_name(const DeviceSpec& d);  // "auto", "cpu", "cuda:N"
inline const char* kDeviceChoices = "auto, cpu, cuda or cuda:N";

// The compute dtype of the frozen weights. Auto = bf16 on CUDA and on CPUs fast at it, else fp32.
enum class ComputeDType { Auto, F32, BF16, F16 };
std::optional<ComputeDType> parse_compute_dtype(const std::string& name);  // "auto" | "fp32" | "bf16" | "fp16"
const char* compute_dtype_name(ComputeDType d);
std::vector<std::string> compute_dtype_names();

struct ModelSpec {
  std::string path;     // HF-layout model directory
  std::string adapter;  // PEFT adapter directory applied on top (generate / eval); "" = none
  DeviceSpec device;
  ComputeDType dtype = ComputeDType::Auto;
};

}  // namespace loratune
