#include "export/names.h"

#include <cctype>

#include "core/error.h"
#include "core/strings.h"
#include "lora/peft.h"

namespace loratune::exporter {
namespace {

const char* const kUnknownHint =
    "loratune exports Llama-family checkpoints (llama, mistral, qwen2, qwen3); is this tensor from another "
    "architecture?";

// Matches `text` against `pattern` where "{N}" stands for a decimal layer index; returns the index text
// ("" for patterns without {N}) or nullopt.
std::optional<std::string> match(const std::string& pattern, const std::string& text) {
  const size_t at = pattern.find("{N}");
  if (at == std::string::npos) return pattern == text ? std::optional<std::string>("") : std::nullopt;
  const std::string pre = pattern.substr(0, at), post = pattern.substr(at + 3);
  if (text.size() <= pre.size() + post.size() || !starts_with(text, pre) || !ends_with(text, post)) return std::nullopt;
  const std::string n = text.substr(pre.size(), text.size() - pre.size() - post.size());
  for (char c : n)
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  if (n.size() > 1 && n[0] == '0') return std::nullopt;  // one spelling per index
  return n;
}

std::string fill(const std::string& pattern, const std::string& n) {
  const size_t at = pattern.find("{N}");
  return at == std::string::npos ? pattern : pattern.substr(0, at) + n + pattern.substr(at + 3);
}

// Splits "a.b.weight" into module "a.b" and parameter "weight" (only .weight and .bias are tensors here).
std::optional<std::pair<std::string, std::string>> split_param(const std::string& tensor) {
  for (const char* p : {".weight", ".bias"})
    if (ends_with(tensor, p)) return std::make_pair(tensor.substr(0, tensor.size() - std::string(p).size()), std::string(p));
  return std::nullopt;
}

struct Found {
  const NameRule* rule;
  std::string name;
};

// Maps a tensor name through the table in one direction.
std::optional<Found> map_name(const std::string& tensor, bool hf_to_gguf) {
  auto parts = split_param(tensor);
  if (!parts) return std::nullopt;
  for (const auto& rule : name_table()) {
    const std::string from = hf_to_gguf ? rule.hf_module : rule.gguf_module;
    const std::string to = hf_to_gguf ? rule.gguf_module : rule.hf_module;
    if (auto n = match(from, parts->first)) return Found{&rule, fill(to, *n) + parts->second};
  }
  return std::nullopt;
}

}  // namespace

const std::vector<NameRule>& name_table() {
  static const std::vector<NameRule> table = {
      {"model.embed_tokens", "token_embd", RopePermute::None},
      {"model.norm", "output_norm", RopePermute::None},
      {"lm_head", "output", RopePermute::None},
      {"model.layers.{N}.input_layernorm", "blk.{N}.attn_norm", RopePermute::None},
      {"model.layers.{N}.self_attn.q_proj", "blk.{N}.attn_q", RopePermute::QueryHeads},
      {"model.layers.{N}.self_attn.k_proj", "blk.{N}.attn_k", RopePermute::KeyHeads},
      {"model.layers.{N}.self_attn.v_proj", "blk.{N}.attn_v", RopePermute::None},
      {"model.layers.{N}.self_attn.o_proj", "blk.{N}.attn_output", RopePermute::None},
      {"model.layers.{N}.self_attn.q_norm", "blk.{N}.attn_q_norm", RopePermute::None},
      {"model.layers.{N}.self_attn.k_norm", "blk.{N}.attn_k_norm", RopePermute::None},
      {"model.layers.{N}.post_attention_layernorm", "blk.{N}.ffn_norm", RopePermute::None},
      {"model.layers.{N}.mlp.gate_proj", "blk.{N}.ffn_gate", RopePermute::None},
      {"model.layers.{N}.mlp.up_proj", "blk.{N}.ffn_up", RopePermute::None},
      {"model.layers.{N}.mlp.down_proj", "blk.{N}.ffn_down", RopePermute::None},
  };
  return table;
}

std::optional<std::string> find_gguf_tensor_name(const std::string& hf_tensor) {
  auto f = map_name(hf_tensor, true);
  return f ? std::optional<std::string>(f->name) : std::nullopt;
}

std::optional<std::string> find_hf_tensor_name(const std::string& gguf_tensor) {
  auto f = map_name(gguf_tensor, false);
  return f ? std::optional<std::string>(f->name) : std::nullopt;
}

std::string gguf_tensor_name(const std::string& hf_tensor) {
  auto n = find_gguf_tensor_name(hf_tensor);
  if (!n) fail_input("tensor '" + hf_tensor + "' has no GGUF name", kUnknownHint);
  return *n;
}

std::string hf_tensor_name(const std::string& gguf_tensor) {
  auto n = find_hf_tensor_name(gguf_tensor);
  if (!n)
    fail_input("GGUF tensor '" + gguf_tensor + "' has no Hugging Face name",
               "loratune reads back the GGUF files it writes (llama, qwen2, qwen3 tensors)");
  return *n;
}

RopePermute rope_permute_of(const std::string& hf_tensor) {
  auto f = map_name(hf_tensor, true);
  return f ? f->rule->permute : RopePermute::None;
}

std::string peft_tensor_name(const std::string& module_path, LoraMatrix f) {
  return kPeftTensorPrefix + module_path + (f == LoraMatrix::A ? ".lora_A.weight" : ".lora_B.weight");
}

std::optional<LoraTensorName> parse_peft_tensor_name(const std::string& name) {
  if (!starts_with(name, kPeftTensorPrefix)) return std::nullopt;
  const std::string rest = name.substr(std::string(kPeftTensorPrefix).size());
  for (LoraMatrix f : {LoraMatrix::A, LoraMatrix::B}) {
    const std::string suffix = f == LoraMatrix::A ? ".lora_A.weight" : ".lora_B.weight";
    if (ends_with(rest, suffix) && rest.size() > suffix.size())
      return LoraTensorName{rest.substr(0, rest.size() - suffix.size()), f};
  }
  return std::nullopt;
}

std::string gguf_lora_tensor_name(const std::string& module_path, LoraMatrix f) {
  return gguf_tensor_name(module_path + ".weight") + (f == LoraMatrix::A ? ".lora_a" : ".lora_b");
}

std::optional<LoraTensorName> parse_gguf_lora_tensor_name(const std::string& name) {
  for (LoraMatrix f : {LoraMatrix::A, LoraMatrix::B}) {
    const std::string suffix = f == LoraMatrix::A ? ".lora_a" : ".lora_b";
    if (!ends_with(name, suffix)) continue;
    auto hf = find_hf_tensor_name(name.substr(0, name.size() - suffix.size()));
    if (!hf || !ends_with(*hf, ".weight")) return std::nullopt;
    return LoraTensorName{hf->substr(0, hf->size() - 7), f};
  }
  return std::nullopt;
}

}  // namespace loratune::exporter
