#include "lora/inference.h"
#include "model/gguf_tokenizer.h"

#include "core/error.h"
#include "core/log.h"
#include "lora/peft.h"
#include "model/generate.h"

namespace loratune {

InferenceModel load_inference_model(const ModelSpec& spec) {
  Tokenizer tok = load_tokenizer(spec.path);  // a model directory or a GGUF file
  LoadedModel lm = load_model(spec.path, {spec.device, spec.dtype});
  check_tokenizer_matches(tok, lm.hp, spec.path);
  if (!spec.adapter.empty()) {
    auto inj = load_peft_adapter(lm.model, spec.adapter);
    lm.model->eval();
    log::debug("adapter " + spec.adapter + " on " + std::to_string(inj.modules.size()) + " modules");
  }
  return {std::move(lm), std::move(tok)};
}

}  // namespace loratune
