#include "lora/options.h"

#include "core/error.h"
#include "core/strings.h"

namespace loratune {

LoraInit parse_lora_init(const std::string& name) {
  if (name == "kaiming") return LoraInit::Kaiming;
  if (name == "gaussian") return LoraInit::Gaussian;
  fail_input("LoRA init must be 'kaiming' or 'gaussian', got '" + name + "'" + did_you_mean(name, {"kaiming", "gaussian"}),
             "kaiming is PEFT's default (A kaiming-uniform, B zeros)");
}

const char* lora_init_name(LoraInit init) { return init == LoraInit::Gaussian ? "gaussian" : "kaiming"; }

}  // namespace loratune
