#include "lora/inference.h"

#include "core/error.h"
#include "core/log.h"
#include "lora/peft.h"
#include "model/generate.h"

namespace loratune {

InferenceModel load_inference_model(const Config& cfg) {
  if (cfg.model.path.empty()) fail_input("no model given", "pass --model DIR (or set model.path in --config)");
  Tokenizer tok = Tokenizer::from_model_dir(cfg.model.path);
  LoadedModel lm = load_model(cfg.model.path, {cfg.model.device, cfg.model.dtype});
  check_tokenizer_matches(tok, lm.hp, cfg.model.path);
  if (!cfg.model.adapter.empty()) {
    auto inj = load_peft_adapter(lm.model, cfg.model.adapter);
    lm.model->eval();
    log::debug("adapter " + cfg.model.adapter + " on " + std::to_string(inj.modules.size()) + " modules");
  }
  return {std::move(lm), std::move(tok)};
}

}  // namespace loratune
