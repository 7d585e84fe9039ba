#include "lora/lora.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "core/strings.h"

namespace loratune {
namespace {

// A decoder Linear that LoRA may target, described from the hyper-parameters alone.
struct Candidate {
  std::string path, name;
  int64_t layer, in, out;
};

// The table's decoder Linears of every layer, in named_modules order.
std::vector<Candidate> candidates(const ModelHParams& hp) {
  std::vector<Candidate> out;
  const auto& linears = decoder_linears(hp.arch);
  for (int64_t l = 0; l < hp.num_layers; ++l)
    for (const auto& m : linears) out.push_back({layer_module_path(m, l), m.name, l, dim_of(hp, m.in), dim_of(hp, m.out)});
  return out;
}

std::string available_hint(const ModelHParams& hp) {
  return "available modules: " + join(lora_module_names(), ", ") + " (in layers 0.." +
         std::to_string(hp.num_layers - 1) +
         ", e.g. model.layers.0.self_attn.q_proj; lm_head is never targeted), or the single entry "
         "'all-linear', or the single entry 'regex:<pattern>' fully matched against such module paths";
}

std::regex compile_regex(const std::string& pattern, const std::string& what) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    fail_input(what + ": '" + pattern + "' is not a valid regular expression (" + e.what() + ")",
               "use ECMAScript regex syntax (Python-only constructs such as (?P<name>...) are not supported)");
  }
}

// PEFT's get_pattern_key: key k applies to path p when re.match(rf"(.*\.)?({k})$", p).
struct PatternRule {
  std::string key;
  std::regex re;
};
template <typename V>
std::vector<PatternRule> compile_patterns(const std::map<std::string, V>& patterns, const std::string& what) {
  std::vector<PatternRule> out;
  for (const auto& [key, value] : patterns) {
    if (key.empty()) fail_input(what + " has an empty key", "use a module name or path such as 'v_proj'");
    out.push_back({key, compile_regex("(.*\\.)?(" + key + ")", what + " key '" + key + "'")});
  }
  return out;
}
const PatternRule* find_pattern(const std::vector<PatternRule>& rules, const std::string& path) {
  for (const auto& rule : rules)
    if (std::regex_match(path, rule.re)) return &rule;
  return nullptr;
}

}  // namespace

const std::vector<std::string>& lora_module_names() {
  // Every architecture of the table has the same decoder Linears (tests/model/test_arch.cpp checks it).
  static const std::vector<std::string> names = decoder_linear_names(Arch::Llama);
  return names;
}

std::vector<LoraTarget> plan_lora(const ModelHParams& hp, const LoraOptions& opts, TargetCheck check) {
  // The scalars were checked where they entered (check_lora_options in lora/options.h).
  LT_CHECK(opts.r >= 1 && opts.alpha > 0, "LoRA options reached planning unchecked");
  const auto cands = candidates(hp);

  // Target syntax: a list of names/paths, or exactly one of "all-linear" / "regex:<pattern>".
  if (opts.targets.empty()) fail_input("LoRA targets are empty", available_hint(hp));
  bool all_linear = false;
  std::optional<std::regex> regex;
  std::string regex_text;
  for (const auto& t : opts.targets) {
    if (t.empty()) fail_input("LoRA targets contain an empty entry", available_hint(hp));
    const bool special = t == "all-linear" || starts_with(t, "regex:");
    if (special && opts.targets.size() != 1)
      fail_input("LoRA target '" + t + "' must be the only entry of the target list (got " +
                     std::to_string(opts.targets.size()) + " entries: " + join(opts.targets, ", ") + ")",
                 "use either a list of module names, or 'all-linear', or one 'regex:<pattern>'");
    if (t == "all-linear") all_linear = true;
    if (starts_with(t, "regex:")) {
      regex_text = t.substr(6);
      if (regex_text.empty()) fail_input("LoRA target 'regex:' has an empty pattern", available_hint(hp));
      regex = compile_regex(regex_text, "LoRA target regex");
    }
  }

  // Layer subset (PEFT layers_to_transform): applies to name lists and all-linear, not to a regex (PEFT
  // refuses that combination too: the regex already says which layers).
  std::set<int64_t> layers;
  for (int64_t l : opts.layers) {
    if (l < 0 || l >= hp.num_layers)
      fail_input("LoRA layer index " + std::to_string(l) + " is out of range: the model has " +
                     std::to_string(hp.num_layers) + " decoder layers (0.." + std::to_string(hp.num_layers - 1) + ")",
                 "list layer indices that exist, or leave the layer list empty for all layers");
    layers.insert(l);
  }
  if (regex && !layers.empty())
    fail_input("LoRA layers cannot be combined with a regex target ('regex:" + regex_text + "')",
               "put the layer restriction into the regex, e.g. regex:model\\.layers\\.(0|1)\\.self_attn\\.q_proj");
  auto in_layers = [&](const Candidate& c) { return layers.empty() || layers.count(c.layer) > 0; };

  std::vector<const Candidate*> chosen;
  if (all_linear) {
    for (const auto& c : cands)
      if (in_layers(c)) chosen.push_back(&c);
  } else if (regex) {
    for (const auto& c : cands)
      if (std::regex_match(c.path, *regex)) chosen.push_back(&c);
    if (chosen.empty())
      fail_input("LoRA target regex '" + regex_text + "' matches no module of this model", available_hint(hp));
  } else {
    // PEFT's list rule: an entry equal to the whole path selects it (whatever the layer subset); an entry
    // that is a "."-suffix of the path selects it when its layer is in the subset.
    std::vector<bool> used(opts.targets.size(), false);
    for (const auto& c : cands) {
      bool exact = false, suffix = false;
      for (size_t i = 0; i < opts.targets.size(); ++i) {
        const auto& t = opts.targets[i];
        if (c.path == t) {
          exact = true;
          used[i] = true;
        } else if (ends_with(c.path, "." + t)) {
          suffix = true;
          used[i] = true;
        }
      }
      if (exact || (suffix && in_layers(c))) chosen.push_back(&c);
    }
    std::vector<std::string> unmatched;
    for (size_t i = 0; i < opts.targets.size(); ++i)
      if (!used[i]) unmatched.push_back("'" + opts.targets[i] + "'" + did_you_mean(opts.targets[i], lora_module_names()));
    if (check == TargetCheck::Strict && !unmatched.empty())
      fail_input("LoRA target" + std::string(unmatched.size() > 1 ? "s " : " ") + join(unmatched, ", ") +
                     " match" + (unmatched.size() > 1 ? "" : "es") + " no module of this model",
                 available_hint(hp));
    if (std::none_of(used.begin(), used.end(), [](bool u) { return u; }))
      fail_input("LoRA targets [" + join(opts.targets, ", ") + "] match no module of this model", available_hint(hp));
  }
  if (chosen.empty())
    fail_input("LoRA targets [" + join(opts.targets, ", ") + "] select no module in layers [" +
                   [&] {
                     std::vector<std::string> s;
                     for (auto l : layers) s.push_back(std::to_string(l));
                     return join(s, ", ");
                   }() + "]",
               available_hint(hp));

  const auto rank_rules = compile_patterns(opts.rank_pattern, "LoRA rank_pattern");
  const auto alpha_rules = compile_patterns(opts.alpha_pattern, "LoRA alpha_pattern");
  std::vector<LoraTarget> plan;
  plan.reserve(chosen.size());
  for (const Candidate* c : chosen) {
    LoraTarget t;
    t.path = c->path;
    t.name = c->name;
    t.layer = c->layer;
    t.in = c->in;
    t.out = c->out;
    const PatternRule* rr = find_pattern(rank_rules, c->path);
    const PatternRule* ar = find_pattern(alpha_rules, c->path);
    t.r = rr ? opts.rank_pattern.at(rr->key) : opts.r;
    t.alpha = ar ? opts.alpha_pattern.at(ar->key) : opts.alpha;
    t.scaling = opts.rslora ? t.alpha / std::sqrt(static_cast<double>(t.r)) : t.alpha / static_cast<double>(t.r);
    plan.push_back(std::move(t));
  }
  return plan;
}

int64_t lora_parameter_count(const ModelHParams& hp, const LoraOptions& opts) {
  int64_t n = 0;
  for (const auto& t : plan_lora(hp, opts)) n += t.r * (t.in + t.out);
  return n;
}

LoraFactorImpl::LoraFactorImpl(torch::Tensor w) { weight = register_parameter("weight", std::move(w)); }

LoraLinearAdapter::LoraLinearAdapter(LoraFactor a, LoraFactor b, double alpha, double scaling, double dropout)
    : a_(std::move(a)), b_(std::move(b)), alpha_(alpha), scaling_(scaling), dropout_(dropout) {}

LoraInjection inject_lora(CausalLM& model, const LoraOptions& opts, uint64_t seed) {
  return inject_lora(model, plan_lora(model->hparams(), opts, TargetCheck::Strict), opts, seed);
}

LoraInjection inject_lora(CausalLM& model, const std::vector<LoraTarget>& plan, const LoraOptions& opts,
                          uint64_t seed) {
  LT_CHECK(opts.dropout >= 0 && opts.dropout < 1, "LoRA options reached injection unchecked");
  std::unordered_map<std::string, LinearImpl*> linears;
  for (const auto& item : model->named_modules("", /*include_self=*/false))
    if (auto* lin = dynamic_cast<LinearImpl*>(item.value().get())) linears[item.key()] = lin;

  // Check everything before changing anything.
  std::vector<LinearImpl*> targets;
  std::vector<std::string> taken;
  for (const auto& t : plan) {
    auto it = linears.find(t.path);
    LT_CHECK(it != linears.end(), "LoRA plan names a module the model lacks: " + t.path);
    LinearImpl* lin = it->second;
    LT_CHECK(lin->weight.dim() == 2 && lin->weight.size(0) == t.out && lin->weight.size(1) == t.in,
             "LoRA plan shape disagrees with the model at " + t.path);
    LT_CHECK(t.r >= 1 && t.scaling > 0, "LoRA plan has an invalid rank or scaling at " + t.path);
    if (lin->adapter) taken.push_back(t.path);
    targets.push_back(lin);
  }
  if (!taken.empty())
    fail_input("these modules already have an adapter: " + join(taken, ", "),
               "a model takes one LoRA adapter: load the base model again (or merge_lora the current adapter first)");

  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  LoraInjection result;
  for (size_t i = 0; i < plan.size(); ++i) {
    const auto& t = plan[i];
    LinearImpl* lin = targets[i];
    const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
    auto a = torch::empty({t.r, t.in}, f32);  // [r, in]
    if (opts.init == LoraInit::Kaiming) {
      // nn.init.kaiming_uniform_(a=sqrt(5)) on [r, in]: gain sqrt(2 / (1 + 5)), bound gain * sqrt(3 / in) = 1/sqrt(in).
      const double bound = 1.0 / std::sqrt(static_cast<double>(t.in));
      a.uniform_(-bound, bound, gen);
    } else {
      a.normal_(0.0, 1.0 / static_cast<double>(t.r), gen);  // PEFT "gaussian": std 1/r
    }
    auto b = torch::zeros({t.out, t.r}, f32);  // [out, r]
    const auto device = lin->weight.device();
    LoraFactor fa(a.to(device)), fb(b.to(device));
    fa->train(lin->is_training());
    fb->train(lin->is_training());
    lin->register_module("lora_A", fa);
    lin->register_module("lora_B", fb);
    lin->adapter = std::make_shared<LoraLinearAdapter>(fa, fb, t.alpha, t.scaling, opts.dropout);
    result.modules.push_back(t.path);
    result.plan.push_back(t);
    result.trainable_parameters += fa->weight.numel() + fb->weight.numel();
  }

  // Only adapters train (PEFT's mark_only_lora_as_trainable).
  for (auto& p : model->named_parameters(/*recurse=*/true)) {
    const bool lora = ends_with(p.key(), ".lora_A.weight") || ends_with(p.key(), ".lora_B.weight");
    p.value().set_requires_grad(lora);
  }
  return result;
}

std::vector<LoraModuleRef> lora_modules(const CausalLM& model) {
  std::vector<LoraModuleRef> out;
  for (const auto& item : model->named_modules("", /*include_self=*/false)) {
    auto* lin = dynamic_cast<LinearImpl*>(item.value().get());
    if (!lin || !lin->adapter) continue;
    if (auto lora = std::dynamic_pointer_cast<LoraLinearAdapter>(lin->adapter)) out.push_back({item.key(), lin, lora});
  }
  return out;
}

std::vector<torch::Tensor> lora_parameters(const CausalLM& model) {
  std::vector<torch::Tensor> out;
  for (const auto& m : lora_modules(model)) {
    out.push_back(m.adapter->A());
    out.push_back(m.adapter->B());
  }
  return out;
}

void merge_lora(CausalLM& model) {
  torch::NoGradGuard no_grad;
  for (auto& m : lora_modules(model)) {
    auto& w = m.linear->weight;  // [out, in]
    auto delta = torch::matmul(m.adapter->B().to(torch::kFloat32), m.adapter->A().to(torch::kFloat32));  // [out, in]
    delta = delta * m.adapter->scaling();
    w.copy_((w.to(torch::kFloat32) + delta.to(w.device())).to(w.scalar_type()));
    m.linear->unregister_module("lora_A");
    m.linear->unregister_module("lora_B");
    m.linear->adapter.reset();
  }
}

}  // namespace loratune
