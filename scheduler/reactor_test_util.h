// Shared by the reactor tests: a small inference job spec, a checkpoint it can name, and a
// well-formed shard output for it.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
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

// A well-formed inference shard output (what the screens accept) for plain-ASCII prompts
// starting at prompt index `first`: four tokens of "abcd" each.
inline std::string ShardOutput(uint32_t first, const std::vector<std::string>& prompts) {
  std::string out;
  for (uint32_t i = 0; i < prompts.size(); ++i) {
    out += "{\"index\": " + std::to_string(first + i) + ", \"prompt\": \"" + prompts[i] +
           "\", \"completion\": \"abcd\", \"tokens\": 4}\n";
  }
  return out;
}

}  // namespace plume::scheduler
