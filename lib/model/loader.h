// Loading a Hugging Face checkpoint directory into the Llama-family model, by HF tensor names.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "io/safetensors.h"
#include "model/llama.h"
#include "model/model_spec.h"

namespace loratune {

struct LoadOptions {
  DeviceSpec device;
  ComputeDType dtype = ComputeDType::Auto;
  static LoadOptions cpu(ComputeDType dtype = ComputeDType::F32) { return {{DeviceSpec::Kind::Cpu, 0}, dtype}; }
};

struct LoadedModel {
  ModelHParams hp;
  CausalLM model{nullptr};
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat32;
  std::string dir;
  double load_seconds = 0;
};

// Reads config.json + model.safetensors (or the sharded index) from `dir`; or, when `dir` is a GGUF file,
// its metadata and tensors (model/gguf_base.h: dequantized to fp32, then converted to the compute dtype). Missing, unexpected or
// mis-shaped tensors are an input error listing every offender with its shape. Weights whose stored
// dtype equals the compute dtype on CPU are zero-copy views of the (copy-on-write) mapping.
// All parameters are frozen (requires_grad=false); training code unfreezes what it trains.
LoadedModel load_model(const std::string& dir, const LoadOptions& opts);

// Copies checkpoint tensors into `model`'s parameters (validated as above), converting to dtype/device.
void load_weights(CausalLM& model, const io::Checkpoint& ckpt, torch::ScalarType dtype, torch::Device device);

// The model's tensors under their HF names, as a checkpoint would store them (tied lm_head omitted).
std::vector<std::pair<std::string, torch::Tensor>> model_state(const CausalLM& model);

}  // namespace loratune
