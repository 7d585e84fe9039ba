#include "data/options.h"

#include "core/enum_table.h"

namespace loratune::data {
namespace {
constexpr EnumTable<Pack, 3> kPacks{{{Pack::Auto, "auto"}, {Pack::On, "on"}, {Pack::Off, "off"}}};
constexpr EnumTable<OnError, 2> kOnErrors{{{OnError::Fail, "fail"}, {OnError::Skip, "skip"}}};
constexpr EnumTable<Side, 2> kSides{{{Side::Left, "left"}, {Side::Right, "right"}}};
}  // namespace

const char* pack_name(Pack p) { return enum_name(kPacks, p); }
std::optional<Pack> parse_pack(const std::string& name) { return enum_parse(kPacks, name); }
std::vector<std::string> pack_names() { return enum_names(kPacks); }
const char* on_error_name(OnError e) { return enum_name(kOnErrors, e); }
std::optional<OnError> parse_on_error(const std::string& name) { return enum_parse(kOnErrors, name); }
std::vector<std::string> on_error_names() { return enum_names(kOnErrors); }
const char* side_name(Side s) { return enum_name(kSides, s); }
std::optional<Side> parse_side(const std::string& name) { return enum_parse(kSides, name); }
std::vector<std::string> side_names() { return enum_names(kSides); }

nlohmann::json template_vars_json(const std::map<std::string, std::string>& vars) {
  nlohmann::json o = nlohmann::json::object();
  for (const auto& [k, v] : vars) {
    nlohmann::json j = nlohmann::json::parse(v, nullptr, false);
    o[k] = j.is_discarded() ? nlohmann::json(v) : j;
  }
  return o;
}

nlohmann::json data_options_json(const DataOptions& d) {
  return {{"format", d.format ? format_name(*d.format) : "auto"},
          {"text_split", text_split_name(d.text_split)},
          {"delimiter", d.delimiter},
          {"template", d.template_name},
          {"template_vars", template_vars_json(d.template_vars)},
          {"train_on_inputs", d.train_on_inputs},
          {"seq_len", d.seq_len},
          {"stride", d.stride},
          {"truncation", side_name(d.truncation)},
          {"pack", pack_name(d.pack)},
          {"val_fraction", d.val_fraction},
          {"dedup", d.dedup},
          {"on_error", on_error_name(d.on_error)},
          {"strict", d.strict}};
}

}  // namespace loratune::data
