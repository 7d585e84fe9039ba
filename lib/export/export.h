// `loratune export`: a base model (+ an optional PEFT LoRA adapter) written as
//   peft       adapter_config.json + adapter_model.safetensors (re-saved; rsLoRA flagged by use_rslora)
//   merged     an HF model directory with W' = W + scaling * B @ A (fp32, then cast to the dtype), sharded
//              above max_shard_bytes, with config.json, tokenizer files, chat template, generation_config.json
//   gguf       a llama.cpp full model (llama / qwen2 / qwen3) with its SentencePiece vocabulary
//   gguf-lora  a llama.cpp LoRA adapter GGUF for the base model's GGUF
// Every export is built under a temporary name, read back and compared with the unmerged model on fixed
// tokens (max |logit diff| against a per-dtype tolerance), and only then renamed into place: a failed or
// interrupted export leaves nothing under the output name. Torch-free header.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/model_spec.h"

namespace loratune::exporter {

enum class ExportFormat { Peft, Merged, Gguf, GgufLora };
ExportFormat parse_export_format(const std::string& name);  // input error listing the formats
const char* export_format_name(ExportFormat f);              // "peft", "merged", "gguf", "gguf-lora"

enum class ExportDType { F32, F16, BF16, Q8_0 };
// "f32" | "fp32" | "float32", "f16" | "fp16" | "float16", "bf16" | "bfloat16", "q8_0"; anything else is an
// input error listing them.
ExportDType parse_export_dtype(const std::string& name);
const char* export_dtype_name(ExportDType d);  // "f32", "f16", "bf16", "q8_0"

// Per-dtype tolerance on max |logit diff|, relative to max(1, max |logit|) of the unmerged model.
double verify_tolerance(ExportDType d);

constexpr uint64_t kDefaultMaxShardBytes = 5000000000ULL;  // 5 GB, as transformers' save_pretrained
// "5GB", "500MB", "10KB", "2GiB", "1MiB", "123" (bytes); decimal units are powers of 1000 as in
// transformers' max_shard_size. Anything else (or 0) is an input error naming `flag`.
uint64_t parse_byte_size(const std::string& text, const std::string& flag);

struct ExportOptions {
  std::string model_dir;     // the base model (HF layout, with tokenizer.model)
  std::string adapter_dir;   // PEFT adapter; "" = export the model alone (merged / gguf only)
  ExportFormat format = ExportFormat::Gguf;
  std::string out;
  // nullopt = the format's default: peft f32, merged the base's torch_dtype, gguf f16, gguf-lora f32.
  std::optional<ExportDType> dtype;
  uint64_t max_shard_bytes = kDefaultMaxShardBytes;  // merged only
  bool force = false;        // replace an existing output
  bool verify = true;
  DeviceSpec device{DeviceSpec::Kind::Cpu, 0};  // where merging and verification run (always in fp32)
};

struct VerifyReport {
  bool ran = false;
  double max_abs_diff = 0;   // over all fixed tokens and vocabulary entries
  double max_abs_logit = 0;  // of the unmerged model
  double tolerance = 0;      // absolute: verify_tolerance(dtype) * max(1, max_abs_logit)
  int64_t tokens = 0;
  std::string method;        // what was reloaded and how
};

struct ExportResult {
  std::string out;
  ExportFormat format = ExportFormat::Gguf;
  std::string dtype;
  std::vector<std::string> files;  // relative to out (a directory) or {out's file name}
  uint64_t bytes = 0;
  VerifyReport verify;
  std::vector<std::string> notes;  // what the reader should know (fallback types, rescaled adapters, ...)
  double seconds = 0;
};

// Runs the export. Input problems (missing model or adapter, an adapter that does not fit the base, a format
// that needs an adapter without one, a dtype the format cannot hold, an existing output without force, a
// tokenizer llama.cpp cannot use) are input errors (exit 2) raised before anything is written; a failed
// verification is a runtime error (exit 1) stating max |diff| and the tolerance, with nothing left behind.
ExportResult run_export(const ExportOptions& opts);

}  // namespace loratune::exporter
