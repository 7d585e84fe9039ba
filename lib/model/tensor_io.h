// Bridges between safetensors views (io layer, torch-free) and torch tensors.
#pragma once
#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/safetensors.h"

namespace loratune {

c10::ScalarType torch_dtype_of(io::DType dt);  // throws for dtypes torch cannot hold (F8, U16, U32, U64)
io::DType safetensors_dtype_of(c10::ScalarType t);
// Zero-copy CPU tensor viewing the mapped bytes; the tensor keeps `owner` (the mapped file) alive.
// The mapping is copy-on-write, so in-place writes never reach the file. `where` names file/tensor in errors.
torch::Tensor tensor_from_view(const io::TensorView& view, std::shared_ptr<const void> owner);
// Writes named tensors (any device/dtype; made contiguous on CPU) atomically to a .safetensors file.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
// Reads every tensor of a .safetensors file (copies, so the result outlives the mapping).
std::map<std::string, torch::Tensor> load_safetensors(const std::string& path);

}  // namespace loratune
