// Shared by the reactor tests: a small inference job spec and a checkpoint it can name.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "plume/kernels/checkpoint.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/ops.h"

namespace plume::scheduler {

inline constexpr const char* kSpec = R"toml(
[job]
name = "reactor-test"
kind = "infer"
seed = 5
[infer]
checkpoint = "model.safetensors"
prompts = ["alpha", "beta", "gamma"]
max_new_tokens = 4
temperature = 0.0
top_k = 0
[network]
workers = 2
rounds = 1
[payment]
max_price_micro_plume_per_pflop = 1000
budget_micro_plume = 1000000
)toml";

inline std::vector<uint8_t> TinyCheckpoint() {
  kernels::ModelConfig model{1, 2, 32, 16, 256};
  auto ops = kernels::MakeCpuOps(1);
  auto gpt = kernels::Gpt::Create(model, *ops);
  EXPECT_TRUE(gpt);
  EXPECT_TRUE((*gpt)->InitRandom(1));
  return *kernels::SaveCheckpointBytes(model, *(*gpt)->GetParams());
}

}  // namespace plume::scheduler
