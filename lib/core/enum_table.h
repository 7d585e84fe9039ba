// One name table per enum: the names an enum has in config files, manifests and reports, kept next to the
// enum that owns them and read through these helpers, so that parsing, printing and the list of choices in
// an error message come from the same entries. Torch-free, header-only.
//
//   constexpr EnumTable<Pack, 3> kPackNames{{{Pack::Auto, "auto"}, {Pack::On, "on"}, {Pack::Off, "off"}}};
//   enum_name(kPackNames, Pack::On)       -> "on"
//   enum_parse(kPackNames, "off")         -> Pack::Off   (nullopt for a name not in the table)
//   enum_names(kPackNames)                -> {"auto", "on", "off"}
#pragma once
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loratune {

template <class E>
struct EnumName {
  E value;
  const char* name;
};
template <class E, size_t N>
using EnumTable = std::array<EnumName<E>, N>;

// The entry's name; "?" for a value outside the table (a bug of the table, never user input).
template <class E, size_t N>
const char* enum_name(const EnumTable<E, N>& table, E value) {
  for (const auto& e : table)
    if (e.value == value) return e.name;
  return "?";
}

template <class E, size_t N>
std::optional<E> enum_parse(const EnumTable<E, N>& table, std::string_view name) {
  for (const auto& e : table)
    if (name == e.name) return e.value;
  return std::nullopt;
}

template <class E, size_t N>
std::vector<std::string> enum_names(const EnumTable<E, N>& table) {
  std::vector<std::string> out;
  for (const auto& e : table) out.emplace_back(e.name);
  return out;
}

}  // namespace loratune
