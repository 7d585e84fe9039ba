#include "model/tensor_io.h"

#include <torch/torch.h>

#include "core/error.h"

namespace loratune {

c10::ScalarType torch_dtype_of(io::DType dt) {
  switch (dt) {
    case io::DType::BOOL: return c10::kBool;
    case io::DType::U8: return c10::kByte;
    case io::DType::I8: return c10::kChar;
    case io::DType::I16: return c10::kShort;
    case io::DType::I32: return c10::kInt;
    case io::DType::I64: return c10::kLong;
    case io::DType::F16: return c10::kHalf;
    case io::DType::BF16: return c10::kBFloat16;
    case io::DType::F32: return c10::kFloat;
    case io::DType::F64: return c10::kDouble;
    default:
      fail_input(std::string("safetensors dtype ") + io::dtype_name(dt) + " is not supported for compute",
                 "convert the checkpoint to F32, F16 or BF16");
  }
}

io::DType safetensors_dtype_of(c10::ScalarType t) {
  switch (t) {
    case c10::kBool: return io::DType::BOOL;
    case c10::kByte: return io::DType::U8;
    case c10::kChar: return io::DType::I8;
    case c10::kShort: return io::DType::I16;
    case c10::kInt: return io::DType::I32;
    case c10::kLong: return io::DType::I64;
    case c10::kHalf: return io::DType::F16;
    case c10::kBFloat16: return io::DType::BF16;
    case c10::kFloat: return io::DType::F32;
    case c10::kDouble: return io::DType::F64;
    default: fail_runtime(std::string("cannot store torch dtype ") + c10::toString(t) + " in safetensors");
  }
}

torch::Tensor tensor_from_view(const io::TensorView& view, std::shared_ptr<const void> owner) {
  auto dtype = torch_dtype_of(view.dtype);
  if (view.numel() == 0) return torch::empty(view.shape, torch::TensorOptions().dtype(dtype));
  void* data = const_cast<uint8_t*>(view.data);
  return torch::from_blob(
      data, view.shape, [owner](void*) mutable { owner.reset(); }, torch::TensorOptions().dtype(dtype));
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> hold;
  std::vector<io::TensorToWrite> out;
  hold.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    hold.push_back(t.detach().to(torch::kCPU).contiguous());
    const auto& c = hold.back();
    out.push_back({name, safetensors_dtype_of(c.scalar_type()), c.sizes().vec(), c.data_ptr(),
                   static_cast<size_t>(c.numel() * c.element_size())});
  }
  io::write_safetensors(path, out, metadata);
}

std::map<std::string, torch::Tensor> load_safetensors(const std::string& path) {
  auto file = io::SafetensorsFile::open(path);
  std::map<std::string, torch::Tensor> out;
  for (const auto& v : file->tensors()) out[v.name] = tensor_from_view(v, file).clone();
  return out;
}

}  // namespace loratune
