// The smallest model and text the agent's task tests run (task_work_test.cc, task_inputs_test.cc):
// one layer of width 32, byte vocabulary, on one CPU thread (CI's 2 cores are shared with other
// tests).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plume/kernels/gpt.h"
#include "task_work.h"

namespace plume::agent::testing {

inline const DeviceChoice kOneThread{.cuda_device = -1, .cuda_devices = {}, .threads = 1};

inline kernels::ModelConfig Tiny() {
  kernels::ModelConfig m;
  m.n_layer = 1;
  m.n_head = 2;
  m.n_embd = 32;
  m.context = 32;
  m.vocab = 256;
  return m;
}

// n bytes of English, repeating.
inline std::vector<uint8_t> Text(size_t n) {
  std::string s;
  while (s.size() < n) s += "To be, or not to be, that is the question. ";
  s.resize(n);
  return {s.begin(), s.end()};
}

// A training task on Tiny(): three steps of shard 1 of 2 over 4000 bytes of Text, with 600 bytes
// to evaluate on.
inline TrainTask TinyTrain() {
  TrainTask t;
  t.model = Tiny();
  t.local_steps = 3;
  t.total_steps = 6;
  t.batch = 2;
  t.seq_len = 16;
  t.lr = 1e-3;
  t.schedule = "constant";
  t.seed = 5;
  t.shard_index = 1;
  t.shard_count = 2;
  t.data = Text(4000);
  t.eval = Text(600);
  return t;
}

}  // namespace plume::agent::testing
