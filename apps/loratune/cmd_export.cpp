// `loratune export`: a fine-tuned model as a PEFT adapter, a merged HF checkpoint, a GGUF model or a GGUF
// LoRA adapter, verified against the unmerged model before it is kept.
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.h"
#include "options.h"
#include "core/error.h"
#include "export/export.h"
#include "train/trainer.h"

namespace loratune::cli {
namespace {
struct ExportArgs {
  std::string run_dir, format, out, dtype, max_shard = "5GB";
  bool force = false, no_verify = false;
};

std::string human_bytes(uint64_t b) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(1);
  if (b >= 1000000000ULL) o << b / 1e9 << " GB";
  else if (b >= 1000000ULL) o << b / 1e6 << " MB";
  else o << b / 1e3 << " kB";
  return o.str();
}

nlohmann::json to_json(const exporter::ExportResult& r) {
  nlohmann::json v = nullptr;
  if (r.verify.ran)
    v = {{"max_abs_diff", r.verify.max_abs_diff}, {"tolerance", r.verify.tolerance},
         {"max_abs_logit", r.verify.max_abs_logit}, {"tokens", r.verify.tokens}, {"method", r.verify.method}};
  return {{"out", r.out},     {"format", exporter::export_format_name(r.format)},
          {"dtype", r.dtype}, {"files", r.files},
          {"bytes", r.bytes}, {"verify", v},
          {"notes", r.notes}, {"seconds", r.seconds}};
}

void print_text(const exporter::ExportResult& r) {
  std::cout << "exported " << exporter::export_format_name(r.format) << " (" << r.dtype << ") to " << r.out << ": "
            << r.files.size() << " file(s), " << human_bytes(r.bytes) << " in " << std::fixed << std::setprecision(1)
            << r.seconds << " s\n";
  for (const auto& n : r.notes) std::cout << "note: " << n << "\n";
  if (r.verify.ran)
    std::cout << std::scientific << std::setprecision(3) << "verified: max |logit diff| " << r.verify.max_abs_diff
              << " <= tolerance " << r.verify.tolerance << " on " << r.verify.tokens << " tokens (" << r.verify.method
              << ")\n";
  else
    std::cout << "not verified (--no-verify)\n";
  std::cout << std::flush;
}

int run(const GlobalOptions& g, const ExportArgs& a) {
  Config cfg = resolve_config(g, a.run_dir.empty() ? Config{} : config_from_run(a.run_dir));
  if (maybe_print_config(g, cfg)) return 0;
  exporter::ExportOptions o;
  o.model_dir = cfg.model.path;
  o.adapter_dir = cfg.model.adapter;
  o.format = exporter::parse_export_format(a.format);
  o.out = a.out;
  if (!a.dtype.empty()) o.dtype = exporter::parse_export_dtype(a.dtype);
  o.max_shard_bytes = exporter::parse_byte_size(a.max_shard, "--max-shard-size");
  o.force = a.force;
  o.verify = !a.no_verify;
  o.device = model_spec(cfg).device;
  const auto r = exporter::run_export(o);
  if (g.json)
    std::cout << to_json(r).dump(2) << std::endl;
  else
    print_text(r);
  return 0;
}
}  // namespace

void register_export(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* sub = app.add_subcommand("export", "Export a model + adapter as PEFT, merged HF, GGUF or GGUF LoRA (verified)");
  sub->fallthrough();
  auto a = std::make_shared<ExportArgs>();
  sub->add_option("--run", a->run_dir, "A finetune run directory: its base model and best adapter")
      ->check(CLI::ExistingDirectory);
  add_config_flag(*sub, g, "--model,-m", "model.path", "Base model: a Hugging Face directory or a GGUF file (the one the adapter was tuned on)");
  add_config_flag(*sub, g, "--adapter", "model.adapter", "PEFT LoRA adapter directory");
  sub->add_option("--format,-f", a->format, "peft | merged | gguf | gguf-lora")->required();
  sub->add_option("--out,-o", a->out, "Output directory (peft, merged) or file (gguf, gguf-lora)")->required();
  sub->add_option("--dtype", a->dtype,
                  "Stored dtype: f32 | f16 | bf16 | q8_0 (gguf only). Default: peft f32, merged the base's, "
                  "gguf f16, gguf-lora f32");
  sub->add_option("--max-shard-size", a->max_shard, "merged: largest safetensors shard (e.g. 5GB, 500MB)")
      ->capture_default_str();
  sub->add_flag("--force", a->force, "Replace an existing output");
  sub->add_flag("--no-verify", a->no_verify, "Skip reloading the export and comparing logits");
  sub->footer(
      "Examples:\n"
      "  loratune export --run runs/legal --format gguf --out legal.gguf --dtype q8_0\n"
      "  loratune export --run runs/legal --format merged --out legal-merged --dtype bf16\n"
      "  loratune export --model base --adapter runs/legal/adapter --format gguf-lora --out legal-lora.gguf\n"
      "  loratune export --model base --format gguf --out base.gguf          # the base model alone\n"
      "Every export is read back and compared with the unmerged model on fixed tokens before it is kept;\n"
      "above the dtype's tolerance it exits 1 and leaves nothing under --out.");
  sub->callback([&g, &action, a] { action = [&g, a] { return run(g, *a); }; });
}

}  // namespace loratune::cli
