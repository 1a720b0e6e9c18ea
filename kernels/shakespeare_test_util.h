// The tinyshakespeare training tests' shared set-up (CPU in runner_test.cc, CUDA in
// cuda_training_test.cc): the file split into training text and the held-out last 10%, and the
// one learning-rate recipe both use. Test code only.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "plume/kernels/config.h"
#include "plume/kernels/tokenizer.h"

namespace plume::kernels::testing {

struct ShakespeareSplit {
  std::vector<int32_t> tokens;  // the whole file, one byte per token
  std::span<const int32_t> train() const {
    return std::span<const int32_t>(tokens).first(tokens.size() - tokens.size() / 10);
  }
  std::span<const int32_t> val() const {
    return std::span<const int32_t>(tokens).last(tokens.size() / 10);
  }
};

inline Result<ShakespeareSplit> LoadShakespeare() {
  auto tokens = LoadTextTokens(std::string(PLUME_DATA_DIR) + "/tinyshakespeare.txt");
  if (!tokens) return tl::unexpected(tokens.error());
  return ShakespeareSplit{std::move(*tokens)};
}

// AdamW at lr 3e-3, cosine to 3e-4, weight decay 0.1, clipping at 1, 16 evaluation batches.
inline TrainConfig ShakespeareTrain(int64_t steps, int batch, int seq_len, int64_t warmup) {
  TrainConfig t;
  t.steps = steps;
  t.batch = batch;
  t.seq_len = seq_len;
  t.lr = 3e-3f;
  t.min_lr = 3e-4f;
  t.warmup_steps = warmup;
  t.weight_decay = 0.1f;
  t.grad_clip = 1.0f;
  t.eval_batches = 16;
  t.seed = 1337;
  return t;
}

}  // namespace plume::kernels::testing
