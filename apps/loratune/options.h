// The one place the config tree becomes the library's typed options (CTranslate2's CLI -> options struct
// -> library). validate_config checked the types and ranges of the config's own keys; the values the library
// owns are checked here, once, with the library's rules: enum names through the library's name tables (a name
// outside one is an input error naming the key, listing the choices, with a did-you-mean), device names, and
// the LoRA scalars (check_lora_options). resolve_config runs every conversion once (check_options), so a bad
// value fails before any command starts, whichever command reads it.
#pragma once
#include <string>

#include "config/config.h"
#include "core/log.h"
#include "data/options.h"
#include "eval/evaluator.h"
#include "lora/options.h"
#include "model/model_spec.h"
#include "model/sampling.h"
#include "train/trainer.h"

namespace loratune::cli {

ModelSpec model_spec(const Config& cfg);
data::DataOptions data_options(const DataConfig& d);
LoraOptions lora_options(const LoraConfig& l);
train::TrainOptions train_options(const TrainConfig& t);
eval::EvalOptions eval_options(const EvalConfig& e);
SamplingOptions sampling_options(const Config& cfg);  // [generate] + runtime.seed (EOS ids come from the model)
log::Level log_level(const Config& cfg);
// Every conversion above, for its checks (resolve_config calls it).
void check_options(const Config& cfg);

// The [lora] keys an adapter's options fix (r, alpha, dropout, targets, rslora, init, layers, rank and alpha
// patterns), written back so
// that config.resolved.json states what was trained.
void set_lora_config(LoraConfig& l, const LoraOptions& o);

// A finetune run's config (its config.resolved.json) for generate / eval / export --run: model.adapter set to
// the run's best adapter (else its final one); for a full fine-tune, model.path set to its model directory.
// base_model (optional) receives the model.path the run trained from.
Config config_from_run(const std::string& run_dir, std::string* base_model = nullptr);
// The same for eval: also its prepared dataset as eval.data unless the run's config sets one.
Config eval_config_from_run(const std::string& run_dir, std::string* base_model = nullptr);
// The base model of what cfg evaluates, for --compare-base: model.path under an adapter, else the base of the
// full fine-tune run it came from (run_base_model from config_from_run); "" when there is none.
std::string base_model_of(const Config& cfg, const std::string& run_base_model);

}  // namespace loratune::cli
