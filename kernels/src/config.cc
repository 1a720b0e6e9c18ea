// ModelConfig validation and parameter counts.
#include "plume/kernels/config.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace plume::kernels {
namespace {

Status CheckRange(const char* field, int value, int max) {
  if (value < 1 || value > max) {
    return Fail(std::string("model.") + field + ": " + std::to_string(value) +
                " is out of range; expected 1.." + std::to_string(max));
  }
  return {};
}

}  // namespace

Status ModelConfig::Validate() const {
  if (auto s = CheckRange("n_layer", n_layer, kMaxLayers); !s) return s;
  if (auto s = CheckRange("n_head", n_head, kMaxEmbd); !s) return s;
  if (auto s = CheckRange("n_embd", n_embd, kMaxEmbd); !s) return s;
  if (auto s = CheckRange("context", context, kMaxContext); !s) return s;
  if (auto s = CheckRange("vocab", vocab, kMaxVocab); !s) return s;
  if (n_embd % n_head != 0) {
    return Fail("model.n_embd: " + std::to_string(n_embd) + " is not divisible by model.n_head = " +
                std::to_string(n_head) + "; choose n_embd as a multiple of n_head");
  }
  return {};
}

int64_t ModelConfig::NumParams() const {
  const int64_t C = n_embd, L = n_layer;
  const int64_t per_layer = 2 * C + (3 * C * C + 3 * C) + (C * C + C) + 2 * C +
                            (4 * C * C + 4 * C) + (4 * C * C + C);
  return int64_t{padded_vocab()} * C + int64_t{context} * C + L * per_layer + 2 * C;
}

int64_t ModelConfig::NumRealParams() const {
  return NumParams() - int64_t{padded_vocab() - vocab} * n_embd;
}

}  // namespace plume::kernels

namespace plume::kernels {

Status TrainConfig::Validate(const ModelConfig& model) const {
  const auto positive = [](const char* field, int64_t v) -> Status {
    if (v < 1) return Fail(std::string("train.") + field + ": must be at least 1, got " + std::to_string(v));
    return {};
  };
  if (auto s = positive("steps", steps); !s) return s;
  if (auto s = positive("batch", batch); !s) return s;
  if (auto s = positive("seq_len", seq_len); !s) return s;
  if (batch > (1 << 20)) return Fail("train.batch: " + std::to_string(batch) + " is too large");
  if (seq_len > model.context) {
    return Fail("train.seq_len: " + std::to_string(seq_len) + " exceeds model.context = " +
                std::to_string(model.context));
  }
  if (!(lr > 0.0f) || !std::isfinite(lr)) return Fail("train.lr: must be a positive number");
  if (!(min_lr >= 0.0f) || min_lr > lr) return Fail("train.min_lr: must be in [0, train.lr]");
  if (warmup_steps < 0) return Fail("train.warmup_steps: must not be negative");
  if (!(weight_decay >= 0.0f)) return Fail("train.weight_decay: must not be negative");
  if (!(grad_clip >= 0.0f)) return Fail("train.grad_clip: must not be negative (0 disables)");
  if (!(beta1 >= 0.0f && beta1 < 1.0f)) return Fail("train.beta1: must be in [0, 1)");
  if (!(beta2 >= 0.0f && beta2 < 1.0f)) return Fail("train.beta2: must be in [0, 1)");
  if (eval_every < 0) return Fail("train.eval_every: must not be negative (0 disables)");
  if (eval_batches < 1) return Fail("train.eval_batches: must be at least 1");
  if (first_step < 0) return Fail("train.first_step: must not be negative");
  if (schedule_steps < 0) return Fail("train.schedule_steps: must not be negative");
  return {};
}

float TrainConfig::LearningRate(int64_t step) const {
  if (step < warmup_steps) {
    return lr * static_cast<float>(step + 1) / static_cast<float>(warmup_steps);
  }
  if (schedule == LrSchedule::kConstant) return lr;
  const int64_t total = schedule_steps > 0 ? schedule_steps : first_step + steps;
  const int64_t decay_steps = std::max<int64_t>(1, total - warmup_steps);
  const double progress = std::min(1.0, static_cast<double>(step - warmup_steps) / decay_steps);
  const double cosine = 0.5 * (1.0 + std::cos(3.141592653589793 * progress));
  return static_cast<float>(min_lr + (lr - min_lr) * cosine);
}

Status GenerateConfig::Validate() const {
  if (max_new_tokens < 0 || max_new_tokens > (1 << 20)) {
    return Fail("infer.max_new_tokens: must be in [0, 1048576], got " + std::to_string(max_new_tokens));
  }
  if (!(temperature >= 0.0f) || !std::isfinite(temperature)) {
    return Fail("infer.temperature: must be a number >= 0 (0 = greedy)");
  }
  if (top_k < 0) return Fail("infer.top_k: must not be negative (0 = no cut)");
  if (!(top_p > 0.0f && top_p <= 1.0f)) return Fail("infer.top_p: must be in (0, 1] (1 = no cut)");
  if (stop.size() > static_cast<size_t>(kMaxStopSequences)) {
    return Fail("infer.stop: at most " + std::to_string(kMaxStopSequences) + " stop sequences");
  }
  for (const std::string& s : stop) {
    if (s.empty() || s.size() > static_cast<size_t>(kMaxStopSequenceBytes)) {
      return Fail("infer.stop: each stop sequence must have 1.." +
                  std::to_string(kMaxStopSequenceBytes) + " bytes");
    }
  }
  if (batch < 1 || batch > 4096)
    return Fail("batch: sequences decoded together must be in 1..4096");
  if (first_index < 0) return Fail("first_index: must not be negative");
  return {};
}

}  // namespace plume::kernels
