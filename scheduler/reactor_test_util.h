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
#include "plume/protocol/identity.h"
#include "plume/protocol/message.h"
#include "plume/protocol/receipt.h"

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

// A well-formed inference shard output (what the screens accept) for an assignment's plain-ASCII
// prompts: four tokens of "abcd" each, indices from the shard's first prompt.
inline std::string ShardOutput(wire::TaskAssign::Reader a) {
  const auto p = a.getParams().getInfer();
  std::string out;
  uint32_t index = p.getFirstPromptIndex();
  for (auto prompt : p.getPrompts()) {
    out += "{\"index\": " + std::to_string(index++) + ", \"prompt\": \"" +
           std::string(prompt.cStr()) + "\", \"completion\": \"abcd\", \"tokens\": 4}\n";
  }
  return out;
}

// Fills `result` (a new request) with the TaskResult of assignment `a` of `job`: output blob
// `output` made from `input`, and the receipt `agent` signs over them.
inline void FillTaskResult(MessageBuilder& result, const Identity& agent, const std::string& job,
                           wire::TaskAssign::Reader a, const Hash256& input,
                           const Hash256& output) {
  ReceiptFields f;
  f.job_id = job;
  f.task_id = a.getTaskId();
  f.attempt = a.getAttempt();
  f.inputs = {input};
  f.output = output;
  auto receipt = *SignReceipt(agent, f);
  auto tr = result.body().initTaskResult();
  tr.setTaskId(a.getTaskId());
  tr.setAttempt(a.getAttempt());
  tr.initOutput().setHash(AsData(output));
  tr.setReceipt(AsData(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(receipt.bytes.data()), receipt.bytes.size())));
  tr.setReceiptSignature(AsData(receipt.signature));
}

}  // namespace plume::scheduler
