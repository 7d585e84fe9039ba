// Loading a model for inference: the base checkpoint plus an optional PEFT adapter, with its tokenizer.
#pragma once
#include <string>

#include "config/config.h"
#include "model/loader.h"
#include "tokenizer/tokenizer.h"

namespace loratune {

struct InferenceModel {
  LoadedModel lm;
  Tokenizer tok;
};

// cfg.model.path (+ cfg.model.adapter when set) on cfg.model.device / dtype. The tokenizer must fit the
// model's vocabulary; an adapter for another base model is an input error naming the tensor.
InferenceModel load_inference_model(const Config& cfg);

}  // namespace loratune
