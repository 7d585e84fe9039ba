// tokenizer.json "post_processor" for single sequences: TemplateProcessing (its "single" template:
// special-token pieces before / after $A), ByteLevel (offsets only: no change to ids), Sequence of those.
// RobertaProcessing, BertProcessing and others are refused by name. With add_special_tokens=false
// tokenizers adds nothing, so only the template's ids matter here.
#pragma once
#include <vector>

#include "tokenizer/hf_json.h"

namespace loratune::hf {

struct PostProcessor {
  std::vector<int> prefix, suffix;              // ids the single template puts around the sequence
  static PostProcessor parse(const JsonAt& j);  // null: none

 private:
  void add(const JsonAt& j);
};

}  // namespace loratune::hf
