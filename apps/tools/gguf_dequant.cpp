// loratune-gguf-dequant: reads a GGUF file with loratune's validating reader and writes every tensor,
// dequantized to F32 by loratune's codec, into a safetensors file (names as in the GGUF; shape in row-major
// order, i.e. ne reversed), for tests/reference/test_gguf_quants.py to compare with gguf-py. Not installed.
//   loratune-gguf-dequant FILE.gguf OUT.safetensors
// Prints one JSON object: {"tensors": N, "types": {"Q4_1": count, ...}}. Errors: exit 2 with the message.
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/gguf_reader.h"
#include "io/safetensors.h"

using namespace loratune;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: loratune-gguf-dequant FILE.gguf OUT.safetensors\n";
    return 2;
  }
  try {
    const auto f = io::GgufFile::open(argv[1]);
    std::vector<std::vector<float>> values;
    values.reserve(f->tensors().size());
    std::vector<io::TensorToWrite> out;
    std::map<std::string, int> types;
    for (const io::GgufTensorInfo& t : f->tensors()) {
      values.push_back(io::ggml_decode(t.data, t.numel(), t.type));
      std::vector<int64_t> shape(t.ne.rbegin(), t.ne.rend());
      out.push_back(io::TensorToWrite{t.name, io::DType::F32, shape, values.back().data(), values.back().size() * 4});
      ++types[io::ggml_type_name(t.type)];
    }
    io::write_safetensors(argv[2], out);
    std::cout << nlohmann::json{{"tensors", out.size()}, {"types", types}}.dump() << "\n";
    return 0;
  } catch (const Error& e) {
    std::cerr << "error: " << e.message() << "\n";
    return 2;
  }
}
