#include "tokenizer/hf_postprocessor.h"

#include <algorithm>

#include "core/error.h"

namespace loratune::hf {

Truncation Truncation::parse(const JsonAt& j) {
  Truncation t;
  if (j.is_null()) return t;
  t.on = true;
  t.file = j.file();
  const int64_t max = j["max_length"].integer(), stride = j.get_int("stride", 0);
  if (max < 0 || stride < 0) j.fail("max_length and stride must be non-negative");
  t.max_length = static_cast<size_t>(max);
  t.stride = static_cast<size_t>(stride);
  const std::string dir = j.get_str("direction", "Right");
  if (dir != "Right" && dir != "Left") j["direction"].unsupported("truncation direction '" + dir + "'");
  t.left = dir == "Left";
  const std::string strategy = j.get_str("strategy", "LongestFirst");
  if (strategy != "LongestFirst" && strategy != "OnlyFirst" && strategy != "OnlySecond")
    j["strategy"].unsupported("truncation strategy '" + strategy + "'");
  t.only_second = strategy == "OnlySecond";
  return t;
}

void Truncation::apply(std::vector<int>& ids, size_t n_added) const {
  if (!on) return;
  size_t max = max_length;
  if (n_added > 0) {
    if (n_added > max) return;  // tokenizers' usize subtraction wraps there: no truncation
    max -= n_added;
  }
  if (ids.size() <= max) return;
  if (max == 0) {
    ids.clear();
    return;
  }
  if (only_second)
    fail_input(file + ": truncation.strategy OnlySecond needs a second sequence",
               "set the strategy to LongestFirst or the truncation to null");
  if (stride >= max)
    fail_input(file + ": truncation.stride " + std::to_string(stride) + " must be below max_length " +
                   std::to_string(max) + " (less the special tokens)",
               "lower the stride or raise max_length in the file");
  if (left)
    ids.erase(ids.begin(), ids.end() - static_cast<long>(max));
  else
    ids.resize(max);
}

Padding Padding::parse(const JsonAt& j) {
  Padding p;
  if (j.is_null()) return p;
  p.on = true;
  const JsonAt strategy = j["strategy"];
  if (strategy.raw().is_string() && strategy.str() == "BatchLongest") {
    p.fixed = false;
  } else if (strategy.raw().is_object() && strategy.has("Fixed")) {
    p.fixed = true;
    p.size = static_cast<size_t>(std::max<int64_t>(0, strategy["Fixed"].integer()));
  } else {
    strategy.unsupported("padding strategy " + strategy.raw().dump());
  }
  const std::string dir = j.get_str("direction", "Right");
  if (dir != "Right" && dir != "Left") j["direction"].unsupported("padding direction '" + dir + "'");
  p.left = dir == "Left";
  p.multiple = static_cast<size_t>(std::max<int64_t>(0, j.get_int("pad_to_multiple_of", 0)));
  constexpr size_t kMaxPad = size_t(1) << 24;  // no model has a context near 16M tokens: a corrupt file
  if (p.size > kMaxPad || p.multiple > kMaxPad) j.fail("padding length beyond 16M tokens");
  p.pad_id = static_cast<int>(j.get_int("pad_id", 0));
  return p;
}

void Padding::apply(std::vector<int>& ids) const {
  if (!on) return;
  size_t len = fixed ? size : ids.size();
  if (multiple > 0 && len % multiple > 0) len += multiple - len % multiple;
  if (ids.size() >= len) return;
  if (left)
    ids.insert(ids.begin(), len - ids.size(), pad_id);
  else
    ids.resize(len, pad_id);
}

PostProcessor PostProcessor::parse(const JsonAt& j) {
  PostProcessor p;
  if (!j.is_null()) p.add(j);
  return p;
}

void PostProcessor::add(const JsonAt& j) {
  const std::string type = j.type();
  if (type == "Sequence") {
    const JsonAt list = j["processors"];
    for (size_t i = 0; i < list.size(); ++i) add(list.at(i));
    return;
  }
  if (type == "ByteLevel") return;
  if (type != "TemplateProcessing")
    JsonAt(j["type"].raw(), j.file(), j.child_path("type")).unsupported("post_processor '" + type + "'");
  const JsonAt single = j["single"];
  const JsonAt specials = j["special_tokens"];
  std::vector<int> before, after;
  bool seen_a = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const JsonAt piece = single.at(i);
    if (piece.raw().is_object() && piece.has("Sequence")) {
      const std::string id = piece["Sequence"]["id"].str();
      if (id != "A" || seen_a) piece.fail("a single-sequence template holds $A exactly once, got $" + id);
      seen_a = true;
    } else if (piece.raw().is_object() && piece.has("SpecialToken")) {
      const JsonAt name = piece["SpecialToken"]["id"];
      if (!specials.has(name.str().c_str()))
        name.fail("special token \"" + name.str() + "\" is not in " + specials.path());
      const JsonAt ids = specials[name.str().c_str()]["ids"];
      auto& dst = seen_a ? after : before;
      for (size_t k = 0; k < ids.size(); ++k) dst.push_back(static_cast<int>(ids.at(k).integer()));
    } else {
      piece.fail("expected {\"Sequence\": ...} or {\"SpecialToken\": ...}, got " + piece.raw().dump());
    }
  }
  if (!seen_a) single.fail("the single-sequence template has no $A");
  // A later processor wraps what the earlier ones produced.
  before.insert(before.end(), prefix.begin(), prefix.end());
  suffix.insert(suffix.end(), after.begin(), after.end());
  prefix = std::move(before);
}

}  // namespace loratune::hf
