// Typed configuration for every subcommand: structs with defaults, JSON in/out, key=value overrides and
// validation. Precedence: command-line flags > --set overrides > --config file > defaults.
// The field table in config.cpp is the single source for parsing, printing, validation and the
// generated reference (`loratune config --schema`), so docs cannot drift from the code.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace loratune {

// [model] which checkpoint and how to hold it.
struct ModelConfig {
  std::string path;            // HF-layout model directory
  std::string adapter;         // PEFT adapter directory applied on top (generate/eval); "" = none
  std::string dtype = "auto";  // auto | fp32 | bf16 | fp16
  std::string device = "auto"; // auto | cpu | cuda | cuda:N
};

// [runtime] process-wide settings.
struct RuntimeConfig {
  int64_t threads = 0;            // 0 = all cores
  int64_t seed = 42;              // drives init, sampling, shuffling
  std::string log_level = "info"; // debug | info | warn | error | quiet
};

// [generate] decoding settings (also used by generation-based evaluation).
struct GenerateConfig {
  int64_t max_new_tokens = 128;
  double temperature = 0.0;  // 0 = greedy
  int64_t top_k = 0;         // 0 = off
  double top_p = 1.0;        // 1 = off
  std::vector<std::string> stop;  // stop strings (in addition to EOS)
};

// [data] how `prepare` turns raw material into training rows.
struct DataConfig {
  std::string format = "auto";      // auto | text | prompt_completion | alpaca | chat | tokens
  std::string text_split = "none";  // .txt/.md: none (one document per file) | blank-line | delimiter
  std::string delimiter;            // the separator line when text_split = delimiter
  std::string template_name;        // "" = from the model's tokenizer_config.json, else plain
  std::map<std::string, std::string> template_vars;  // the model's template: name -> JSON value text
  bool train_on_inputs = false;     // also train on prompts / user turns
  int64_t seq_len = 512;
  int64_t stride = 0;               // overlap between chunks of long documents
  std::string truncation = "right"; // side cut from over-long prompt/completion samples: left | right
  std::string pack = "auto";        // auto (pack raw text) | on | off
  double val_fraction = 0.05;       // share of samples held out (by content hash)
  bool dedup = true;                // drop exact duplicates (normalised text)
  std::string on_error = "fail";    // fail | skip invalid records
  bool strict = false;              // warnings become errors
};

// [lora] the adapter finetune trains (PEFT semantics).
struct LoraConfig {
  bool enabled = true;  // false = full fine-tune of every parameter (fp32)
  int64_t r = 8;
  double alpha = 16.0;
  double dropout = 0.05;
  std::vector<std::string> targets{"q_proj", "k_proj", "v_proj", "o_proj"};  // names, "all-linear" or "regex:..."
  bool rslora = false;
  std::string init = "kaiming";  // kaiming | gaussian
  std::vector<int64_t> layers;   // empty = all decoder layers
  std::map<std::string, int64_t> rank_pattern;  // module pattern -> rank (PEFT rank_pattern)
  std::map<std::string, double> alpha_pattern;  // module pattern -> alpha (PEFT alpha_pattern)
  std::string init_adapter;      // continue training this PEFT adapter (its config replaces r/alpha/targets)
};

// [train] the optimisation loop and the run directory.
struct TrainConfig {
  std::string data;             // prepared dataset directory (loratune prepare)
  int64_t steps = 0;            // optimizer steps; 0 = derive from epochs
  int64_t epochs = 1;
  int64_t batch_size = 8;       // rows per micro-batch
  int64_t grad_accum = 1;       // micro-batches per optimizer step
  double lr = 2e-4;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  std::string schedule = "cosine";  // constant | linear | cosine
  int64_t warmup_steps = 0;
  double warmup_ratio = 0.0;        // used when warmup_steps is 0
  double min_lr_ratio = 0.0;
  double max_grad_norm = 1.0;       // 0 = no clipping
  bool grad_checkpointing = false;
  bool fused_kernels = true;
  bool shuffle = true;
  int64_t eval_every = 0;           // steps between validations; 0 = at the end only
  int64_t eval_batches = 0;         // 0 = the whole val split
  int64_t save_every = 0;           // steps between checkpoints; 0 = only at the end / on a signal
  int64_t keep_last = 2;
  int64_t early_stopping_patience = 0;  // validations without improvement before stopping; 0 = off
  int64_t log_every = 10;
};

// [eval] `loratune eval`: which data it measures and how (decoding settings come from [generate]).
struct EvalConfig {
  std::string data;            // prepared dataset directory; "" = no loss evaluation
  std::string split = "val";   // val | train
  int64_t batch_size = 8;      // rows per forward pass
  int64_t max_batches = 0;     // 0 = the whole split
  std::string prompts;         // JSONL of {"prompt"|"messages", "reference"}; "" = no generation eval
  int64_t max_samples = 0;     // generation samples evaluated; 0 = all
  int64_t prompt_batch_size = 16;  // prompts generated together; 1 = one at a time
  std::vector<std::string> gates;  // "metric<=bound", ... (exit 3 when one fails)
};

struct Config {
  ModelConfig model;
  DataConfig data;
  LoraConfig lora;
  TrainConfig train;
  RuntimeConfig runtime;
  GenerateConfig generate;
  EvalConfig eval;
};

// Applies a JSON document (object of sections) onto cfg. `source` names the file in errors.
// Unknown sections/keys and wrong types are input errors with "did you mean" suggestions.
void apply_config_json(Config& cfg, const std::string& json_text, const std::string& source);
// Reads FILE.json and applies it.
void apply_config_file(Config& cfg, const std::string& path);
// Applies "section.key=value" (the value parsed per the key's type; lists as JSON or comma-separated).
void apply_override(Config& cfg, const std::string& assignment, const std::string& source = "--set");
// Checks value ranges and choices; throws an input error naming the key.
void validate_config(const Config& cfg);
// The resolved config as JSON (feeds back into --config).
std::string config_to_json(const Config& cfg, int indent = 2);
// Every key: type, default, meaning (markdown table), generated from the field table.
std::string config_reference_markdown();
std::vector<std::string> config_keys();

}  // namespace loratune
