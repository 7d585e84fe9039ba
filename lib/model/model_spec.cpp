#include "model/model_spec.h"

#include <cctype>

#include "core/enum_table.h"

namespace loratune {
namespace {
constexpr EnumTable<ComputeDType, 4> kDTypes{{{ComputeDType::Auto, "auto"},
                                              {ComputeDType::F32, "fp32"},
                                              {ComputeDType::BF16, "bf16"},
                                              {ComputeDType::F16, "fp16"}}};
}  // namespace

std::optional<DeviceSpec> parse_device_spec(const std::string& name) {
  if (name == "auto") return DeviceSpec{DeviceSpec::Kind::Auto, 0};
  if (name == "cpu") return DeviceSpec{DeviceSpec::Kind::Cpu, 0};
  if (name == "cuda") return DeviceSpec{DeviceSpec::Kind::Cuda, 0};
  if (name.rfind("cuda:", 0) != 0 || name.size() == 5 || name.size() > 9) return std::nullopt;
  int index = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return std::nullopt;
    index = index * 10 + (name[i] - '0');
  }
  return DeviceSpec{DeviceSpec::Kind::Cuda, index};
}

std::string device_spec_name(const DeviceSpec& d) {
  switch (d.kind) {
    case DeviceSpec::Kind::Auto: return "auto";
    case DeviceSpec::Kind::Cpu: return "cpu";
    case DeviceSpec::Kind::Cuda: return "cuda:" + std::to_string(d.index);
  }
  return "?";
}

std::optional<ComputeDType> parse_compute_dtype(const std::string& name) { return enum_parse(kDTypes, name); }
const char* compute_dtype_name(ComputeDType d) { return enum_name(kDTypes, d); }
std::vector<std::string> compute_dtype_names() { return enum_names(kDTypes); }

}  // namespace loratune
