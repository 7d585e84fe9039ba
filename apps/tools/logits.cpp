// loratune-logits: a test-side tool for the reference tests (tests/reference/*.py). Loads a model directory
// (+ an optional PEFT adapter) the way `loratune generate` does and writes, for given token ids, the fp32
// logits of loratune's forward as a safetensors file, so that transformers / PEFT / llama.cpp can be compared
// with loratune in Python. It can also print the ids loratune's tokenizer gives a text.
//
//   loratune-logits --model DIR [--adapter DIR] --ids '[[1,5,9],[1,7,3]]' --out logits.safetensors
//   loratune-logits --model DIR --encode "The licensee shall"     -> {"ids":[...],"eos":2}
#include <CLI/CLI.hpp>

#include <iostream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors.h"
#include "lora/peft.h"
#include "model/device.h"
#include "model/gguf_tokenizer.h"
#include "model/loader.h"
#include "tokenizer/tokenizer.h"

namespace {
loratune::LoadOptions load_options(const std::string& device, const std::string& dtype) {
  const auto d = loratune::parse_device_spec(device);
  const auto t = loratune::parse_compute_dtype(dtype);
  if (!d) loratune::fail_input("--device '" + device + "' is not a device", "use auto, cpu, cuda or cuda:N");
  if (!t) loratune::fail_input("--dtype '" + dtype + "' is not a dtype", "use auto, fp32, bf16 or fp16");
  return {*d, *t};
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loratune's logits for given token ids (test-side tool for the reference tests)"};
  std::string model, adapter, ids_json, out, encode, dtype = "fp32", device = "cpu";
  app.add_option("--model", model, "Model directory")->required();
  app.add_option("--adapter", adapter, "PEFT adapter directory applied on top");
  app.add_option("--ids", ids_json, "Token ids: a JSON array of equal-length arrays [[...], ...]");
  app.add_option("--out", out, "Output safetensors file (tensor 'logits', F32 [B, T, V])");
  app.add_option("--encode", encode, "Print the ids of this text (with BOS as the model adds it) as JSON");
  app.add_option("--dtype", dtype, "Compute dtype (fp32 | bf16 | fp16)");
  app.add_option("--device", device, "cpu | cuda[:N]");
  CLI11_PARSE(app, argc, argv);
  try {
    using loratune::fail_input;
    if (!encode.empty()) {
      const auto tok = loratune::load_tokenizer(model);
      std::cout << nlohmann::json{{"ids", tok.encode(encode, tok.special().add_bos)}, {"eos", tok.special().eos}}.dump()
                << std::endl;
      return 0;
    }
    if (ids_json.empty() || out.empty()) fail_input("nothing to do", "pass --ids and --out, or --encode");
    const auto j = nlohmann::json::parse(ids_json, nullptr, false);
    if (!j.is_array() || j.empty() || !j[0].is_array() || j[0].empty())
      fail_input("--ids is not a non-empty JSON array of arrays", "e.g. --ids '[[1,5,9]]'");
    const int64_t B = static_cast<int64_t>(j.size()), T = static_cast<int64_t>(j[0].size());
    std::vector<int64_t> flat;
    for (const auto& row : j) {
      if (!row.is_array() || static_cast<int64_t>(row.size()) != T) fail_input("--ids rows differ in length", "");
      for (const auto& v : row) {
        if (!v.is_number_integer()) fail_input("--ids holds a non-integer", "");
        flat.push_back(v.get<int64_t>());
      }
    }
    loratune::set_compute_threads(0);
    auto lm = loratune::load_model(model, load_options(device, dtype));
    if (!adapter.empty()) loratune::load_peft_adapter(lm.model, adapter);
    lm.model->eval();
    for (int64_t id : flat)
      if (id < 0 || id >= lm.hp.vocab_size) fail_input("token id " + std::to_string(id) + " outside the vocabulary", "");
    torch::NoGradGuard ng;
    auto ids = torch::tensor(flat, torch::kInt64).view({B, T}).to(lm.device);  // [B, T]
    auto logits = lm.model->forward(ids).to(torch::kCPU, torch::kFloat32).contiguous();  // [B, T, V]
    loratune::io::write_safetensors(
        out, {{"logits", loratune::io::DType::F32, {B, T, logits.size(2)}, logits.data_ptr(),
               static_cast<size_t>(logits.numel()) * 4}},
        {{"format", "pt"}});
  } catch (const loratune::Error& e) {
    std::cerr << "error: " << e.message() << "\n";
    return static_cast<int>(e.kind());
  }
  return 0;
}
