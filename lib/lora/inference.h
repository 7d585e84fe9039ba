// Loading a model for inference: the base checkpoint plus an optional PEFT adapter, with its tokenizer.
#pragma once
#include <string>

#include "model/loader.h"
#include "model/model_spec.h"
#include "tokenizer/tokenizer.h"

namespace loratune {

struct InferenceModel {
  LoadedModel lm;
  Tokenizer tok;
};

// spec.path (+ spec.adapter when set) on spec.device / dtype. The tokenizer must fit the model's
// vocabulary; an adapter for another base model is an input error naming the tensor.
InferenceModel load_inference_model(const ModelSpec& spec);

}  // namespace loratune
