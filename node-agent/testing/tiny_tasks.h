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

}  // namespace plume::agent::testing
