// The model the scheduler's memory benches measure: GPT-2 medium's shape by default, or
// `n_layer n_embd vocab context` from the command line (64-wide heads). Shared by
// init_params_bench.cc and outer_step_bench.cc so that their figures are of the same model.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>

#include "plume/kernels/config.h"

inline std::optional<plume::kernels::ModelConfig> BenchModel(int argc, char** argv) {
  plume::kernels::ModelConfig model{24, 16, 1024, 1024, 50257};  // GPT-2 medium, 355 M params
  if (argc == 5) {
    model.n_layer = std::atoi(argv[1]);
    model.n_embd = std::atoi(argv[2]);
    model.vocab = std::atoi(argv[3]);
    model.context = std::atoi(argv[4]);
    model.n_head = model.n_embd % 64 == 0 ? model.n_embd / 64 : 1;
  }
  if (auto st = model.Validate(); !st) {
    std::fprintf(stderr, "%s\n", st.error().message.c_str());
    return std::nullopt;
  }
  return model;
}
