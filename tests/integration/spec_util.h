// Job specs and model files for the integration tests: tiny GPTs (1-2 layers, width 32) so the
// whole suite runs in well under five minutes on two cores.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "plume/kernels/config.h"

namespace plume::itest {

kernels::ModelConfig TinyModel();

struct TrainShape {
  int workers = 2;
  int rounds = 3;
  int local_steps = 20;
  int batch = 8;
  int seq_len = 32;
  double lr = 3e-3;
  double val_fraction = 0.1;
  uint64_t seed = 1337;
  double outer_lr = 0.7;
  double outer_momentum = 0.9;
};

// Writes <dir>/<name>.toml for a train job on `data` and returns its path.
std::filesystem::path WriteTrainSpec(const std::filesystem::path& dir, const std::string& name,
                                     const std::filesystem::path& data, const TrainShape& shape);
// Writes an infer spec over `checkpoint` and returns its path.
std::filesystem::path WriteInferSpec(const std::filesystem::path& dir, const std::string& name,
                                     const std::filesystem::path& checkpoint,
                                     const std::vector<std::string>& prompts, int workers,
                                     uint64_t seed, int max_new_tokens = 16);
// A seeded random-init checkpoint of TinyModel().
std::filesystem::path WriteRandomCheckpoint(const std::filesystem::path& dir, uint64_t seed);

}  // namespace plume::itest
