#include "options.h"

#include <optional>

#include "core/error.h"
#include "train/run_dir.h"

namespace loratune::cli {
namespace {
// validate_config checked every choice; a name the library does not know is a bug of this table.
template <class T>
T known(const std::optional<T>& v, const char* key) {
  LT_CHECK(v.has_value(), std::string("config key '") + key + "' holds a value the library does not know");
  return *v;
}
}  // namespace

ModelSpec model_spec(const Config& cfg) {
  ModelSpec s;
  s.path = cfg.model.path;
  s.adapter = cfg.model.adapter;
  s.device = cfg.model.device;
  s.dtype = cfg.model.dtype;
  return s;
}

data::DataOptions data_options(const DataConfig& d) {
  data::DataOptions o;
  if (d.format != "auto") o.format = known(data::parse_format(d.format), "data.format");
  o.text_split = data::parse_text_split(d.text_split);
  o.delimiter = d.delimiter;
  o.template_name = d.template_name;
  o.train_on_inputs = d.train_on_inputs;
  o.seq_len = d.seq_len;
  o.stride = d.stride;
  o.truncation = known(data::parse_side(d.truncation), "data.truncation");
  o.pack = known(data::parse_pack(d.pack), "data.pack");
  o.val_fraction = d.val_fraction;
  o.dedup = d.dedup;
  o.on_error = known(data::parse_on_error(d.on_error), "data.on_error");
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
  o.init = parse_lora_init(l.init);
  o.layers = l.layers;
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
  o.schedule = train::parse_schedule(t.schedule);
  o.warmup_steps = t.warmup_steps;
  o.warmup_ratio = t.warmup_ratio;
  o.min_lr_ratio = t.min_lr_ratio;
  o.max_grad_norm = t.max_grad_norm;
  o.grad_checkpointing = t.grad_checkpointing;
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
  o.split = e.split == "train" ? eval::Split::Train : eval::Split::Val;
  o.batch_size = e.batch_size;
  o.max_batches = e.max_batches;
  o.prompts = e.prompts;
  o.max_samples = e.max_samples;
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
