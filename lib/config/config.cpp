#include "config/config.h"

#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"

namespace loratune {
namespace {
using json = nlohmann::json;

// One config key: how to read, write and check it. `where` names the source for error messages.
struct Field {
  std::string key;  // section.name
  std::string type; // string | int | float | bool | list
  std::string doc;
  std::function<json(const Config&)> get;
  std::function<void(Config&, const json&, const std::string& where)> set;
  std::function<void(const Config&)> check;  // may be empty
};

[[noreturn]] void type_error(const std::string& where, const std::string& key, const std::string& want,
                             const json& got) {
  fail_input(where + ": key '" + key + "' must be " + want + ", got " + got.dump(),
             "fix the value in " + where);
}


template <class S, class T>
Field make_field(std::string key, S Config::*sec, T S::*mem, std::string doc,
                 std::function<void(const T&, const std::string&)> check = {}) {
  Field f;
  f.key = key;
  f.doc = std::move(doc);
  f.get = [sec, mem](const Config& c) { return json((c.*sec).*mem); };
  if constexpr (std::is_same_v<T, std::string>) {
    f.type = "string";
    f.set = [sec, mem, key](Config& c, const json& v, const std::string& where) {
      if (!v.is_string()) type_error(where, key, "a string", v);
      (c.*sec).*mem = v.get<std::string>();
    };
  } else if constexpr (std::is_same_v<T, bool>) {
    f.type = "bool";
    f.set = [sec, mem, key](Config& c, const json& v, const std::string& where) {
      if (!v.is_boolean()) type_error(where, key, "true or false", v);
      (c.*sec).*mem = v.get<bool>();
    };
  } else if constexpr (std::is_same_v<T, int64_t>) {
    f.type = "int";
    f.set = [sec, mem, key](Config& c, const json& v, const std::string& where) {
      if (!v.is_number_integer()) type_error(where, key, "an integer", v);
      (c.*sec).*mem = v.get<int64_t>();
    };
  } else if constexpr (std::is_same_v<T, double>) {
    f.type = "float";
    f.set = [sec, mem, key](Config& c, const json& v, const std::string& where) {
      if (!v.is_number()) type_error(where, key, "a number", v);
      (c.*sec).*mem = v.get<double>();
    };
  } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
    f.type = "int list";
    f.set = [sec, mem, key](Config& c, const json& v, const std::string& where) {
      if (!v.is_array()) type_error(where, key, "a list of integers", v);
      std::vector<int64_t> out;
      for (const auto& e : v) {
        if (!e.is_number_integer()) type_error(where, key, "a list of integers", v);
        out.push_back(e.get<int64_t>());
      }
      (c.*sec).*mem = out;
    };
  } else if constexpr (std::is_same_v<T, std::map<std::string, int64_t>> ||
                       std::is_same_v<T, std::map<std::string, double>>) {
    constexpr bool ints = std::is_same_v<T, std::map<std::string, int64_t>>;
    f.type = ints ? "int map" : "float map";
    f.set = [sec, mem, key](Config& c, const json& v, const std::string& where) {
      const char* want = ints ? "an object of pattern -> integer" : "an object of pattern -> number";
      if (!v.is_object()) type_error(where, key, want, v);
      T out;
      for (const auto& [k, e] : v.items()) {
        if (ints ? !e.is_number_integer() : !e.is_number()) type_error(where, key, want, v);
        out[k] = e.template get<typename T::mapped_type>();
      }
      (c.*sec).*mem = out;
    };
  } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    // Names to JSON values of any type, each kept as its JSON text.
    f.type = "json map";
    f.get = [sec, mem](const Config& c) {
      json o = json::object();
      for (const auto& [k, v] : (c.*sec).*mem) o[k] = json::parse(v);
      return o;
    };
    f.set = [sec, mem, key](Config& c, const json& v, const std::string& where) {
      if (!v.is_object()) type_error(where, key, "an object of name -> JSON value", v);
      T out;
      for (const auto& [k, e] : v.items()) out[k] = e.dump();
      (c.*sec).*mem = out;
    };
  } else {
    static_assert(std::is_same_v<T, std::vector<std::string>>, "unsupported config field type");
    f.type = "list";
    f.set = [sec, mem, key](Config& c, const json& v, const std::string& where) {
      if (!v.is_array()) type_error(where, key, "a list of strings", v);
      std::vector<std::string> out;
      for (const auto& e : v) {
        if (!e.is_string()) type_error(where, key, "a list of strings", v);
        out.push_back(e.get<std::string>());
      }
      (c.*sec).*mem = out;
    };
  }
  if (check) f.check = [sec, mem, check, key](const Config& c) { check((c.*sec).*mem, key); };
  return f;
}

const std::vector<Field>& fields() {
  static const std::vector<Field> table = [] {
    std::vector<Field> t;
    t.push_back(make_field<ModelConfig, std::string>("model.path", &Config::model, &ModelConfig::path,
        "Hugging Face model directory (config.json, *.safetensors, tokenizer.model)."));
    t.push_back(make_field<ModelConfig, std::string>("model.adapter", &Config::model, &ModelConfig::adapter,
        "PEFT LoRA adapter directory applied on top of model.path (generate, eval); empty = none."));
    t.push_back(make_field<ModelConfig, std::string>("model.dtype", &Config::model, &ModelConfig::dtype,
        "Compute dtype of the frozen weights: auto (bf16 where the hardware is fast at it, else fp32), fp32, bf16, fp16."));
    t.push_back(make_field<ModelConfig, std::string>("model.device", &Config::model, &ModelConfig::device,
        "auto (CUDA when available), cpu, cuda or cuda:N."));
    t.push_back(make_field<DataConfig, std::string>("data.format", &Config::data, &DataConfig::format,
        "Record format of the inputs: auto (detected per file), text, prompt_completion, alpaca, chat, tokens."));
    t.push_back(make_field<DataConfig, std::string>("data.text_split", &Config::data, &DataConfig::text_split,
        "How .txt/.md files split into documents: none (one per file), blank-line, delimiter."));
    t.push_back(make_field<DataConfig, std::string>("data.delimiter", &Config::data, &DataConfig::delimiter,
        "The separator line between documents when data.text_split is delimiter."));
    t.push_back(make_field<DataConfig, std::string>("data.template", &Config::data, &DataConfig::template_name,
        "Chat template: model (the model's own Jinja chat template), chatml, llama2, mistral, zephyr, alpaca, "
        "plain; empty = model when the model has a chat template, else plain."));
    t.push_back(make_field<DataConfig, std::map<std::string, std::string>>("data.template_vars", &Config::data,
        &DataConfig::template_vars,
        "Extra variables for the model's own chat template, as transformers' apply_chat_template(**kwargs): "
        "{\"enable_thinking\": false} or name=value,name=value (a value that parses as JSON is that value, "
        "else a string). The built-in templates ignore them."));
    t.push_back(make_field<DataConfig, bool>("data.train_on_inputs", &Config::data, &DataConfig::train_on_inputs,
        "Train on prompts and user turns too (default: only completions / assistant turns)."));
    t.push_back(make_field<DataConfig, int64_t>("data.seq_len", &Config::data, &DataConfig::seq_len,
        "Tokens per training row.",
        [](const int64_t& v, const std::string& k) {
          if (v < 2) fail_input("config key '" + k + "' must be >= 2, got " + std::to_string(v));
        }));
    t.push_back(make_field<DataConfig, int64_t>("data.stride", &Config::data, &DataConfig::stride,
        "Overlap in tokens between consecutive chunks of a long document (context only, not trained twice).",
        [](const int64_t& v, const std::string& k) {
          if (v < 0) fail_input("config key '" + k + "' must be >= 0, got " + std::to_string(v));
        }));
    t.push_back(make_field<DataConfig, std::string>("data.truncation", &Config::data, &DataConfig::truncation,
        "Side cut from samples longer than seq_len (prompt/completion, alpaca, chat): left or right."));
    t.push_back(make_field<DataConfig, std::string>("data.pack", &Config::data, &DataConfig::pack,
        "Pack samples into full rows: auto (when the inputs include raw text), on, off (pad)."));
    t.push_back(make_field<DataConfig, double>("data.val_fraction", &Config::data, &DataConfig::val_fraction,
        "Share of samples held out for validation, chosen by content hash (stable when data is added).",
        [](const double& v, const std::string& k) {
          if (!(v >= 0 && v < 1)) fail_input("config key '" + k + "' must be in [0, 1)");
        }));
    t.push_back(make_field<DataConfig, bool>("data.dedup", &Config::data, &DataConfig::dedup,
        "Drop exact duplicates (after normalising whitespace and ASCII case)."));
    t.push_back(make_field<DataConfig, std::string>("data.on_error", &Config::data, &DataConfig::on_error,
        "Invalid records: fail (exit 2 naming file:line) or skip (counted and listed in the report)."));
    t.push_back(make_field<DataConfig, bool>("data.strict", &Config::data, &DataConfig::strict,
        "Turn prepare's warnings (truncation, skipped records, ...) into errors."));

    // [lora]
    auto nonneg_i = [](const int64_t& v, const std::string& k) {
      if (v < 0) fail_input("config key '" + k + "' must be >= 0, got " + std::to_string(v));
    };
    auto positive_i = [](const int64_t& v, const std::string& k) {
      if (v < 1) fail_input("config key '" + k + "' must be >= 1, got " + std::to_string(v));
    };
    auto nonneg_f = [](const double& v, const std::string& k) {
      if (!(v >= 0) || !std::isfinite(v)) fail_input("config key '" + k + "' must be a finite number >= 0");
    };
    auto positive_f = [](const double& v, const std::string& k) {
      if (!(v > 0) || !std::isfinite(v)) fail_input("config key '" + k + "' must be a finite number > 0");
    };
    auto unit_f = [](const double& v, const std::string& k) {
      if (!(v >= 0 && v < 1)) fail_input("config key '" + k + "' must be in [0, 1)");
    };
    t.push_back(make_field<LoraConfig, bool>("lora.enabled", &Config::lora, &LoraConfig::enabled,
        "Train a LoRA adapter; false = full fine-tune of every parameter (in fp32)."));
    t.push_back(make_field<LoraConfig, int64_t>("lora.r", &Config::lora, &LoraConfig::r, "LoRA rank (>= 1)."));
    t.push_back(make_field<LoraConfig, double>("lora.alpha", &Config::lora, &LoraConfig::alpha,
        "LoRA alpha: the update is scaled by alpha/r (alpha/sqrt(r) with rslora)."));
    t.push_back(make_field<LoraConfig, double>("lora.dropout", &Config::lora, &LoraConfig::dropout,
        "Dropout on the LoRA input during training, in [0, 1)."));
    t.push_back(make_field<LoraConfig, std::vector<std::string>>("lora.targets", &Config::lora, &LoraConfig::targets,
        "Modules that get an adapter: names (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj), "
        "all-linear, or one regex:<pattern> over module paths."));
    t.push_back(make_field<LoraConfig, bool>("lora.rslora", &Config::lora, &LoraConfig::rslora,
        "Rank-stabilised LoRA: scale by alpha/sqrt(r)."));
    t.push_back(make_field<LoraConfig, std::string>("lora.init", &Config::lora, &LoraConfig::init,
        "A's initialisation: kaiming (PEFT default) or gaussian; B starts at zero."));
    t.push_back(make_field<LoraConfig, std::vector<int64_t>>("lora.layers", &Config::lora, &LoraConfig::layers,
        "Decoder layers that get adapters (empty = all)."));
    t.push_back(make_field<LoraConfig, std::map<std::string, int64_t>>("lora.rank_pattern", &Config::lora,
        &LoraConfig::rank_pattern,
        "Per-module ranks overriding lora.r, as PEFT's rank_pattern: {\"<module pattern>\": r}; a pattern matches a "
        "module path or a '.'-suffix of it (regex allowed)."));
    t.push_back(make_field<LoraConfig, std::map<std::string, double>>("lora.alpha_pattern", &Config::lora,
        &LoraConfig::alpha_pattern, "Per-module alphas overriding lora.alpha, as PEFT's alpha_pattern."));
    t.push_back(make_field<LoraConfig, std::string>("lora.init_adapter", &Config::lora, &LoraConfig::init_adapter,
        "Continue training this PEFT adapter directory (e.g. one written by HF PEFT); its adapter_config.json "
        "replaces lora.r/alpha/targets/layers. Empty = a fresh adapter."));
    // [train]
    t.push_back(make_field<TrainConfig, std::string>("train.data", &Config::train, &TrainConfig::data,
        "Prepared dataset directory (from loratune prepare)."));
    t.push_back(make_field<TrainConfig, int64_t>("train.steps", &Config::train, &TrainConfig::steps,
        "Optimizer steps; 0 = as many as train.epochs take.", nonneg_i));
    t.push_back(make_field<TrainConfig, int64_t>("train.epochs", &Config::train, &TrainConfig::epochs,
        "Passes over the train split (when train.steps is 0).", positive_i));
    t.push_back(make_field<TrainConfig, int64_t>("train.batch_size", &Config::train, &TrainConfig::batch_size,
        "Rows per micro-batch.", positive_i));
    t.push_back(make_field<TrainConfig, int64_t>("train.grad_accum", &Config::train, &TrainConfig::grad_accum,
        "Micro-batches per optimizer step (the loss is normalised by all their trained tokens).", positive_i));
    t.push_back(make_field<TrainConfig, double>("train.lr", &Config::train, &TrainConfig::lr, "Peak learning rate.",
        positive_f));
    t.push_back(make_field<TrainConfig, double>("train.weight_decay", &Config::train, &TrainConfig::weight_decay,
        "AdamW decoupled weight decay.", nonneg_f));
    t.push_back(make_field<TrainConfig, double>("train.beta1", &Config::train, &TrainConfig::beta1, "AdamW beta1.", unit_f));
    t.push_back(make_field<TrainConfig, double>("train.beta2", &Config::train, &TrainConfig::beta2, "AdamW beta2.", unit_f));
    t.push_back(make_field<TrainConfig, double>("train.eps", &Config::train, &TrainConfig::eps, "AdamW epsilon.", positive_f));
    t.push_back(make_field<TrainConfig, std::string>("train.schedule", &Config::train, &TrainConfig::schedule,
        "Learning-rate schedule after warmup: constant, linear or cosine."));
    t.push_back(make_field<TrainConfig, int64_t>("train.warmup_steps", &Config::train, &TrainConfig::warmup_steps,
        "Linear warmup steps (0 = use train.warmup_ratio).", nonneg_i));
    t.push_back(make_field<TrainConfig, double>("train.warmup_ratio", &Config::train, &TrainConfig::warmup_ratio,
        "Warmup as a share of all steps, when train.warmup_steps is 0.", unit_f));
    t.push_back(make_field<TrainConfig, double>("train.min_lr_ratio", &Config::train, &TrainConfig::min_lr_ratio,
        "Where the linear/cosine decay ends, as a share of train.lr.", unit_f));
    t.push_back(make_field<TrainConfig, double>("train.max_grad_norm", &Config::train, &TrainConfig::max_grad_norm,
        "Clip the global gradient norm to this; 0 = no clipping.", nonneg_f));
    t.push_back(make_field<TrainConfig, bool>("train.grad_checkpointing", &Config::train, &TrainConfig::grad_checkpointing,
        "Recompute each decoder layer in backward instead of keeping its activations (less memory, ~30% slower)."));
    t.push_back(make_field<TrainConfig, bool>("train.fused_kernels", &Config::train, &TrainConfig::fused_kernels,
        "Fused LoRA layers and a chunked loss at trained positions only (faster, less memory); false = plain "
        "autograd ops, for checking a suspected kernel problem."));
    t.push_back(make_field<TrainConfig, bool>("train.shuffle", &Config::train, &TrainConfig::shuffle,
        "Shuffle rows every epoch (order from runtime.seed and the epoch)."));
    t.push_back(make_field<TrainConfig, int64_t>("train.eval_every", &Config::train, &TrainConfig::eval_every,
        "Steps between validations on the val split; 0 = only at the end.", nonneg_i));
    t.push_back(make_field<TrainConfig, int64_t>("train.eval_batches", &Config::train, &TrainConfig::eval_batches,
        "Micro-batches per validation; 0 = the whole val split.", nonneg_i));
    t.push_back(make_field<TrainConfig, int64_t>("train.save_every", &Config::train, &TrainConfig::save_every,
        "Steps between checkpoints; 0 = only at the end and on SIGINT/SIGTERM.", nonneg_i));
    t.push_back(make_field<TrainConfig, int64_t>("train.keep_last", &Config::train, &TrainConfig::keep_last,
        "Checkpoints kept (plus the best adapter).", positive_i));
    t.push_back(make_field<TrainConfig, int64_t>("train.early_stopping_patience", &Config::train,
        &TrainConfig::early_stopping_patience,
        "Stop after this many validations without a better val loss; 0 = off.", nonneg_i));
    t.push_back(make_field<TrainConfig, int64_t>("train.log_every", &Config::train, &TrainConfig::log_every,
        "Steps between log lines when stderr is not a terminal.", positive_i));
    t.push_back(make_field<RuntimeConfig, int64_t>("runtime.threads", &Config::runtime, &RuntimeConfig::threads,
        "CPU threads for compute; 0 = all cores.",
        [](const int64_t& v, const std::string& k) {
          if (v < 0) fail_input("config key '" + k + "' must be >= 0, got " + std::to_string(v));
        }));
    t.push_back(make_field<RuntimeConfig, int64_t>("runtime.seed", &Config::runtime, &RuntimeConfig::seed,
        "Seed for everything random (weight init, sampling, shuffling)."));
    t.push_back(make_field<RuntimeConfig, std::string>("runtime.log_level", &Config::runtime, &RuntimeConfig::log_level,
        "Log verbosity on stderr: debug, info, warn, error, quiet."));
    t.push_back(make_field<GenerateConfig, int64_t>("generate.max_new_tokens", &Config::generate, &GenerateConfig::max_new_tokens,
        "Maximum number of tokens to generate.",
        [](const int64_t& v, const std::string& k) {
          if (v < 0) fail_input("config key '" + k + "' must be >= 0, got " + std::to_string(v));
        }));
    t.push_back(make_field<GenerateConfig, double>("generate.temperature", &Config::generate, &GenerateConfig::temperature,
        "Sampling temperature; 0 = greedy (deterministic).",
        [](const double& v, const std::string& k) {
          if (!(v >= 0) || !std::isfinite(v)) fail_input("config key '" + k + "' must be >= 0");
        }));
    t.push_back(make_field<GenerateConfig, int64_t>("generate.top_k", &Config::generate, &GenerateConfig::top_k,
        "Sample only from the k most likely tokens; 0 = off.",
        [](const int64_t& v, const std::string& k) {
          if (v < 0) fail_input("config key '" + k + "' must be >= 0, got " + std::to_string(v));
        }));
    t.push_back(make_field<GenerateConfig, double>("generate.top_p", &Config::generate, &GenerateConfig::top_p,
        "Nucleus sampling: smallest set of tokens with cumulative probability >= p; 1 = off.",
        [](const double& v, const std::string& k) {
          if (!(v > 0 && v <= 1)) fail_input("config key '" + k + "' must be in (0, 1]");
        }));
    t.push_back(make_field<GenerateConfig, std::vector<std::string>>("generate.stop", &Config::generate, &GenerateConfig::stop,
        "Stop strings: generation ends when the output contains one (EOS always stops)."));
    t.push_back(make_field<EvalConfig, std::string>("eval.data", &Config::eval, &EvalConfig::data,
        "Prepared dataset directory whose split eval measures (loss, perplexity, accuracy); empty = none."));
    t.push_back(make_field<EvalConfig, std::string>("eval.split", &Config::eval, &EvalConfig::split,
        "Split of eval.data to measure: val or train."));
    t.push_back(make_field<EvalConfig, int64_t>("eval.batch_size", &Config::eval, &EvalConfig::batch_size,
        "Rows per forward pass in loss evaluation.", positive_i));
    t.push_back(make_field<EvalConfig, int64_t>("eval.max_batches", &Config::eval, &EvalConfig::max_batches,
        "Batches evaluated (in row order); 0 = the whole split.", nonneg_i));
    t.push_back(make_field<EvalConfig, std::string>("eval.prompts", &Config::eval, &EvalConfig::prompts,
        "JSONL of {\"prompt\" or \"messages\", \"reference\"} for generation metrics (decoding per [generate]); empty = none."));
    t.push_back(make_field<EvalConfig, int64_t>("eval.max_samples", &Config::eval, &EvalConfig::max_samples,
        "Generation samples evaluated (from the top of the file); 0 = all.", nonneg_i));
    t.push_back(make_field<EvalConfig, int64_t>("eval.prompt_batch_size", &Config::eval, &EvalConfig::prompt_batch_size,
        "Prompts generated together (KV cache per row, finished rows dropped); 1 = one at a time.", positive_i));
    t.push_back(make_field<EvalConfig, std::vector<std::string>>("eval.gates", &Config::eval, &EvalConfig::gates,
        "Pass/fail bounds such as \"ppl<=12.5\" or \"delta.loss<=-0.1\"; a failing gate makes eval exit 3."));
    return t;
  }();
  return table;
}

const Field* find_field(const std::string& key) {
  for (const auto& f : fields())
    if (f.key == key) return &f;
  return nullptr;
}

std::vector<std::string> sections() {
  std::vector<std::string> out;
  for (const auto& f : fields()) {
    auto s = f.key.substr(0, f.key.find('.'));
    if (out.empty() || out.back() != s) out.push_back(s);
  }
  return out;
}

const Field& require_field(const std::string& key, const std::string& where) {
  if (const Field* f = find_field(key)) return *f;
  auto sec = key.substr(0, key.find('.'));
  auto secs = sections();
  bool known_section = std::find(secs.begin(), secs.end(), sec) != secs.end();
  if (!known_section)
    fail_input(where + ": unknown config section '" + sec + "'" + did_you_mean(sec, secs),
               "sections are: " + join(secs, ", ") + " (see `loratune config --schema`)");
  fail_input(where + ": unknown config key '" + key + "'" + did_you_mean(key, config_keys()),
             "see `loratune config --schema` for every key");
}

json parse_scalar(const Field& f, const std::string& text, const std::string& where) {
  auto bad = [&](const std::string& want) -> json {
    fail_input(where + ": key '" + f.key + "' must be " + want + ", got '" + text + "'");
  };
  if (f.type == "string") return json(text);
  if (f.type == "bool") {
    if (text == "true" || text == "1" || text == "yes") return json(true);
    if (text == "false" || text == "0" || text == "no") return json(false);
    return bad("true or false");
  }
  if (f.type == "int") {
    try {
      size_t pos = 0;
      long long v = std::stoll(text, &pos);
      if (pos != text.size()) return bad("an integer");
      return json(static_cast<int64_t>(v));
    } catch (const std::exception&) {
      return bad("an integer");
    }
  }
  if (f.type == "float") {
    try {
      size_t pos = 0;
      double v = std::stod(text, &pos);
      if (pos != text.size()) return bad("a number");
      return json(v);
    } catch (const std::exception&) {
      return bad("a number");
    }
  }
  if (f.type == "json map") {  // a JSON object, or name=value,name=value (JSON when it parses, else a string)
    if (!text.empty() && text.front() == '{') {
      auto j = json::parse(text, nullptr, false);
      if (j.is_discarded() || !j.is_object()) return bad("a JSON object or name=value pairs");
      return j;
    }
    json obj = json::object();
    for (const auto& part : split(text, ',')) {
      if (trim(part).empty()) continue;
      const auto eq = part.find('=');
      if (eq == std::string::npos || trim(part.substr(0, eq)).empty()) return bad("a JSON object or name=value pairs");
      const std::string value = trim(part.substr(eq + 1));
      auto j = json::parse(value, nullptr, false);
      obj[trim(part.substr(0, eq))] = j.is_discarded() ? json(value) : j;
    }
    return obj;
  }
  if (f.type == "int map" || f.type == "float map") {  // a JSON object, or pattern=value,pattern=value
    if (!text.empty() && text.front() == '{') {
      auto j = json::parse(text, nullptr, false);
      if (j.is_discarded()) return bad("a JSON object or pattern=value pairs");
      return j;
    }
    json obj = json::object();
    for (const auto& part : split(text, ',')) {
      if (trim(part).empty()) continue;
      const auto eq = part.rfind('=');
      if (eq == std::string::npos) return bad("a JSON object or pattern=value pairs");
      const std::string value = trim(part.substr(eq + 1));
      try {
        size_t pos = 0;
        if (f.type == "int map") {
          const long long v = std::stoll(value, &pos);
          if (pos != value.size()) return bad("pattern=integer pairs");
          obj[trim(part.substr(0, eq))] = static_cast<int64_t>(v);
        } else {
          const double v = std::stod(value, &pos);
          if (pos != value.size()) return bad("pattern=number pairs");
          obj[trim(part.substr(0, eq))] = v;
        }
      } catch (const std::exception&) {
        return bad(f.type == "int map" ? "pattern=integer pairs" : "pattern=number pairs");
      }
    }
    return obj;
  }
  // lists: JSON array or comma-separated
  if (!text.empty() && text.front() == '[') {
    auto j = json::parse(text, nullptr, false);
    if (j.is_discarded()) return bad("a JSON list or comma-separated values");
    return j;
  }
  json arr = json::array();
  if (!text.empty())
    for (const auto& part : split(text, ',')) {
      if (f.type == "list") {
        arr.push_back(trim(part));
        continue;
      }
      try {
        size_t pos = 0;
        long long v = std::stoll(trim(part), &pos);
        if (pos != trim(part).size()) return bad("comma-separated integers");
        arr.push_back(static_cast<int64_t>(v));
      } catch (const std::exception&) {
        return bad("comma-separated integers");
      }
    }
  return arr;
}
}  // namespace

void apply_config_json(Config& cfg, const std::string& json_text, const std::string& source) {
  json doc;
  try {
    // Config files may carry // and /* */ comments (the bundled configs/ are commented examples).
    doc = json::parse(json_text, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    fail_input(source + ": invalid JSON: " + e.what(), "fix the syntax");
  }
  if (!doc.is_object()) fail_input(source + ": the config must be a JSON object of sections");
  for (auto& [sec, body] : doc.items()) {
    if (!body.is_object()) {
      auto secs = sections();
      if (std::find(secs.begin(), secs.end(), sec) == secs.end())
        require_field(sec + ".", source);  // throws unknown section
      fail_input(source + ": section '" + sec + "' must be an object of keys");
    }
    for (auto& [key, value] : body.items()) {
      const Field& f = require_field(sec + "." + key, source);
      f.set(cfg, value, source);
    }
  }
}

void apply_config_file(Config& cfg, const std::string& path) {
  if (!path_exists(path)) fail_input(path + ": config file not found", "check the --config path");
  apply_config_json(cfg, read_text_file(path), path);
}

void apply_override(Config& cfg, const std::string& assignment, const std::string& source) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    fail_input(source + " '" + assignment + "': expected section.key=value", "e.g. --set generate.top_k=40");
  std::string key = trim(assignment.substr(0, eq));
  std::string value = assignment.substr(eq + 1);
  std::string where = source + " " + key;
  const Field& f = require_field(key, source + " '" + assignment + "'");
  f.set(cfg, parse_scalar(f, value, where), where);
}

void validate_config(const Config& cfg) {
  for (const auto& f : fields())
    if (f.check) f.check(cfg);
}

std::string config_to_json(const Config& cfg, int indent) {
  json doc = json::object();
  for (const auto& f : fields()) {
    auto dot = f.key.find('.');
    doc[f.key.substr(0, dot)][f.key.substr(dot + 1)] = f.get(cfg);
  }
  return doc.dump(indent);
}

std::string config_reference_markdown() {
  Config defaults;
  std::ostringstream out;
  out << "| key | type | default | meaning |\n|---|---|---|---|\n";
  for (const auto& f : fields())
    out << "| `" << f.key << "` | " << f.type << " | `" << f.get(defaults).dump() << "` | " << f.doc << " |\n";
  return out.str();
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const auto& f : fields()) keys.push_back(f.key);
  return keys;
}

}  // namespace loratune
