#include "lora/options.h"

#include <cmath>
#include <sstream>

#include "core/enum_table.h"
#include "core/error.h"

namespace loratune {

namespace {
constexpr EnumTable<LoraInit, 2> kInits{{{LoraInit::Kaiming, "kaiming"}, {LoraInit::Gaussian, "gaussian"}}};
}  // namespace

std::optional<LoraInit> parse_lora_init(const std::string& name) { return enum_parse(kInits, name); }
const char* lora_init_name(LoraInit init) { return enum_name(kInits, init); }
std::vector<std::string> lora_init_names() { return enum_names(kInits); }

void check_lora_options(const LoraOptions& o,
                        const std::function<std::string(LoraField field, const std::string& key)>& name,
                        const std::string& hint) {
  auto num = [](double v) {
    std::ostringstream s;
    s << v;
    return s.str();
  };
  if (o.r < 1) fail_input(name(LoraField::R, "") + " must be >= 1, got " + std::to_string(o.r), hint);
  if (!std::isfinite(o.alpha) || o.alpha <= 0)
    fail_input(name(LoraField::Alpha, "") + " must be a positive number, got " + num(o.alpha), hint);
  if (!std::isfinite(o.dropout) || o.dropout < 0 || o.dropout >= 1)
    fail_input(name(LoraField::Dropout, "") + " must be in [0, 1), got " + num(o.dropout), hint);
  for (const auto& [key, r] : o.rank_pattern)
    if (r < 1) fail_input(name(LoraField::RankPattern, key) + " must be >= 1, got " + std::to_string(r), hint);
  for (const auto& [key, a] : o.alpha_pattern)
    if (!std::isfinite(a) || a <= 0)
      fail_input(name(LoraField::AlphaPattern, key) + " must be a positive number, got " + num(a), hint);
}

}  // namespace loratune
