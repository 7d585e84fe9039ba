#include "tokenizer/hf_postprocessor.h"

namespace loratune::hf {

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
