// loratune-bench-forward: load time and no-grad forward throughput of a model directory, for
// scripts/bench-forward.sh (which compares dtypes in one run and reports ratios).
#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/device.h"
#include "model/loader.h"

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
  CLI::App app{"Forward-throughput benchmark of a model directory"};
  std::string model, dtype = "fp32", device = "cpu";
  int64_t seq = 512, batch = 1, iters = 3, threads = 0;
  app.add_option("--model", model)->required();
  app.add_option("--dtype", dtype);
  app.add_option("--device", device);
  app.add_option("--seq", seq);
  app.add_option("--batch", batch);
  app.add_option("--iters", iters);
  app.add_option("--threads", threads);
  CLI11_PARSE(app, argc, argv);
  try {
    loratune::set_compute_threads(threads);
    auto lm = loratune::load_model(model, load_options(device, dtype));
    torch::NoGradGuard ng;
    torch::manual_seed(0);
    auto ids = torch::randint(lm.hp.vocab_size, {batch, seq}, torch::kInt64).to(lm.device);
    lm.model->forward(ids);  // warm-up
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < iters; ++i) lm.model->forward(ids);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double tps = static_cast<double>(batch * seq * iters) / s;
    // Forward FLOPs ~ 2 * params * tokens (+ attention 4 * layers * T * q_dim per token).
    double flops_per_token = 2.0 * lm.hp.num_parameters() + 4.0 * lm.hp.num_layers * seq * lm.hp.q_dim() / 2.0;
    nlohmann::json j{{"dtype", loratune::dtype_label(lm.dtype)}, {"device", lm.device.str()},
                     {"threads", at::get_num_threads()}, {"params", lm.hp.num_parameters()},
                     {"batch", batch}, {"seq", seq}, {"load_seconds", lm.load_seconds},
                     {"forward_tokens_per_second", tps}, {"gflops", tps * flops_per_token / 1e9}};
    std::cout << j.dump() << std::endl;
  } catch (const loratune::Error& e) {
    std::cerr << "error: " << e.message() << "\n";
    return static_cast<int>(e.kind());
  }
  return 0;
}
