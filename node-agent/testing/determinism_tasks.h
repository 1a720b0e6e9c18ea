// The tasks the determinism tests run (task_determinism_test.cc in-process, and
// determinism_task_main.cc in separate processes), so both run exactly the same work. Shapes are
// chosen so that every parallel loop of the CPU backend is split: 288 rows of activations are
// three matmul row tiles of 128 (the last one ragged), the 256-token head two column tiles, and
// 96 positions two attention query blocks. Small enough to run in well under a second.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plume/kernels/checkpoint.h"
#include "plume/kernels/gpt.h"
#include "task_work.h"

namespace plume::agent::testing {

inline kernels::ModelConfig DeterminismModel() {
  kernels::ModelConfig m;
  m.n_layer = 1;
  m.n_head = 2;
  m.n_embd = 64;
  m.context = 96;
  m.vocab = 256;
  return m;
}

inline std::vector<uint8_t> DeterminismText(size_t n, uint64_t salt) {
  std::string s;
  for (uint64_t i = 0; s.size() < n; ++i) {
    s += "Now is the winter of our discontent " + std::to_string((i * 7919 + salt) % 1000) + ". ";
  }
  s.resize(n);
  return {s.begin(), s.end()};
}

// Round 1 of a cosine schedule with warm-up, clipping and weight decay: every branch of the
// AdamW step and the global-norm reduction are in the path.
inline TrainTask DeterminismTrainTask(uint64_t seed) {
  TrainTask t;
  t.model = DeterminismModel();
  t.round = 1;
  t.local_steps = 3;
  t.step_offset = 3;
  t.total_steps = 9;
  t.batch = 3;
  t.seq_len = 96;
  t.lr = 3e-3;
  t.min_lr = 3e-4;
  t.warmup_steps = 2;
  t.schedule = "cosine";
  t.weight_decay = 0.1;
  t.grad_clip = 0.5;
  t.seed = seed;
  t.shard_index = 1;
  t.shard_count = 2;
  t.data = DeterminismText(12000, 1);
  t.eval = DeterminismText(400, 2);
  return t;
}

// Sampling with temperature and top-k from a seed-initialised model; the checkpoint is made on
// the CPU from a fixed seed, so every process builds the same bytes.
inline InferTask DeterminismInferTask(uint64_t seed) {
  InferTask t;
  t.model = DeterminismModel();
  auto params = kernels::InitialParams(t.model, 17);
  if (params) {
    auto bytes = kernels::SaveCheckpointBytes(t.model, *params);
    if (bytes) t.checkpoint.assign(bytes->begin(), bytes->end());
  }
  t.first_prompt_index = 4;
  t.prompts = {"ROMEO:", "Now is the winter", ""};
  t.max_new_tokens = 12;
  t.temperature = 0.9;
  t.top_k = 40;
  t.seed = seed;
  return t;
}

}  // namespace plume::agent::testing
