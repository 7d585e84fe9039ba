#include "lora/inference.h"

#include "core/error.h"
#include "core/log.h"
#include "lora/peft.h"
#include "model/generate.h"

namespace loratune {

InferenceModel load_inference_model(const ModelSpec& spec) {
  Tokenizer tok = Tokenizer::from_model_dir(spec.path);
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
