// TrainShard and Evaluate: the training loop and the fixed-window evaluation.
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

namespace {

// Fills x, y (B, T) with B windows of T + 1 tokens at random offsets.
void SampleBatch(std::span<const int32_t> tokens, int B, int T, SplitMix64& rng,
                 std::vector<int32_t>& x, std::vector<int32_t>& y) {
  const uint64_t offsets = tokens.size() - T;  // the caller guarantees size >= T + 1
  for (int b = 0; b < B; ++b) {
    const size_t start = rng.Below(offsets);
    std::copy_n(tokens.begin() + start, T, x.begin() + size_t(b) * T);
    std::copy_n(tokens.begin() + start + 1, T, y.begin() + size_t(b) * T);
  }
}

Status CheckTrainInputs(const ModelConfig& model, const TrainConfig& train,
                        std::span<const int32_t> train_tokens,
                        std::span<const int32_t> val_tokens) {
  PLUME_RETURN_IF_ERROR(model.Validate());
  PLUME_RETURN_IF_ERROR(train.Validate(model));
  if (static_cast<int64_t>(train_tokens.size()) < int64_t{train.seq_len} + 1) {
    return Fail("training data has " + std::to_string(train_tokens.size()) +
                " tokens; it needs at least train.seq_len + 1 = " + std::to_string(train.seq_len + 1));
  }
  PLUME_RETURN_IF_ERROR(CheckTokenRange(train_tokens, model.vocab, "training data"));
  if (val_tokens.size() == 1) return Fail("validation data needs at least 2 tokens (or none)");
  return CheckTokenRange(val_tokens, model.vocab, "validation data");
}

}  // namespace

Result<TrainOutput> TrainShard(const ModelConfig& config, const TrainConfig& train,
                               std::span<const float> init_params,
                               std::span<const int32_t> train_tokens,
                               std::span<const int32_t> val_tokens, Ops& ops,
                               const ProgressFn& progress, const CancelFn& cancel) {
  PLUME_RETURN_IF_ERROR(CheckTrainInputs(config, train, train_tokens, val_tokens));
  PLUME_ASSIGN_OR_RETURN(auto model, Gpt::Create(config, ops));
  if (init_params.empty()) {
    PLUME_RETURN_IF_ERROR(model->InitRandom(train.seed));
  } else {
    PLUME_RETURN_IF_ERROR(model->SetParams(init_params));
  }
  const int B = train.batch, T = train.seq_len;
  const EvalConfig eval{B, T, train.eval_batches};
  SplitMix64 batch_rng(DeriveSeed(train.seed, 1));
  std::vector<int32_t> x(size_t(B) * T), y(size_t(B) * T);
  TrainOutput out;
  out.losses.reserve(static_cast<size_t>(train.steps));
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < train.steps; ++i) {
    if (cancel && cancel()) return Fail("cancelled");
    SampleBatch(train_tokens, B, T, batch_rng, x, y);
    PLUME_RETURN_IF_ERROR(model->ZeroGrad());
    PLUME_ASSIGN_OR_RETURN(const float loss, model->Forward(x, y, B, T));
    PLUME_RETURN_IF_ERROR(model->Backward());
    AdamWParams adamw;
    adamw.lr = train.LearningRate(train.first_step + i);
    adamw.beta1 = train.beta1;
    adamw.beta2 = train.beta2;
    adamw.weight_decay = train.weight_decay;
    adamw.step = i + 1;
    PLUME_ASSIGN_OR_RETURN(const float norm, model->Step(adamw, train.grad_clip));
    out.losses.push_back(loss);
    StepProgress p;
    const bool eval_now = train.eval_every > 0 && (i + 1) % train.eval_every == 0 &&
                          i + 1 < train.steps && !val_tokens.empty();
    if (eval_now) {
      PLUME_ASSIGN_OR_RETURN(p.val_loss, EvaluateModel(*model, val_tokens, eval));
    }
    if (progress) {
      PLUME_RETURN_IF_ERROR(ops.Synchronize());
      p.step = i + 1;
      p.steps = train.steps;
      p.loss = loss;
      p.lr = adamw.lr;
      p.grad_norm = norm;
      p.elapsed = std::chrono::steady_clock::now() - start;
      p.tokens_per_s = double(i + 1) * B * T / std::max(1e-9, p.elapsed.count());
      progress(p);
    }
  }
  if (!val_tokens.empty()) {
    PLUME_ASSIGN_OR_RETURN(out.val_loss, EvaluateModel(*model, val_tokens, eval));
  }
  PLUME_ASSIGN_OR_RETURN(out.params, model->GetParams());
  out.last_train_loss = out.losses.empty() ? 0.0f : out.losses.back();
  out.tokens = train.steps * B * T;
  out.flops = TrainFlops(config, T, B, train.steps);
  return out;
}

}  // namespace plume::kernels
