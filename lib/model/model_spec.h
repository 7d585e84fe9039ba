// Which model a command works on and how to hold it. Torch-free.
#pragma once
#include <string>

namespace loratune {

struct ModelSpec {
  std::string path;              // HF-layout model directory
  std::string adapter;           // PEFT adapter directory applied on top (generate / eval); "" = none
  std::string device = "auto";   // auto | cpu | cuda | cuda:N (model/device.h resolves it)
  std::string dtype = "auto";    // auto | fp32 | bf16 | fp16
};

}  // namespace loratune
