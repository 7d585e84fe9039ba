#include "export/export.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "model/gguf_tokenizer.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/signals.h"
#include "core/strings.h"
#include "export/gguf_lora.h"
#include "export/gguf_model.h"
#include "io/gguf.h"
#include "io/gguf_reader.h"
#include "io/safetensors.h"
#include "lora/lora.h"
#include "lora/peft.h"
#include "model/arch.h"
#include "model/device.h"
#include "model/generate.h"
#include "model/hf_files.h"
#include "model/hparams.h"
#include "model/loader.h"
#include "model/tensor_io.h"
#include "tokenizer/tokenizer.h"

namespace loratune::exporter {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int64_t kProbeTokens = 16;
const char* const kBugHint =
    "the export was not kept. This is a bug in loratune's export (or the dtype is too coarse for this model): "
    "please report it with the command line";

io::GgmlType ggml_type(ExportDType d) {
  switch (d) {
    case ExportDType::F32: return io::GgmlType::F32;
    case ExportDType::F16: return io::GgmlType::F16;
    case ExportDType::BF16: return io::GgmlType::BF16;
    case ExportDType::Q8_0: return io::GgmlType::Q8_0;
  }
  return io::GgmlType::F32;
}

torch::ScalarType torch_type(ExportDType d) {
  switch (d) {
    case ExportDType::F16: return torch::kFloat16;
    case ExportDType::BF16: return torch::kBFloat16;
    default: return torch::kFloat32;
  }
}

const char* hf_dtype_name(ExportDType d) {
  return d == ExportDType::BF16 ? "bfloat16" : d == ExportDType::F16 ? "float16" : "float32";
}

bool is_gguf(ExportFormat f) { return f == ExportFormat::Gguf || f == ExportFormat::GgufLora; }

std::string basename_of(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return fs::path(p).filename().string();
}

// The output file of a GGUF export, built under a temporary name (core/fs.h AtomicPath) in its directory,
// which is created when missing.
AtomicPath staged_output(const std::string& path) {
  const std::string parent = parent_dir(path);
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) fail_runtime(parent + ": cannot create the output directory (" + ec.message() + ")");
  return AtomicPath(path, AtomicPath::Kind::File);
}

// How a GGUF base stores its weights: the tensors of each ggml type, most frequent first ("Q4_1 x 211, F32 x 61").
struct GgufBaseTypes {
  std::vector<std::pair<io::GgmlType, int>> counts;
  bool quantized() const {
    for (const auto& [t, n] : counts) if (io::ggml_block_size(t) > 1) return true;
    return false;
  }
  std::string summary() const {
    std::vector<std::string> parts;
    for (const auto& [t, n] : counts) parts.push_back(std::string(io::ggml_type_name(t)) + " x " + std::to_string(n));
    return join(parts, ", ");
  }
};

GgufBaseTypes gguf_base_types(const std::string& path) {
  std::map<io::GgmlType, int> by_type;
  for (const auto& t : io::GgufFile::open(path)->tensors()) ++by_type[t.type];
  GgufBaseTypes r{{by_type.begin(), by_type.end()}};
  std::stable_sort(r.counts.begin(), r.counts.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return r;
}

// ---- what is exported -------------------------------------------------------------------------------------

struct Source {
  LoadedModel lm;  // fp32, with the adapter when there is one
  std::unique_ptr<Tokenizer> tok;
  // The adapter, parsed once (adapter_config.json, adapter_model.safetensors) and planned once on lm; every
  // format below uses these instead of reading or planning it again.
  std::optional<Adapter> adapter;
  LoraInjection injection;  // its plan on lm.model
};

Source load_source(const ExportOptions& o) {
  Source s;
  s.tok = std::make_unique<Tokenizer>(load_tokenizer(o.model_dir));  // a directory or a GGUF file
  s.lm = load_model(o.model_dir, {o.device, ComputeDType::F32});
  check_tokenizer_matches(*s.tok, s.lm.hp, o.model_dir);
  if (!o.adapter_dir.empty()) {
    s.adapter = read_peft_adapter(o.adapter_dir);
    s.injection = apply_adapter(s.lm.model, *s.adapter);
  }
  s.lm.model->eval();
  return s;
}

LoadedModel load_base(const ExportOptions& o) { return load_model(o.model_dir, {o.device, ComputeDType::F32}); }

// ---- verification -------------------------------------------------------------------------------------------

// Fixed probe tokens [1, 16]: BOS (when defined) and ids spread over the vocabulary.
torch::Tensor probe_ids(const ModelHParams& hp) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < kProbeTokens; ++i)
    ids.push_back(i == 0 && hp.bos_token_id >= 0 ? hp.bos_token_id : (7 + 131 * i) % hp.vocab_size);
  return torch::tensor(ids, torch::kLong).view({1, kProbeTokens});
}

torch::Tensor probe_logits(CausalLM& model) {  // [1, T, V] fp32 on the CPU
  torch::NoGradGuard no_grad;
  model->eval();
  const auto ids = probe_ids(model->hparams()).to(model->device());
  return model->forward(ids).to(torch::kCPU, torch::kFloat32);
}

VerifyReport compare(const torch::Tensor& reference, const torch::Tensor& got, ExportDType dtype,
                     const std::string& method) {
  VerifyReport r;
  r.ran = true;
  r.method = method;
  r.tokens = reference.size(1);
  r.max_abs_logit = reference.abs().max().item<double>();
  r.max_abs_diff = (reference.to(torch::kFloat64) - got.to(torch::kFloat64)).abs().max().item<double>();
  r.tolerance = verify_tolerance(dtype) * std::max(1.0, r.max_abs_logit);
  if (!(r.max_abs_diff <= r.tolerance)) {
    std::ostringstream o;
    o << "verification failed: " << method << " differs from the unmerged model by max |logit diff| "
      << r.max_abs_diff << " > tolerance " << r.tolerance << " (" << export_dtype_name(dtype) << ", max |logit| "
      << r.max_abs_logit << ")";
    fail_runtime(o.str(), kBugHint);
  }
  return r;
}

// Puts HF-named tensors into a fresh model with these hyper-parameters (fp32 on `device`).
CausalLM model_from_state(const ModelHParams& hp, const NamedTensors& state, const DeviceSpec& device,
                          const std::string& where) {
  CausalLM m(hp);
  const torch::Device dev = resolve_device(device);
  std::map<std::string, torch::Tensor> by_name(state.begin(), state.end());
  std::vector<std::string> problems;
  torch::NoGradGuard no_grad;
  for (auto& p : m->named_parameters(true)) {
    auto it = by_name.find(p.key());
    if (it == by_name.end() || it->second.sizes() != p.value().sizes()) {
      problems.push_back(p.key() + (it == by_name.end() ? " missing" : " has another shape"));
      continue;
    }
    p.value().set_data(it->second.to(dev, torch::kFloat32));
    by_name.erase(it);
  }
  for (const auto& [name, t] : by_name) problems.push_back(name + " unexpected");
  if (!problems.empty())
    fail_runtime(where + ": read back, the tensors do not form the model: " + join(problems, "; "), kBugHint);
  m->eval();
  return m;
}

// ---- the formats ---------------------------------------------------------------------------------------------

// config.json of the base with torch_dtype (and transformers v5's dtype) set to the stored dtype.
// A GGUF base has no config.json: the one transformers would write for its hyper-parameters.
void write_config(const std::string& model_dir, const ModelHParams& hp, const std::string& dir, ExportDType dtype) {
  const bool gguf = is_gguf_file(model_dir);
  const std::string path = gguf ? model_dir : join_path(model_dir, "config.json");
  json j;
  try {
    j = json::parse(gguf ? hf_config_json(hp) : read_text_file(path));
  } catch (const json::exception& e) {
    fail_input(path + ": invalid JSON (" + e.what() + ")", "fix config.json");
  }
  j["torch_dtype"] = hf_dtype_name(dtype);
  if (j.contains("dtype")) j["dtype"] = hf_dtype_name(dtype);
  write_file_atomic(join_path(dir, "config.json"), j.dump(2) + "\n");
}

// generation_config.json from the hyper-parameters when the base has none.
void write_generation_config(const ModelHParams& hp, const std::string& dir) {
  if (path_exists(join_path(dir, "generation_config.json"))) return;
  json j = {{"_from_model_config", true}};
  if (hp.bos_token_id >= 0) j["bos_token_id"] = hp.bos_token_id;
  if (!hp.eos_token_ids.empty())
    j["eos_token_id"] = hp.eos_token_ids.size() == 1 ? json(hp.eos_token_ids[0]) : json(hp.eos_token_ids);
  if (hp.pad_token_id >= 0) j["pad_token_id"] = hp.pad_token_id;
  write_file_atomic(join_path(dir, "generation_config.json"), j.dump(2) + "\n");
}

// Rewrites adapter_model.safetensors with its factors cast to `dtype`.
void cast_adapter_file(const std::string& dir, ExportDType dtype) {
  const std::string file = join_path(dir, kPeftWeightsFile);
  auto tensors = load_safetensors(file);
  std::vector<std::pair<std::string, torch::Tensor>> cast;
  for (auto& [name, t] : tensors) cast.emplace_back(name, t.to(torch_type(dtype)));
  save_safetensors(file, cast, {{"format", "pt"}});
}

VerifyReport export_peft(const ExportOptions& o, Source& src, ExportDType dtype, const torch::Tensor& reference,
                         ExportResult& res) {
  AtomicDirectory dir(o.out, o.force);
  LT_CHECK(src.adapter.has_value(), "export_peft without an adapter");
  const LoraOptions& lopts = src.adapter->options;
  save_peft_adapter(dir.tmp_path(), src.lm.model, lopts, o.model_dir, src.injection.plan);
  if (dtype != ExportDType::F32) cast_adapter_file(dir.tmp_path(), dtype);
  if (lopts.rslora) res.notes.push_back("rsLoRA adapter: use_rslora is true in adapter_config.json (scaling alpha/sqrt(r))");
  VerifyReport v;
  if (o.verify) {
    // What was written is read back as any consumer would: its own parse and plan.
    LoadedModel back = load_base(o);
    load_peft_adapter(back.model, dir.tmp_path());
    v = compare(reference, probe_logits(back.model), dtype, "the base model + the re-saved adapter (lora/peft loader)");
  }
  throw_if_interrupted("export");  // nothing is under the output name yet
  dir.commit();
  return v;
}

VerifyReport export_merged(const ExportOptions& o, Source& src, ExportDType dtype, const torch::Tensor& reference) {
  AtomicDirectory dir(o.out, o.force);
  merge_lora(src.lm.model);
  std::vector<torch::Tensor> keep;  // the cast tensors stay alive while they are written
  std::vector<io::TensorToWrite> tensors;
  for (const auto& [name, t] : model_state(src.lm.model)) {
    keep.push_back(t.detach().to(torch::kCPU, torch_type(dtype)).contiguous());
    const auto& k = keep.back();
    tensors.push_back({name, safetensors_dtype_of(k.scalar_type()), std::vector<int64_t>(k.sizes().begin(), k.sizes().end()),
                       k.data_ptr(), static_cast<size_t>(k.numel()) * k.element_size()});
  }
  io::write_safetensors_sharded(dir.tmp_path(), tensors, o.max_shard_bytes, {{"format", "pt"}});
  keep.clear();
  write_config(o.model_dir, src.lm.hp, dir.tmp_path(), dtype);
  if (is_gguf_file(o.model_dir))  // its tokenizer and template come from the file's metadata
    write_hf_tokenizer_files(*src.tok, src.lm.hp, dir.tmp_path());
  else
    copy_hf_companions(o.model_dir, dir.tmp_path());
  write_generation_config(src.lm.hp, dir.tmp_path());
  VerifyReport v;
  if (o.verify) {
    LoadedModel back = load_model(dir.tmp_path(), {o.device, ComputeDType::F32});
    v = compare(reference, probe_logits(back.model), dtype, "the merged checkpoint (model loader)");
  }
  throw_if_interrupted("export");  // nothing is under the output name yet
  dir.commit();
  return v;
}

std::string gguf_name(const ExportOptions& o) {
  std::string stem = fs::path(o.out).stem().string();
  return stem.empty() ? basename_of(o.model_dir) : stem;
}

void note_q8_fallbacks(const NamedTensors& state, ExportDType dtype, ExportResult& res) {
  if (dtype != ExportDType::Q8_0) return;
  std::vector<std::string> f16;
  for (const auto& [name, t] : state) {
    std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
    if (storage_type(shape, io::GgmlType::Q8_0) == io::GgmlType::F16) f16.push_back(name);
  }
  if (!f16.empty())
    res.notes.push_back(std::to_string(f16.size()) + " tensor(s) with rows not a multiple of 32 stored as F16 "
                        "instead of Q8_0 (as llama.cpp's converter does), e.g. " + f16.front());
}

VerifyReport export_gguf(const ExportOptions& o, Source& src, ExportDType dtype, const torch::Tensor& reference,
                         ExportResult& res) {
  AtomicPath file = staged_output(o.out);  // an existing output was checked against --force before any work
  merge_lora(src.lm.model);
  const NamedTensors state = model_state(src.lm.model);
  note_q8_fallbacks(state, dtype, res);
  write_gguf_model(file.tmp_path(), state, src.lm.hp, *src.tok, ggml_type(dtype), gguf_name(o), o.model_dir);
  VerifyReport v;
  if (o.verify) {
    auto f = io::GgufFile::open(file.tmp_path());
    CausalLM back = model_from_state(src.lm.hp, read_gguf_model(*f, src.lm.hp, *src.tok), o.device, o.out);
    v = compare(reference, probe_logits(back), dtype,
                "the GGUF read back (tensors decoded, q/k rows un-permuted, metadata and vocabulary checked)");
  }
  throw_if_interrupted("export");  // nothing is under the output name yet
  file.commit();
  return v;
}

VerifyReport export_gguf_lora(const ExportOptions& o, Source& src, ExportDType dtype, const torch::Tensor& reference,
                              ExportResult& res) {
  AtomicPath file = staged_output(o.out);  // an existing output was checked against --force before any work
  const GgufLoraPlan plan = write_gguf_lora(file.tmp_path(), src.lm.model, ggml_type(dtype), gguf_name(o), o.model_dir);
  std::ostringstream a;
  a << "adapter.lora.alpha = " << plan.alpha;
  LT_CHECK(src.adapter.has_value(), "export_gguf_lora without an adapter");
  if (!src.adapter->options.rslora) a << " (lora_alpha)";
  else a << " (rsLoRA: lora_alpha * sqrt(r), so that llama.cpp's alpha/r equals alpha/sqrt(r))";
  res.notes.push_back(a.str());
  if (!plan.rescaled.empty())
    res.notes.push_back(std::to_string(plan.rescaled.size()) +
                        " module(s) have their own rank/alpha (rank_pattern / alpha_pattern): lora_b scaled so that "
                        "alpha/r gives their scaling, e.g. " + plan.rescaled.front());
  VerifyReport v;
  if (o.verify) {
    auto f = io::GgufFile::open(file.tmp_path());
    LoadedModel back = load_base(o);
    apply_lora_weights(back.model, read_gguf_lora(*f, src.lm.hp));
    v = compare(reference, probe_logits(back.model), dtype,
                "the base model + the GGUF adapter read back (lora_b rows un-permuted, scale alpha/r)");
  }
  throw_if_interrupted("export");  // nothing is under the output name yet
  file.commit();
  return v;
}

// ---- checks before any work -----------------------------------------------------------------------------------

// `gguf`: the base's tensor types when it is a GGUF file (read once by run_export).
ExportDType default_dtype(ExportFormat f, const std::string& model_dir, const std::optional<GgufBaseTypes>& gguf) {
  switch (f) {
    case ExportFormat::Peft: return ExportDType::F32;
    case ExportFormat::GgufLora: return ExportDType::F32;
    case ExportFormat::Gguf: return ExportDType::F16;
    case ExportFormat::Merged: {
      if (gguf) {  // the file's float type; bf16 for a quantized file (as HF checkpoints)
        const io::GgmlType t = gguf->counts.front().first;
        return t == io::GgmlType::F32 ? ExportDType::F32 : t == io::GgmlType::F16 ? ExportDType::F16 : ExportDType::BF16;
      }
      const std::string d = load_hparams(model_dir).torch_dtype;
      return d == "bfloat16" ? ExportDType::BF16 : d == "float16" ? ExportDType::F16 : ExportDType::F32;
    }
  }
  return ExportDType::F32;
}

void check_request(const ExportOptions& o, ExportDType dtype) {
  const std::string fmt = export_format_name(o.format);
  if (o.model_dir.empty()) fail_input("export needs a base model", "pass {opt:model} DIR (or {opt:run} RUN_DIR)");
  if (o.out.empty()) fail_input("export needs an output path", "pass {opt:out} PATH");
  if (o.adapter_dir.empty() && (o.format == ExportFormat::Peft || o.format == ExportFormat::GgufLora))
    fail_input("{opt:format} " + fmt + " exports an adapter, but none was given",
               "pass {opt:adapter} DIR (or {opt:run} RUN_DIR of a LoRA run); to convert a model alone use {opt:format} merged or gguf");
  if (dtype == ExportDType::Q8_0 && !is_gguf(o.format))
    fail_input("{opt:dtype} q8_0 is a GGUF type; {opt:format} " + fmt + " stores f32, f16 or bf16",
               "pick {opt:dtype} f32, f16 or bf16, or export {opt:format} gguf");
  if (is_gguf(o.format) && is_directory(o.out))
    fail_input(o.out + ": is a directory; {opt:format} " + fmt + " writes one file",
               "pass a file path such as " + join_path(o.out, "model.gguf"));
  if (path_exists(o.out) && !o.force)
    fail_input(o.out + ": already exists", "choose another output path, or pass {opt:force} to replace it");
  if (o.format == ExportFormat::Merged && o.max_shard_bytes == 0)
    fail_input("{opt:max_shard_size} must be positive");
  if (is_gguf(o.format) && !ends_with(o.out, ".gguf"))
    log::warn(o.out + ": GGUF files conventionally end in .gguf (llama.cpp tools and ollama look for it)");
}

// Refusals that depend on the model, made before the weights are touched.
void check_model(const ExportOptions& o, const Source& src, ExportDType dtype, const std::optional<GgufBaseTypes>& gguf,
                 ExportResult& res) {
  const ModelHParams& hp = src.lm.hp;
  if (is_gguf(o.format)) gguf_arch(hp, o.model_dir);
  if (is_gguf(o.format) && hp.arch == Arch::Mistral && hp.sliding_window > 0)
    res.notes.push_back("llama.cpp runs Mistral as arch 'llama' and attends to the whole context: outputs agree "
                        "with loratune's sliding window of " + std::to_string(hp.sliding_window) +
                        " tokens up to that context length");
  if (o.format == ExportFormat::Gguf) check_gguf_tokenizer(*src.tok, o.model_dir);
  if (!gguf) return;
  const GgufBaseTypes& types = *gguf;
  const bool merges = o.format == ExportFormat::Merged || o.format == ExportFormat::Gguf;
  if (merges && types.quantized())
    res.notes.push_back("the base " + o.model_dir + " is quantized (" + types.summary() +
                        "): it was dequantized to fp32 and the adapter merged into that, so this model is the "
                        "dequantized base + the adapter, stored as " + export_dtype_name(dtype) +
                        "; to keep the original quantized file, export the gguf-lora format and apply it with "
                        "llama.cpp's --lora");  // lt-allow-flag: llama.cpp's option, not loratune's
  if (o.format == ExportFormat::GgufLora)
    res.notes.push_back("the adapter applies to the very file it was tuned on: llama-cli -m " + o.model_dir +
                        " --lora " + o.out);  // lt-allow-flag: llama.cpp's command line
}

std::vector<std::string> list_files(const std::string& out, uint64_t& bytes) {
  std::vector<std::string> files;
  bytes = 0;
  if (!is_directory(out)) {
    files.push_back(basename_of(out));
    bytes = fs::file_size(out);
    return files;
  }
  for (const auto& e : fs::directory_iterator(out)) {
    if (!e.is_regular_file()) continue;
    files.push_back(e.path().filename().string());
    bytes += e.file_size();
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

ExportFormat parse_export_format(const std::string& name) {
  for (ExportFormat f : {ExportFormat::Peft, ExportFormat::Merged, ExportFormat::Gguf, ExportFormat::GgufLora})
    if (name == export_format_name(f)) return f;
  const std::vector<std::string> names{"peft", "merged", "gguf", "gguf-lora"};
  fail_input("unknown export format '" + name + "'" + did_you_mean(name, names), "formats: " + join(names, ", "));
}

const char* export_format_name(ExportFormat f) {
  switch (f) {
    case ExportFormat::Peft: return "peft";
    case ExportFormat::Merged: return "merged";
    case ExportFormat::Gguf: return "gguf";
    case ExportFormat::GgufLora: return "gguf-lora";
  }
  return "?";
}

ExportDType parse_export_dtype(const std::string& name) {
  if (name == "f32" || name == "fp32" || name == "float32") return ExportDType::F32;
  if (name == "f16" || name == "fp16" || name == "float16") return ExportDType::F16;
  if (name == "bf16" || name == "bfloat16") return ExportDType::BF16;
  if (name == "q8_0") return ExportDType::Q8_0;
  const std::vector<std::string> names{"f32", "f16", "bf16", "q8_0"};
  fail_input("unknown export dtype '" + name + "'" + did_you_mean(name, names),
             "dtypes: f32, f16, bf16 (all formats), q8_0 (gguf, gguf-lora)");
}

const char* export_dtype_name(ExportDType d) {
  switch (d) {
    case ExportDType::F32: return "f32";
    case ExportDType::F16: return "f16";
    case ExportDType::BF16: return "bf16";
    case ExportDType::Q8_0: return "q8_0";
  }
  return "?";
}

uint64_t parse_byte_size(const std::string& text, const std::string& flag) {
  static const std::vector<std::pair<std::string, uint64_t>> units = {
      {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20}, {"GiB", 1ULL << 30}, {"TiB", 1ULL << 40},
      {"KB", 1000ULL},     {"MB", 1000000ULL},  {"GB", 1000000000ULL}, {"TB", 1000000000000ULL}, {"B", 1ULL}};
  const std::string t = trim(text);
  uint64_t mult = 1;
  std::string number = t;
  for (const auto& [u, m] : units) {
    if (t.size() > u.size() && ends_with(t, u)) {
      mult = m;
      number = trim(t.substr(0, t.size() - u.size()));
      break;
    }
  }
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(number, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (number.empty() || used != number.size() || !(v > 0) || v * static_cast<double>(mult) > 1.8e19)
    fail_input(flag + " '" + text + "' is not a positive size", "write it like 5GB, 500MB, 2GiB or a number of bytes");
  return static_cast<uint64_t>(v * static_cast<double>(mult));
}

double verify_tolerance(ExportDType d) {
  switch (d) {
    case ExportDType::F32: return 1e-4;
    case ExportDType::F16: return 1e-2;
    case ExportDType::BF16: return 6e-2;
    case ExportDType::Q8_0: return 1e-1;
  }
  return 0;
}

ExportResult run_export(const ExportOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!o.model_dir.empty() && !is_directory(o.model_dir) && !is_gguf_file(o.model_dir))
    fail_input(o.model_dir + (path_exists(o.model_dir) ? ": neither a model directory nor a GGUF file"
                                                       : ": no such model directory or GGUF file"),
               "pass {opt:model} DIR (a Hugging Face model directory) or FILE.gguf (the base the adapter was tuned on)");
  std::optional<GgufBaseTypes> gguf;
  if (!o.model_dir.empty() && is_gguf_file(o.model_dir)) gguf = gguf_base_types(o.model_dir);
  const ExportDType dtype =
      o.dtype ? *o.dtype : (o.model_dir.empty() ? ExportDType::F32 : default_dtype(o.format, o.model_dir, gguf));
  check_request(o, dtype);
  Source src = load_source(o);
  throw_if_interrupted("export");
  ExportResult res;
  check_model(o, src, dtype, gguf, res);
  res.out = o.out;
  res.format = o.format;
  res.dtype = export_dtype_name(dtype);
  const torch::Tensor reference = o.verify ? probe_logits(src.lm.model) : torch::Tensor();
  switch (o.format) {
    case ExportFormat::Peft: res.verify = export_peft(o, src, dtype, reference, res); break;
    case ExportFormat::Merged: res.verify = export_merged(o, src, dtype, reference); break;
    case ExportFormat::Gguf: res.verify = export_gguf(o, src, dtype, reference, res); break;
    case ExportFormat::GgufLora: res.verify = export_gguf_lora(o, src, dtype, reference, res); break;
  }
  res.files = list_files(o.out, res.bytes);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace loratune::exporter
