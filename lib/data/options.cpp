#include "data/options.h"

#include <array>
#include <utility>

namespace loratune::data {
namespace {
template <class E, size_t N>
const char* name_of(const std::array<std::pair<E, const char*>, N>& table, E v) {
  for (const auto& [e, n] : table)
    if (e == v) return n;
  return "?";
}
template <class E, size_t N>
std::optional<E> parse_of(const std::array<std::pair<E, const char*>, N>& table, const std::string& name) {
  for (const auto& [e, n] : table)
    if (name == n) return e;
  return std::nullopt;
}

constexpr std::array<std::pair<Pack, const char*>, 3> kPacks{{{Pack::Auto, "auto"}, {Pack::On, "on"}, {Pack::Off, "off"}}};
constexpr std::array<std::pair<OnError, const char*>, 2> kOnErrors{{{OnError::Fail, "fail"}, {OnError::Skip, "skip"}}};
constexpr std::array<std::pair<Side, const char*>, 2> kSides{{{Side::Left, "left"}, {Side::Right, "right"}}};
}  // namespace

const char* pack_name(Pack p) { return name_of(kPacks, p); }
std::optional<Pack> parse_pack(const std::string& name) { return parse_of(kPacks, name); }
const char* on_error_name(OnError e) { return name_of(kOnErrors, e); }
std::optional<OnError> parse_on_error(const std::string& name) { return parse_of(kOnErrors, name); }
const char* side_name(Side s) { return name_of(kSides, s); }
std::optional<Side> parse_side(const std::string& name) { return parse_of(kSides, name); }

nlohmann::json data_options_json(const DataOptions& d) {
  return {{"format", d.format ? format_name(*d.format) : "auto"},
          {"text_split", text_split_name(d.text_split)},
          {"delimiter", d.delimiter},
          {"template", d.template_name},
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
