// `loratune generate`: stream a completion of a prompt from a model directory.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "options.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "lora/inference.h"
#include "data/model_template.h"
#include "model/generate.h"
#include "tokenizer/tokenizer.h"

namespace loratune::cli {
namespace {
struct GenerateArgs {
  std::string prompt, prompt_file, run_dir, system;
  bool raw = false;
  const CLI::Option* prompt_opt = nullptr;  // to tell "--prompt ''" from no --prompt
};

// The prompt ids and the template they were rendered with: the prompt as the user turn of a chat (after
// --system) with data.template, or the model's own chat template when it has one; else, or with --raw,
// the text itself (BOS per the tokenizer).
std::vector<int> prompt_ids(const GenerateArgs& a, const Config& cfg, const Tokenizer& tok, const std::string& prompt,
                            std::string& template_used) {
  std::string name = a.raw ? std::string() : cfg.data.template_name;
  if (!a.raw && name.empty() && !tok.chat_template().empty()) name = data::kModelTemplate;
  if (name.empty()) {
    if (!a.system.empty())
      fail_input(a.raw ? "--system needs a chat template, and --raw turns it off"
                       : "--system needs a chat template, and the model has none",
                 a.raw ? "drop --raw or --system" : "choose one with --template (e.g. chatml), or drop --system");
    template_used = a.raw ? "raw" : "none (the model has no chat template)";
    return tok.encode(prompt, tok.special().add_bos);
  }
  data::Record r;
  r.source = a.prompt_file.empty() ? "--prompt" : a.prompt_file;
  r.format = data::Format::Chat;
  if (!a.system.empty()) r.messages.push_back({"system", a.system});
  r.messages.push_back({"user", prompt});
  template_used = name;
  return data::PromptTemplate(name, tok, cfg.data.template_vars).ids(r);
}

int run(const GlobalOptions& g, const GenerateArgs& a) {
  Config cfg = resolve_config(g, a.run_dir.empty() ? Config{} : config_from_run(a.run_dir));
  if (maybe_print_config(g, cfg)) return 0;
  if (a.prompt_opt->count() == 0 && a.prompt_file.empty())
    fail_input("generate needs a prompt", "pass --prompt TEXT or --prompt-file FILE");
  std::string prompt = a.prompt_file.empty() ? a.prompt : read_text_file(a.prompt_file);
  std::function<void(const std::string&)> stream;
  if (!g.json) stream = [](const std::string& piece) { std::cout << piece << std::flush; };
  if (cfg.model.path.empty()) fail_input("no model given", "pass --model DIR (or set model.path in --config)");
  InferenceModel im = load_inference_model(model_spec(cfg));
  std::string template_used;
  const std::vector<int> ids = prompt_ids(a, cfg, im.tok, prompt, template_used);
  TextGeneration out = generate_text(im.lm, im.tok, sampling_options(cfg), ids, stream);
  const auto& r = out.result;
  double tps = r.decode_seconds > 0 ? r.tokens.size() / r.decode_seconds : 0.0;
  if (g.json) {
    nlohmann::json j{{"text", r.text},
                     {"template", template_used},
                     {"tokens", r.tokens},
                     {"finish_reason", r.finish_reason},
                     {"prompt_tokens", r.prompt_tokens},
                     {"generated_tokens", r.tokens.size()},
                     {"device", out.device},
                     {"dtype", out.dtype},
                     {"load_seconds", out.load_seconds},
                     {"prefill_seconds", r.prefill_seconds},
                     {"decode_seconds", r.decode_seconds},
                     {"decode_tokens_per_second", tps}};
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << std::endl;
    log::info("prompt " + std::to_string(r.prompt_tokens) + " tokens, generated " + std::to_string(r.tokens.size()) +
              " tokens (" + r.finish_reason + ") on " + out.device + "/" + out.dtype + ", " +
              std::to_string(static_cast<int>(tps)) + " tokens/s");
  }
  return 0;
}
}  // namespace

void register_generate(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* sub = app.add_subcommand("generate", "Generate text from a prompt with a model directory");
  sub->fallthrough();
  auto a = std::make_shared<GenerateArgs>();
  add_config_flag(*sub, g, "--model,-m", "model.path", "Model: a Hugging Face directory or a GGUF file");
  add_config_flag(*sub, g, "--adapter", "model.adapter", "PEFT LoRA adapter directory to apply");
  sub->add_option("--run", a->run_dir, "A finetune run directory: its base model and best adapter")
      ->check(CLI::ExistingDirectory);
  auto* p = sub->add_option("--prompt,-p", a->prompt, "Prompt text");
  auto* pf = sub->add_option("--prompt-file", a->prompt_file, "Read the prompt from a file")->check(CLI::ExistingFile);
  p->excludes(pf);
  a->prompt_opt = p;
  add_config_flag(*sub, g, "--template", "data.template",
                  "Chat template the prompt is rendered with as a user turn: model (the model's own; the default "
                  "when it has one) | chatml | llama2 | mistral | zephyr | alpaca | plain");
  add_template_var_flag(*sub, g);
  sub->add_option("--system", a->system, "A system message before the prompt (needs a chat template)");
  sub->add_flag("--raw", a->raw, "Feed the prompt text as it is, without the chat template");
  add_config_flag(*sub, g, "--max-new-tokens,-n", "generate.max_new_tokens", "Maximum tokens to generate");
  add_config_flag(*sub, g, "--temperature,-t", "generate.temperature", "Sampling temperature (0 = greedy)");
  add_config_flag(*sub, g, "--top-k", "generate.top_k", "Top-k sampling (0 = off)");
  add_config_flag(*sub, g, "--top-p", "generate.top_p", "Nucleus sampling threshold (1 = off)");
  auto* stops = &g.flag_sets;
  sub->add_option_function<std::vector<std::string>>(
         "--stop",
         [stops](const std::vector<std::string>& v) {
           nlohmann::json arr = v;
           stops->push_back("generate.stop=" + arr.dump());
         },
         "Stop string (repeatable) [config: generate.stop]")
      ->type_name("STR");
  sub->footer(
      "Examples:\n"
      "  loratune generate --model data/base-model --prompt \"The licensee shall\" -n 64\n"
      "  loratune generate -m SmolLM2-135M-Instruct -p \"What is a licence?\"        # its chat template\n"
      "  loratune generate -m SmolLM2-135M-Instruct --raw -p \"The capital of France is\"\n"
      "  loratune generate -m Qwen3-0.6B -p \"Hi\" --template-var enable_thinking=false\n"
      "  loratune generate -m DIR --prompt-file q.txt --temperature 0.7 --top-p 0.9 --seed 1\n"
      "  loratune generate -m DIR -p \"Hello\" --json --device cpu --dtype fp32\n"
      "  loratune generate --run runs/legal --prompt \"Q: What may the licensee do?\\nA:\"\n"
      "  loratune generate -m base --adapter runs/legal/adapter -p \"...\"");
  sub->callback([&g, &action, a] { action = [&g, a] { return run(g, *a); }; });
}

}  // namespace loratune::cli
