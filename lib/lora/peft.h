// Hugging Face PEFT LoRA adapter directories (huggingface/peft: tuners/lora/config.py, utils/save_and_load.py):
// adapter_config.json + adapter_model.safetensors with tensors
// "base_model.model.<module path>.lora_A.weight" [r, in] and "....lora_B.weight" [out, r].
// What loratune writes loads in PEFT (PeftModel.from_pretrained); adapters PEFT writes for a supported base
// model load here, as long as they are plain LoRA (no DoRA, no bias, no modules_to_save, ...).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "lora/lora.h"
#include "model/arch.h"  // kPeftTensorPrefix, peft_tensor_name: PEFT names derive from the HF module path

namespace loratune {

constexpr const char* kPeftConfigFile = "adapter_config.json";
constexpr const char* kPeftWeightsFile = "adapter_model.safetensors";

// Writes the model's LoRA adapters to `dir` (created if missing; existing adapter files are replaced):
// adapter_model.safetensors (fp32, PEFT names) first, then adapter_config.json (peft_type "LORA", task_type
// "CAUSAL_LM", base_model_name_or_path, r, lora_alpha, lora_dropout, target_modules (the name list, the
// regex string, or for all-linear the expanded name list as PEFT saves it), bias "none", fan_in_fan_out
// false, use_rslora, use_dora false, modules_to_save null, init_lora_weights (true, or "gaussian"),
// layers_to_transform (null or the list), layers_pattern null, rank_pattern, alpha_pattern, inference_mode
// true). Each file is written atomically. `opts` must be the options the adapters were injected with
// (checked: the modules and their ranks/alphas must agree).
void save_peft_adapter(const std::string& dir, const CausalLM& model, const LoraOptions& opts,
                       const std::string& base_model);
// The same with the plan the adapters were injected with (LoraInjection::plan), so that the options are not
// planned again; it is still checked against the model's adapters.
void save_peft_adapter(const std::string& dir, const CausalLM& model, const LoraOptions& opts,
                       const std::string& base_model, const std::vector<LoraTarget>& plan);

// A PEFT LoRA adapter directory, parsed once: adapter_config.json as LoraOptions (with the checks of
// read_peft_config) and adapter_model.safetensors mapped, each tensor's name parsed into its module path and
// factor. Independent of any model; apply_adapter fits it to one.
struct Adapter {
  std::string dir;
  std::string config_path;   // <dir>/adapter_config.json
  std::string weights_path;  // <dir>/adapter_model.safetensors
  LoraOptions options;
  std::string base_model;    // base_model_name_or_path ("" when absent)
  std::shared_ptr<const io::SafetensorsFile> weights;
  // One entry per tensor of the file, in file order. `name` is empty when the tensor is not a LoRA factor
  // (it is then reported as unexpected by apply_adapter).
  struct Tensor {
    std::optional<LoraTensorName> name;  // module path + A/B
    const io::TensorView* view = nullptr;
  };
  std::vector<Tensor> tensors;
  // The factor stored for module_path + matrix, or null.
  const io::TensorView* find(const std::string& module_path, LoraMatrix m) const;
};

// Parses <dir>/adapter_config.json (as read_peft_config) and maps <dir>/adapter_model.safetensors (a missing
// file, or only adapter_model.bin, is an input error saying what to do).
Adapter read_peft_adapter(const std::string& dir);

// Plans the adapter's options on `model` once, checks the tensors against the plan (the errors of
// load_peft_adapter), injects and copies the factors (converted to fp32). The model is left unchanged when
// anything is wrong. The returned injection carries the plan.
LoraInjection apply_adapter(CausalLM& model, const Adapter& adapter);

// Reads <adapter_dir>/adapter_config.json into LoraOptions. Keys PEFT may omit take PEFT's defaults (r 8,
// lora_alpha 8, lora_dropout 0). Refused with a message saying why and what to do: peft_type other than
// LORA, task_type other than CAUSAL_LM, use_dora true, non-empty modules_to_save, bias other than "none",
// fan_in_fan_out true, lora_bias true, layer_replication, exclude_modules, target_parameters, a
// layers_pattern other than "layers", init_lora_weights that changes the base weights (pissa, olora, loftq,
// corda), and a missing target_modules. A target_modules string becomes {"all-linear"} or {"regex:<it>"}.
LoraOptions read_peft_config(const std::string& adapter_dir);

// Injects adapters per the directory's config into `model` (which must have none on those modules) and
// loads adapter_model.safetensors into them. Tensor names may carry PEFT's "base_model.model." prefix (or
// not) and the adapter name (".lora_A.default.weight") or not; any float dtype is converted to fp32. The
// file must hold exactly the injected modules' factors with shapes [r, in] / [out, r]: missing, unexpected
// and mis-shaped tensors are one input error listing them ("adapter for another base model?"). The model is
// left unchanged when anything is wrong.
// apply_adapter(model, read_peft_adapter(adapter_dir)).
LoraInjection load_peft_adapter(CausalLM& model, const std::string& adapter_dir);

}  // namespace loratune
