#include "options.h"

#include <optional>

#include "core/error.h"
#include "core/strings.h"
#include "train/run_dir.h"

namespace loratune::cli {
namespace {
// A config value that names one of an enum's entries: the library's name table parses it, and a name outside
// it is refused here, naming the key, listing the choices and suggesting the nearest.
template <class T>
T choice(const std::optional<T>& parsed, const std::string& value, const std::string& key,
         const std::vector<std::string>& names) {
  if (!parsed)
    fail_input("config key '" + key + "': '" + value + "' is not one of " + join(names, ", ") + did_you_mean(value, names));
  return *parsed;
}
}  // namespace

ModelSpec model_spec(const Config& cfg) {
  ModelSpec s;
  s.path = cfg.model.path;
  s.adapter = cfg.model.adapter;
  const auto device = parse_device_spec(cfg.model.device);
  if (!device)
    fail_input("config key 'model.device': '" + cfg.model.device + "' is not a device", std::string("use ") + kDeviceChoices);
  s.device = *device;
  s.dtype = choice(parse_compute_dtype(cfg.model.dtype), cfg.model.dtype, "model.dtype", compute_dtype_names());
  return s;
}

data::DataOptions data_options(const DataConfig& d) {
  data::DataOptions o;
  std::vector<std::string> formats{"auto"};
  for (const auto& f : data::format_names()) formats.push_back(f);
  if (d.format != "auto") o.format = choice(data::parse_format(d.format), d.format, "data.format", formats);
  o.text_split = choice(data::parse_text_split(d.text_split), d.text_split, "data.text_split", data::text_split_names());
  o.delimiter = d.delimiter;
  o.template_name = d.template_name;
  o.template_vars = d.template_vars;
  o.train_on_inputs = d.train_on_inputs;
  o.seq_len = d.seq_len;
  o.stride = d.stride;
  o.truncation = choice(data::parse_side(d.truncation), d.truncation, "data.truncation", data::side_names());
  o.pack = choice(data::parse_pack(d.pack), d.pack, "data.pack", data::pack_names());
  o.val_fraction = d.val_fraction;
  o.dedup = d.dedup;
  o.on_error = choice(data::parse_on_error(d.on_error), d.on_error, "data.on_error", data::on_error_names());
  o.strict = d.strict;
  return o;
}

LoraOptions lora_options(const LoraConfig& l) {
  LoraOptions o;
  o.r = l.r;
  o.alpha = l.alpha;
  o.dropout = l.dropout;
  o.targets = l.targets;
  o.rslora = l.rslora;
  o.init = choice(parse_lora_init(l.init), l.init, "lora.init", lora_init_names());
  o.layers = l.layers;
  o.rank_pattern = l.rank_pattern;
  o.alpha_pattern = l.alpha_pattern;
  check_lora_options(
      o,
      [](LoraField f, const std::string& key) -> std::string {
        switch (f) {
          case LoraField::R: return "config key 'lora.r'";
          case LoraField::Alpha: return "config key 'lora.alpha'";
          case LoraField::Dropout: return "config key 'lora.dropout'";
          case LoraField::RankPattern: return "config key 'lora.rank_pattern' entry '" + key + "'";
          case LoraField::AlphaPattern: return "config key 'lora.alpha_pattern' entry '" + key + "'";
        }
        return "config key 'lora'";
      },
      "typical ranks are 4..64 with alpha = 2 * r and dropout 0.0 to 0.1");
  return o;
}

void set_lora_config(LoraConfig& l, const LoraOptions& o) {
  l.r = o.r;
  l.alpha = o.alpha;
  l.dropout = o.dropout;
  l.targets = o.targets;
  l.rslora = o.rslora;
  l.init = lora_init_name(o.init);
  l.layers = o.layers;
  l.rank_pattern = o.rank_pattern;
  l.alpha_pattern = o.alpha_pattern;
}

train::TrainOptions train_options(const TrainConfig& t) {
  train::TrainOptions o;
  o.steps = t.steps;
  o.epochs = t.epochs;
  o.batch_size = t.batch_size;
  o.grad_accum = t.grad_accum;
  o.lr = t.lr;
  o.weight_decay = t.weight_decay;
  o.beta1 = t.beta1;
  o.beta2 = t.beta2;
  o.eps = t.eps;
  o.schedule = choice(train::parse_schedule(t.schedule), t.schedule, "train.schedule", train::schedule_names());
  o.warmup_steps = t.warmup_steps;
  o.warmup_ratio = t.warmup_ratio;
  o.min_lr_ratio = t.min_lr_ratio;
  o.max_grad_norm = t.max_grad_norm;
  o.grad_checkpointing = t.grad_checkpointing;
  o.fused_kernels = t.fused_kernels;
  o.shuffle = t.shuffle;
  o.eval_every = t.eval_every;
  o.eval_batches = t.eval_batches;
  o.save_every = t.save_every;
  o.keep_last = t.keep_last;
  o.early_stopping_patience = t.early_stopping_patience;
  return o;
}

eval::EvalOptions eval_options(const EvalConfig& e) {
  eval::EvalOptions o;
  o.data = e.data;
  o.split = choice(eval::parse_split(e.split), e.split, "eval.split", eval::split_names());
  o.batch_size = e.batch_size;
  o.max_batches = e.max_batches;
  o.prompts = e.prompts;
  o.max_samples = e.max_samples;
  o.prompt_batch_size = e.prompt_batch_size;
  o.gates = e.gates;
  return o;
}

SamplingOptions sampling_options(const Config& cfg) {
  SamplingOptions so;
  so.max_new_tokens = cfg.generate.max_new_tokens;
  so.temperature = cfg.generate.temperature;
  so.top_k = cfg.generate.top_k;
  so.top_p = cfg.generate.top_p;
  so.seed = static_cast<uint64_t>(cfg.runtime.seed);
  so.stop = cfg.generate.stop;
  return so;
}

log::Level log_level(const Config& cfg) {
  return choice(log::parse_level(cfg.runtime.log_level), cfg.runtime.log_level, "runtime.log_level", log::level_names());
}

void check_options(const Config& cfg) {
  model_spec(cfg);
  data_options(cfg.data);
  lora_options(cfg.lora);
  train_options(cfg.train);
  eval_options(cfg.eval);
  sampling_options(cfg);
  log_level(cfg);
}

Config config_from_run(const std::string& run_dir, std::string* base_model) {
  const train::RunDir run(run_dir);
  run.require_run();
  Config cfg;
  apply_config_file(cfg, run.config_file());
  if (base_model) *base_model = cfg.model.path;
  const std::string chosen = run.trained_output(cfg.lora.enabled);
  if (cfg.lora.enabled)
    cfg.model.adapter = chosen;
  else
    cfg.model.path = chosen;
  return cfg;
}

Config eval_config_from_run(const std::string& run_dir, std::string* base_model) {
  Config cfg = config_from_run(run_dir, base_model);
  if (cfg.eval.data.empty()) cfg.eval.data = cfg.train.data;
  return cfg;
}

std::string base_model_of(const Config& cfg, const std::string& run_base_model) {
  if (!cfg.model.adapter.empty()) return cfg.model.path;
  if (!run_base_model.empty() && run_base_model != cfg.model.path) return run_base_model;
  return "";
}

}  // namespace loratune::cli
