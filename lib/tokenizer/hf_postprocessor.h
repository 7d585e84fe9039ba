// tokenizer.json "post_processor" for single sequences: TemplateProcessing (its "single" template:
// special-token pieces before / after $A), ByteLevel (offsets only: no change to ids), Sequence of those.
// RobertaProcessing, BertProcessing and others are refused by name. With add_special_tokens=false
// tokenizers adds nothing, so only the template's ids matter here.
#pragma once
#include <string>
#include <vector>

#include "tokenizer/hf_json.h"

namespace loratune::hf {

// "truncation" for a single sequence (tokenizers' truncate_encodings + Encoding::truncate): keep max_length
// ids, less the template's special tokens when they are added, from the right (keep the first) or the
// left (keep the last). Applied to the model ids before the post-processor.
struct Truncation {
  bool on = false;
  size_t max_length = 0, stride = 0;
  bool left = false, only_second = false;
  std::string file;
  static Truncation parse(const JsonAt& j);  // null: off
  void apply(std::vector<int>& ids, size_t n_added) const;
};

// "padding" for a single sequence (tokenizers' pad_encodings): BatchLongest pads to the sequence's own
// length (a no-op) or Fixed to its size, then up to pad_to_multiple_of; pad_id on the right or left.
struct Padding {
  bool on = false, fixed = false, left = false;
  size_t size = 0, multiple = 0;
  int pad_id = 0;
  static Padding parse(const JsonAt& j);  // null: off
  void apply(std::vector<int>& ids) const;
};

struct PostProcessor {
  std::vector<int> prefix, suffix;              // ids the single template puts around the sequence
  static PostProcessor parse(const JsonAt& j);  // null: none

 private:
  void add(const JsonAt& j);
};

}  // namespace loratune::hf
