// run_export end to end in the library: every format and dtype round trips and verifies against the unmerged
// model; merged checkpoints shard by size; GGUF LoRA adapters carry alpha, permuted lora_b rows and rsLoRA;
// bad requests are input errors that leave nothing behind; a failed verification keeps nothing.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "export/export.h"
#include "export/gguf_lora.h"
#include "export/gguf_model.h"
#include "model/arch.h"
#include "export_helpers.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "lora/peft.h"
#include "model/gguf_tokenizer.h"
#include "model/loader.h"
#include "model/tensor_io.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

using namespace loratune;
using namespace loratune::exporter;
using Catch::Matchers::Contains;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Tuned {
  std::string model, adapter;
  torch::Tensor unmerged;  // [2, 8, V] logits of base + adapter
};

Tuned make_tuned(const lt_test::TempDir& tmp, const std::string& arch, const LoraOptions& lo, uint64_t seed = 7) {
  Tuned t;
  t.model = tmp.file(arch + "-base");
  t.adapter = tmp.file(arch + "-adapter");
  auto o = export_test::arch_options(arch);
  if (arch == "qwen3") o.head_dim = 32;
  export_test::make_model(t.model, o);
  t.unmerged = export_test::make_adapter(t.model, t.adapter, lo, seed);
  return t;
}

ExportOptions request(const Tuned& t, ExportFormat f, const std::string& out, const std::string& dtype = "") {
  ExportOptions o;
  o.model_dir = t.model;
  o.adapter_dir = t.adapter;
  o.format = f;
  o.out = out;
  if (!dtype.empty()) o.dtype = parse_export_dtype(dtype);
  return o;
}

using lt_test::input_error;

// Nothing named like `out` (the output or a temporary of it) in its directory.
bool nothing_left(const std::string& out) {
  const std::string stem = fs::path(out).filename().string();
  for (const auto& e : fs::directory_iterator(fs::path(out).parent_path()))
    if (e.path().filename().string().rfind(stem, 0) == 0) return false;
  return true;
}

}  // namespace

TEST_CASE("every format and dtype round trips and verifies", "[export]") {
  lt_test::TempDir tmp("lt-export");
  for (const char* arch : {"llama", "mistral", "qwen2", "qwen3"}) {
    SECTION(arch) {
      const Tuned t = make_tuned(tmp, arch, export_test::lora_options({"all-linear"}, 4, 8.0));
      const double scale = std::max(1.0, t.unmerged.abs().max().item<double>());
      struct Job {
        ExportFormat f;
        const char* dtype;
      };
      for (const Job& j : {Job{ExportFormat::Peft, "f32"}, Job{ExportFormat::Peft, "bf16"}, Job{ExportFormat::Merged, "f32"},
                           Job{ExportFormat::Merged, "f16"}, Job{ExportFormat::Merged, "bf16"}, Job{ExportFormat::Gguf, "f32"},
                           Job{ExportFormat::Gguf, "f16"}, Job{ExportFormat::Gguf, "bf16"}, Job{ExportFormat::Gguf, "q8_0"},
                           Job{ExportFormat::GgufLora, "f32"}, Job{ExportFormat::GgufLora, "f16"},
                           Job{ExportFormat::GgufLora, "q8_0"}}) {
        const std::string name = std::string(export_format_name(j.f)) + "-" + j.dtype;
        const std::string out = tmp.file(std::string(arch) + "-" + name + (j.f == ExportFormat::Gguf || j.f == ExportFormat::GgufLora ? ".gguf" : ""));
        const ExportResult r = run_export(request(t, j.f, out, j.dtype));
        INFO(arch << " " << name << ": max |diff| " << r.verify.max_abs_diff << " (tolerance " << r.verify.tolerance
                  << ", max |logit| " << r.verify.max_abs_logit << ")");
        CHECK(r.verify.ran);
        CHECK(r.verify.max_abs_diff <= r.verify.tolerance);
        CHECK(r.verify.max_abs_logit > 0.5);  // init std 0.1: logits of a few units, not near zero
        CHECK(r.dtype == j.dtype);
        CHECK(fs::exists(out));
        CHECK_FALSE(fs::exists(out + ".tmp-" + std::to_string(::getpid())));  // a directory's temporary
        CHECK_FALSE(fs::exists(out + ".tmp"));                                   // a file's
        // f32 exports are exact up to the merge's fp32 regrouping (see the lora tests: <= 1e-5 of the scale).
        if (std::string(j.dtype) == "f32") CHECK(r.verify.max_abs_diff <= 1e-5 * scale);
        if (j.f == ExportFormat::Peft && std::string(j.dtype) == "f32") CHECK(r.verify.max_abs_diff == 0.0);
      }
      // The merged f32 checkpoint loads with loratune's loader and carries what transformers needs.
      const std::string merged = tmp.file(std::string(arch) + "-merged-f32");
      auto back = load_model(merged, LoadOptions::cpu());
      CHECK(export_test::max_abs_diff(export_test::logits(back.model), t.unmerged) <= 1e-5 * scale);
      for (const char* f : {"config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json",
                            "generation_config.json", "special_tokens_map.json"})
        CHECK(fs::exists(merged + "/" + f));
      CHECK(json::parse(lt_test::read_file(merged + "/config.json"))["torch_dtype"] == "float32");
      CHECK(json::parse(lt_test::read_file(tmp.file(std::string(arch) + "-merged-bf16") + "/config.json"))["torch_dtype"] == "bfloat16");
      CHECK(io::SafetensorsFile::open(tmp.file(std::string(arch) + "-merged-f16") + "/model.safetensors")
                ->at("model.norm.weight").dtype == io::DType::F16);
      // The PEFT re-save in bf16 holds bf16 factors under PEFT's names.
      auto peft = io::SafetensorsFile::open(tmp.file(std::string(arch) + "-peft-bf16") + "/adapter_model.safetensors");
      CHECK(peft->at(peft_tensor_name("model.layers.0.self_attn.q_proj", LoraMatrix::A)).dtype == io::DType::BF16);
    }
  }
}

TEST_CASE("merged checkpoints shard by size and load back", "[export]") {
  lt_test::TempDir tmp("lt-export-shard");
  const Tuned t = make_tuned(tmp, "llama", export_test::lora_options({"q_proj", "v_proj"}, 4, 8.0));
  auto o = request(t, ExportFormat::Merged, tmp.file("sharded"), "f32");
  o.max_shard_bytes = 120000;  // the 400 x 64 fp32 embedding (102 kB) fits; the model (~0.5 MB) needs several
  const ExportResult r = run_export(o);
  std::vector<std::string> shards;
  for (const auto& f : r.files)
    if (f.rfind("model-", 0) == 0) shards.push_back(f);
  INFO("files: " << json(r.files).dump());
  CHECK(shards.size() >= 3);
  CHECK(shards.front() == "model-00001-of-0000" + std::to_string(shards.size()) + ".safetensors");
  CHECK(std::find(r.files.begin(), r.files.end(), "model.safetensors.index.json") != r.files.end());
  CHECK(std::find(r.files.begin(), r.files.end(), "model.safetensors") == r.files.end());
  for (const auto& s : shards) CHECK(fs::file_size(tmp.file("sharded/" + s)) <= 120000 + 4096);  // + header
  auto index = json::parse(lt_test::read_file(tmp.file("sharded/model.safetensors.index.json")));
  CHECK(index["weight_map"].size() == model_state(load_model(t.model, LoadOptions::cpu()).model).size());
  auto back = load_model(tmp.file("sharded"), LoadOptions::cpu());
  CHECK(export_test::max_abs_diff(export_test::logits(back.model), t.unmerged) <= 1e-5);
  CHECK(parse_byte_size("5GB", "--max-shard-size") == 5000000000ULL);
  CHECK(parse_byte_size("500MB", "x") == 500000000ULL);
  CHECK(parse_byte_size("2GiB", "x") == 2147483648ULL);
  CHECK(parse_byte_size("1024", "x") == 1024);
  CHECK_THAT(input_error([] { parse_byte_size("5 parsecs", "--max-shard-size"); }), Contains("--max-shard-size '5 parsecs'"));
  CHECK_THAT(input_error([] { parse_byte_size("0", "--max-shard-size"); }), Contains("not a positive size"));
}

TEST_CASE("GGUF LoRA adapters: names, shapes, alpha, permuted lora_b, rsLoRA and patterns", "[export][gguf]") {
  lt_test::TempDir tmp("lt-export-lora");
  SECTION("plain LoRA on llama") {
    const Tuned t = make_tuned(tmp, "llama", export_test::lora_options({"q_proj", "k_proj", "down_proj"}, 4, 8.0));
    const ExportResult r = run_export(request(t, ExportFormat::GgufLora, tmp.file("a.gguf")));
    CHECK(r.dtype == "f32");
    auto f = io::GgufFile::open(tmp.file("a.gguf"));
    CHECK(f->get_string("general.type") == "adapter");
    CHECK(f->get_string("general.architecture") == "llama");
    CHECK(f->get_string("adapter.type") == "lora");
    CHECK(f->get_f32("adapter.lora.alpha") == 8.0f);
    CHECK(f->tensors().size() == 2 * 3 * 2);  // 3 modules x 2 layers x (a, b)
    const auto& a = f->tensor("blk.1.attn_q.weight.lora_a");
    const auto& b = f->tensor("blk.1.attn_q.weight.lora_b");
    CHECK(a.ne == std::vector<int64_t>{64, 4});   // [in, r]
    CHECK(b.ne == std::vector<int64_t>{4, 64});   // [r, out]
    CHECK(f->tensor("blk.0.ffn_down.weight.lora_a").ne == std::vector<int64_t>{172, 4});
    // lora_a holds PEFT's A bytes as they are; lora_b of q / k holds B with the q / k row permutation.
    auto peft = load_safetensors(t.adapter + "/adapter_model.safetensors");
    auto A = peft.at(peft_tensor_name("model.layers.1.self_attn.q_proj", LoraMatrix::A));
    auto B = peft.at(peft_tensor_name("model.layers.1.self_attn.q_proj", LoraMatrix::B));
    auto Bk = peft.at(peft_tensor_name("model.layers.1.self_attn.k_proj", LoraMatrix::B));
    auto raw = [](const io::GgufTensorInfo& ti, std::vector<int64_t> hf_shape) {
      return torch::from_blob(const_cast<uint8_t*>(ti.data), hf_shape, torch::kFloat32);
    };
    CHECK(torch::equal(raw(a, {4, 64}), A));
    CHECK(torch::equal(raw(b, {64, 4}), permute_for_llama_rope(B, 4)));
    CHECK(torch::equal(raw(f->tensor("blk.1.attn_k.weight.lora_b"), {32, 4}), permute_for_llama_rope(Bk, 2)));
    CHECK_FALSE(torch::equal(raw(b, {64, 4}), B));
  }
  SECTION("rsLoRA stores alpha * sqrt(r) and the PEFT re-save keeps use_rslora") {
    const Tuned t = make_tuned(tmp, "qwen3", export_test::lora_options({"all-linear"}, 16, 4.0, /*rslora=*/true));
    const ExportResult r = run_export(request(t, ExportFormat::GgufLora, tmp.file("rs.gguf")));
    auto f = io::GgufFile::open(tmp.file("rs.gguf"));
    CHECK(f->get_f32("adapter.lora.alpha") == 16.0f);  // 4 * sqrt(16): llama.cpp's 16 / 16 = 4 / sqrt(16)
    CHECK_THAT(json(r.notes).dump(), Contains("rsLoRA"));
    CHECK(r.verify.max_abs_diff <= 1e-5 * std::max(1.0, r.verify.max_abs_logit));
    const ExportResult p = run_export(request(t, ExportFormat::Peft, tmp.file("rs-peft")));
    CHECK(json::parse(lt_test::read_file(tmp.file("rs-peft/adapter_config.json")))["use_rslora"] == true);
    CHECK(p.verify.max_abs_diff == 0.0);
    CHECK_THAT(json(p.notes).dump(), Contains("use_rslora"));
    // Merged and GGUF exports of the rsLoRA adapter verify as well (the scaling is alpha / sqrt(r) = 1).
    CHECK(run_export(request(t, ExportFormat::Gguf, tmp.file("rs-full.gguf"), "f32")).verify.ran);
  }
  SECTION("rank_pattern and alpha_pattern become rescaled lora_b under one alpha") {
    auto lo = export_test::lora_options({"q_proj", "v_proj", "up_proj"}, 8, 16.0);
    lo.rank_pattern = {{"v_proj", 2}};
    lo.alpha_pattern = {{"model.layers.1.mlp.up_proj", 64.0}};
    const Tuned t = make_tuned(tmp, "llama", lo);
    const ExportResult r = run_export(request(t, ExportFormat::GgufLora, tmp.file("pat.gguf")));
    CHECK_THAT(json(r.notes).dump(), Contains("rank_pattern / alpha_pattern"));
    auto f = io::GgufFile::open(tmp.file("pat.gguf"));
    CHECK(f->get_f32("adapter.lora.alpha") == 16.0f);
    CHECK(f->tensor("blk.0.attn_v.weight.lora_b").ne == std::vector<int64_t>{2, 32});
    CHECK(r.verify.max_abs_diff <= 1e-5 * std::max(1.0, r.verify.max_abs_logit));
    // Read back: each module's scaling is llama.cpp's alpha / r, and B carries the rest.
    auto hp = load_hparams(t.model);
    std::map<std::string, LoraWeights> got;
    for (auto& w : read_gguf_lora(*f, hp)) got[w.module_path] = w;
    CHECK(got.at("model.layers.0.self_attn.v_proj").scaling == 8.0);
    CHECK(got.at("model.layers.1.mlp.up_proj").scaling == 2.0);
  }
  SECTION("an adapter GGUF read against another model is refused") {
    const Tuned t = make_tuned(tmp, "llama", export_test::lora_options({"q_proj"}, 4, 8.0));
    run_export(request(t, ExportFormat::GgufLora, tmp.file("q.gguf")));
    auto f = io::GgufFile::open(tmp.file("q.gguf"));
    auto other = load_hparams(lt_test::fixture("models/qwen3"));
    CHECK_THAT(input_error([&] { read_gguf_lora(*f, other); }), Contains("architecture 'llama', the model is 'qwen3'"));
    auto fewer = load_hparams(t.model);
    fewer.num_layers = 1;
    CHECK_THAT(input_error([&] { read_gguf_lora(*f, fewer); }), Contains("blk.1.attn_q.weight.lora_a"));
  }
}

TEST_CASE("bad export requests are input errors that leave nothing behind", "[export][errors]") {
  lt_test::TempDir tmp("lt-export-bad");
  const Tuned t = make_tuned(tmp, "llama", export_test::lora_options({"q_proj", "v_proj"}, 4, 8.0));
  const std::string out = tmp.file("out.gguf");
  SECTION("an adapter for another base model") {
    const Tuned other = make_tuned(tmp, "qwen3", export_test::lora_options({"q_proj", "v_proj"}, 4, 8.0));
    auto o = request(t, ExportFormat::Gguf, out);
    o.adapter_dir = other.adapter;
    CHECK_THAT(input_error([&] { run_export(o); }), Contains("does not fit this model") && Contains("another base model"));
    CHECK(nothing_left(out));
  }
  SECTION("unknown dtype and format, q8_0 outside GGUF") {
    CHECK_THAT(input_error([&] { run_export(request(t, ExportFormat::Gguf, out, "q4_k")); }),
               Contains("unknown export dtype 'q4_k'"));
    CHECK_THAT(input_error([&] { parse_export_format("ggfu"); }), Contains("did you mean 'gguf'"));
    CHECK_THAT(input_error([&] { run_export(request(t, ExportFormat::Merged, tmp.file("m"), "q8_0")); }),
               Contains("q8_0 is a GGUF type"));
    CHECK(nothing_left(out));
    CHECK(nothing_left(tmp.file("m")));
  }
  SECTION("an adapter format without an adapter") {
    auto o = request(t, ExportFormat::GgufLora, out);
    o.adapter_dir.clear();
    CHECK_THAT(input_error([&] { run_export(o); }), Contains("{opt:format} gguf-lora exports an adapter, but none was given"));
  }
  SECTION("an existing output is kept unless force") {
    lt_test::write_file(out, "precious");
    CHECK_THAT(input_error([&] { run_export(request(t, ExportFormat::Gguf, out)); }), Contains("already exists"));
    CHECK(lt_test::read_file(out) == "precious");
    auto o = request(t, ExportFormat::Gguf, out);
    o.force = true;
    run_export(o);
    CHECK(io::GgufFile::open(out)->get_string("general.architecture") == "llama");
    fs::create_directories(tmp.file("dir.gguf"));
    auto d = request(t, ExportFormat::Gguf, tmp.file("dir.gguf"));
    d.force = true;
    CHECK_THAT(input_error([&] { run_export(d); }), Contains("is a directory"));
    fs::create_directories(tmp.file("existing"));
    CHECK_THAT(input_error([&] { run_export(request(t, ExportFormat::Merged, tmp.file("existing"))); }),
               Contains("already exists"));
  }
  SECTION("a missing model directory") {
    auto o = request(t, ExportFormat::Merged, tmp.file("m2"));
    o.model_dir = tmp.file("nope");
    CHECK_THAT(input_error([&] { run_export(o); }), Contains("nope: no such model directory or GGUF file"));
    write_file_atomic(tmp.file("file.txt"), "not a model");
    o.model_dir = tmp.file("file.txt");
    CHECK_THAT(input_error([&] { run_export(o); }), Contains("neither a model directory nor a GGUF file"));
  }
}

TEST_CASE("a verification that fails exits 1 and keeps nothing", "[export][errors]") {
  // A weight beyond the f16 range (65504) becomes inf in an f16 export: the merged checkpoint's logits are no
  // longer finite, which the verification must catch rather than ship.
  lt_test::TempDir tmp("lt-export-verify");
  const std::string model = tmp.file("m");
  export_test::make_model(model, export_test::arch_options("llama"));
  auto tensors = load_safetensors(model + "/model.safetensors");
  tensors.at("lm_head.weight").index_put_({5, 0}, 1e6);
  save_safetensors(model + "/model.safetensors", {tensors.begin(), tensors.end()}, {{"format", "pt"}});
  ExportOptions o;
  o.model_dir = model;
  o.format = ExportFormat::Merged;
  o.out = tmp.file("merged-f16");
  o.dtype = ExportDType::F16;
  try {
    run_export(o);
    FAIL("expected the verification to fail");
  } catch (const Error& e) {
    CHECK(e.kind() == ExitCode::Runtime);
    CHECK_THAT(e.message(), Contains("verification failed") && Contains("f16"));
  }
  CHECK(nothing_left(o.out));
  o.dtype = ExportDType::F32;
  CHECK(run_export(o).verify.max_abs_diff == 0.0);  // no adapter: the same weights
  o.verify = false;
  o.out = tmp.file("unverified-f16");
  o.dtype = ExportDType::F16;
  CHECK_FALSE(run_export(o).verify.ran);  // --no-verify keeps it
  CHECK(fs::exists(o.out));
}

TEST_CASE("a GGUF export is a base model again: SentencePiece vocabulary, logits, every export from it", "[export][gguf]") {
  lt_test::TempDir tmp("lt-export-gguf-base");
  for (const char* arch : {"llama", "qwen2"}) {
    SECTION(arch) {
      const Tuned t = make_tuned(tmp, arch, export_test::lora_options({"all-linear"}, 4, 8.0));
      const double scale = std::max(1.0, t.unmerged.abs().max().item<double>());
      ExportOptions o = request(t, ExportFormat::Gguf, tmp.file(std::string(arch) + "-base.gguf"), "f32");
      o.adapter_dir.clear();
      run_export(o);
      const std::string gguf = o.out;
      // The vocabulary written as llama.cpp's "llama" (SentencePiece) type reads back as the same tokenizer.
      const Tokenizer a = Tokenizer::from_model_dir(t.model), b = load_tokenizer(gguf);
      CHECK(b.kind() == TokenizerKind::SentencePiece);
      CHECK(b.vocab_size() == a.vocab_size());
      for (const char* text : {"The licensee shall not sublicense the Software.", "  two  spaces, tabs\tand\nlines",
                               "Ünïcödé 日本語 123 ✓", "", " leading space"}) {
        INFO(text);
        CHECK(b.encode(text, true, false) == a.encode(text, true, false));
        CHECK(b.decode(a.encode(text, false, false)) == a.decode(a.encode(text, false, false)));
      }
      CHECK(b.special().bos == a.special().bos);
      CHECK(b.special().eos == a.special().eos);
      CHECK(b.special().unk == a.special().unk);
      CHECK(b.special().add_bos == a.special().add_bos);
      // The model from the GGUF computes what the directory computes (f32, q/k un-permuted).
      auto from_gguf = load_model(gguf, LoadOptions::cpu());
      auto from_dir = load_model(t.model, LoadOptions::cpu());
      CHECK(export_test::max_abs_diff(export_test::logits(from_gguf.model), export_test::logits(from_dir.model)) <= 1e-6 * scale);
      // Every export from the GGUF base, with the adapter tuned on the directory, verifies; merged gets the
      // tokenizer and config from the GGUF's metadata and loads as the tuned model; an f32 base is not "dequantized".
      Tuned g = t;
      g.model = gguf;
      for (ExportFormat f : {ExportFormat::Peft, ExportFormat::Merged, ExportFormat::Gguf, ExportFormat::GgufLora}) {
        const bool file = f == ExportFormat::Gguf || f == ExportFormat::GgufLora;
        const std::string out = tmp.file(std::string(arch) + "-from-gguf-" + export_format_name(f) + (file ? ".gguf" : ""));
        const ExportResult r = run_export(request(g, f, out, "f32"));
        INFO(export_format_name(f) << ": max |diff| " << r.verify.max_abs_diff);
        CHECK(r.verify.ran);
        CHECK(r.verify.max_abs_diff <= 1e-5 * scale);
        for (const auto& n : r.notes) CHECK(n.find("dequantized") == std::string::npos);
        if (f == ExportFormat::GgufLora) CHECK_THAT(r.notes.front(), Contains("-m " + gguf + " --lora " + out));
      }
      const std::string merged = tmp.file(std::string(arch) + "-from-gguf-merged");
      for (const char* f : {"config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json",
                            "generation_config.json", "special_tokens_map.json"})
        CHECK(fs::exists(merged + "/" + f));
      CHECK(json::parse(lt_test::read_file(merged + "/config.json"))["torch_dtype"] == "float32");
      auto back = load_model(merged, LoadOptions::cpu());
      CHECK(export_test::max_abs_diff(export_test::logits(back.model), t.unmerged) <= 1e-5 * scale);
      CHECK(Tokenizer::from_model_dir(merged).encode("The Software.", true, false) == a.encode("The Software.", true, false));
      // The merged default dtype from an f32 GGUF is f32 (the file's float type).
      ExportOptions d = request(g, ExportFormat::Merged, tmp.file(std::string(arch) + "-from-gguf-default"));
      CHECK(run_export(d).dtype == "f32");
    }
  }
}

TEST_CASE("a llama3-RoPE GGUF is a base model: the scaling parameters come back from rope_freqs.weight", "[export][gguf]") {
  lt_test::TempDir tmp("lt-export-gguf-l3");
  struct Case {
    const char* name;
    const char* scaling;
  };
  for (const Case& c : {Case{"orig64", R"({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                          "high_freq_factor": 4.0, "original_max_position_embeddings": 64})"},
                        Case{"llama3.2", R"({"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})"}}) {
    SECTION(c.name) {
      const std::string dir = tmp.file(c.name);
      auto o = export_test::arch_options("llama");
      o.max_position_embeddings = 131072;
      export_test::make_model(dir, o);
      export_test::set_json_key(dir + "/config.json", "rope_scaling", c.scaling);
      Tuned t;
      t.model = dir;
      ExportOptions e = request(t, ExportFormat::Gguf, tmp.file(std::string(c.name) + ".gguf"), "f32");
      run_export(e);
      auto from_dir = load_model(dir, LoadOptions::cpu());
      auto from_gguf = load_model(e.out, LoadOptions::cpu());
      const RopeConfig &a = from_dir.hp.rope, &b = from_gguf.hp.rope;
      CHECK(b.type == RopeType::Llama3);
      CHECK(b.factor == a.factor);
      CHECK(b.low_freq_factor == a.low_freq_factor);
      CHECK(b.high_freq_factor == a.high_freq_factor);
      CHECK(b.original_max_position_embeddings == a.original_max_position_embeddings);
      CHECK(export_test::max_abs_diff(export_test::logits(from_gguf.model), export_test::logits(from_dir.model)) <= 1e-6);
      // Divisors that are no llama3 scaling are refused naming the tensor.
      const std::string bad = tmp.file(std::string(c.name) + "-bad.gguf");
      std::string bytes = lt_test::read_file(e.out);
      {
        auto f = io::GgufFile::open(e.out);
        const auto& rf = f->tensor("rope_freqs.weight");
        const float odd = 3.3f;
        std::memcpy(&bytes[f->data_offset() + rf.offset + 4 * (rf.numel() - 1)], &odd, 4);
      }
      lt_test::write_file(bad, bytes);
      CHECK_THAT(input_error([&] { load_model(bad, LoadOptions::cpu()); }),
                 Contains("rope_freqs.weight") && Contains("is not llama3 RoPE scaling"));
    }
  }
}
