// Evaluate: the fixed-window evaluation. The training loop is in train_shard.cc.
#include <algorithm>
#include <chrono>
#include <string>

#include "plume/kernels/flops.h"
#include "plume/kernels/rng.h"
#include "runner_internal.h"
#include "status_macros.h"

namespace plume::kernels {

Status CheckTokenRange(std::span<const int32_t> tokens, int vocab, const char* what) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= vocab) {
      return Fail(std::string(what) + ": token " + std::to_string(tokens[i]) + " at position " +
                  std::to_string(i) + " is outside the model vocabulary [0, " +
                  std::to_string(vocab) + ")");
    }
  }
  return {};
}

Result<float> EvaluateModel(Gpt& model, std::span<const int32_t> tokens, const EvalConfig& eval) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n < 2) return Fail("evaluation needs at least 2 tokens, got " + std::to_string(n));
  if (eval.batch < 1 || eval.max_batches < 1 || eval.seq_len < 1) {
    return Fail("evaluation batch, seq_len and max_batches must be at least 1");
  }
  const int T = static_cast<int>(
      std::min<int64_t>({eval.seq_len, model.config().context, n - 1}));
  // Non-overlapping windows of T + 1 tokens starting at multiples of T; if there are more than
  // we want, take an evenly spaced subset (a deterministic function of the sizes only).
  const int64_t available = (n - 1) / T;
  const int64_t wanted = std::min<int64_t>(available, int64_t{eval.max_batches} * eval.batch);
  double loss_sum = 0.0;
  int64_t windows_done = 0;
  std::vector<int32_t> x, y;
  while (windows_done < wanted) {
    const int B = static_cast<int>(std::min<int64_t>(eval.batch, wanted - windows_done));
    x.resize(size_t(B) * T);
    y.resize(size_t(B) * T);
    for (int b = 0; b < B; ++b) {
      const int64_t start = (windows_done + b) * available / wanted * T;
      std::copy_n(tokens.begin() + start, T, x.begin() + int64_t{b} * T);
      std::copy_n(tokens.begin() + start + 1, T, y.begin() + int64_t{b} * T);
    }
    PLUME_ASSIGN_OR_RETURN(const float loss, model.Forward(x, y, B, T));
    loss_sum += double{loss} * B;
    windows_done += B;
  }
  return static_cast<float>(loss_sum / wanted);
}

Result<float> Evaluate(const ModelConfig& config, std::span<const float> params,
                       std::span<const int32_t> tokens, const EvalConfig& eval, Ops& ops) {
  PLUME_RETURN_IF_ERROR(CheckTokenRange(tokens, config.vocab, "evaluation data"));
  PLUME_ASSIGN_OR_RETURN(auto model, Gpt::Create(config, ops));
  PLUME_RETURN_IF_ERROR(model->SetParams(params));
  return EvaluateModel(*model, tokens, eval);
}

}  // namespace plume::kernels
