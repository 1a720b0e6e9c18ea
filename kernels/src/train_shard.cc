// TrainShard: the training loop, on one device or data-parallel over several replicas of the
// model in this process (one per local GPU). One code path for both: a single device is the
// case D = 1, which skips the all-reduce and so runs exactly the op sequence it always ran.
//
// One step with D replicas:
//   1. draw the batch (B, T) from the seed exactly as on one device;
//   2. replica d takes rows [row0_d, row0_d + rows_d), B split as evenly as possible (the first
//      B % D replicas get one row more), and runs ZeroGrad, Forward, Backward;
//   3. the gradients are averaged with the injected GradientReducer. Forward's loss is the mean
//      over the replica's own rows, so the full-batch gradient is sum_d (rows_d / B) * g_d; an
//      uneven split pre-scales g_d by rows_d * D / B so that the plain mean gives exactly that;
//   4. every replica clips by the global norm of the (identical) averaged gradients and steps
//      AdamW, so the replicas stay bit-identical without ever copying parameters.
#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "plume/kernels/allreduce.h"
#include "plume/kernels/flops.h"
#include "plume/kernels/gradient_reducer.h"
#include "plume/kernels/rng.h"
#include "runner_internal.h"
#include "status_macros.h"

namespace plume::kernels {
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

// Advances rng past the batches of `steps` steps without copying tokens, so that a segment
// starting at step `steps` draws exactly the batches the full run draws there.
void SkipBatches(size_t n_tokens, int B, int T, int64_t steps, SplitMix64& rng) {
  const uint64_t offsets = n_tokens - T;
  for (int64_t i = 0; i < steps * B; ++i) rng.Below(offsets);
}

Status CheckTrainInputs(const ModelConfig& model, const TrainConfig& train,
                        std::span<const int32_t> train_tokens,
                        std::span<const int32_t> val_tokens) {
  PLUME_RETURN_IF_ERROR(model.Validate());
  PLUME_RETURN_IF_ERROR(train.Validate(model));
  if (static_cast<int64_t>(train_tokens.size()) < int64_t{train.seq_len} + 1) {
    return Fail(
        "training data has " + std::to_string(train_tokens.size()) +
        " tokens; it needs at least train.seq_len + 1 = " + std::to_string(train.seq_len + 1));
  }
  PLUME_RETURN_IF_ERROR(CheckTokenRange(train_tokens, model.vocab, "training data"));
  if (val_tokens.size() == 1) return Fail("validation data needs at least 2 tokens (or none)");
  return CheckTokenRange(val_tokens, model.vocab, "validation data");
}

Status CheckReplicas(std::span<Ops* const> replicas, const GradientReducer* reducer, int B) {
  const int D = static_cast<int>(replicas.size());
  if (D == 0) return Fail("data-parallel training needs at least one Ops (device)");
  for (Ops* ops : replicas) {
    if (ops == nullptr) return Fail("data-parallel training: an Ops pointer is null");
    if (ops->backend() != replicas[0]->backend()) {
      return Fail(
          "data-parallel training: all replicas must use the same backend (the "
          "averaged gradient is only the same step everywhere if the math is the same)");
    }
  }
  if (D > 1 && (reducer == nullptr || reducer->size() != D)) {
    return Fail("data-parallel training over " + std::to_string(D) +
                " devices needs a "
                "gradient reducer spanning exactly those " +
                std::to_string(D) + " replicas");
  }
  if (B < D) {
    return Fail("train.batch = " + std::to_string(B) + " is smaller than the " + std::to_string(D) +
                " devices; each device needs at least one row: raise "
                "train.batch or use fewer devices");
  }
  return {};
}

struct Replica {
  Ops* ops = nullptr;
  std::unique_ptr<Gpt> model;
  int row0 = 0, rows = 0;   // this replica's slice of the batch
  float grad_scale = 1.0f;  // rows * D / B; exactly 1 for an even split
  float loss = 0.0f, norm = 0.0f;
};

// Runs fn on every replica. CUDA replicas run in one thread each so that the devices compute at
// the same time (each CudaOps selects its device on the calling thread). CPU replicas run in
// order: they share the same cores, and exist to check the data-parallel math against the
// reference backend, where parallel OpenMP teams would only oversubscribe.
Status ForEachReplica(std::vector<Replica>& reps, const std::function<Status(Replica&)>& fn) {
  if (reps.size() == 1 || reps[0].ops->backend() != Backend::kCuda) {
    for (size_t d = 0; d < reps.size(); ++d) {
      auto st = fn(reps[d]);
      if (!st) return Fail("device " + std::to_string(d) + ": " + st.error().message);
    }
    return {};
  }
  std::vector<Status> results(reps.size());
  std::vector<std::thread> threads;
  threads.reserve(reps.size());
  for (size_t d = 0; d < reps.size(); ++d) {
    threads.emplace_back([&, d] { results[d] = fn(reps[d]); });
  }
  for (auto& t : threads) t.join();
  for (size_t d = 0; d < reps.size(); ++d) {
    if (!results[d]) return Fail("device " + std::to_string(d) + ": " + results[d].error().message);
  }
  return {};
}

Result<std::vector<Replica>> MakeReplicas(const ModelConfig& config, const TrainConfig& train,
                                          std::span<const float> init_params,
                                          const TrainState* start_state,
                                          std::span<Ops* const> replicas) {
  const int D = static_cast<int>(replicas.size()), B = train.batch;
  std::vector<Replica> reps(replicas.size());
  int row0 = 0;
  for (int d = 0; d < D; ++d) {
    Replica& r = reps[d];
    r.ops = replicas[d];
    r.rows = B / D + (d < B % D ? 1 : 0);
    r.row0 = row0;
    row0 += r.rows;
    r.grad_scale = static_cast<float>(double(r.rows) * D / B);
    PLUME_ASSIGN_OR_RETURN(r.model, Gpt::Create(config, *r.ops));
    // The same seed, vector or state on every replica: identical starting parameters.
    if (start_state != nullptr) {
      PLUME_RETURN_IF_ERROR(r.model->SetState(*start_state));
    } else if (init_params.empty()) {
      PLUME_RETURN_IF_ERROR(r.model->InitRandom(train.seed));
    } else {
      PLUME_RETURN_IF_ERROR(r.model->SetParams(init_params));
    }
  }
  return reps;
}

// The replicas must end bit-identical; a difference means a nondeterministic op or reducer,
// and the result would depend on which replica we happened to read.
Status CheckReplicasAgree(std::vector<Replica>& reps, const std::vector<float>& params0) {
  for (size_t d = 1; d < reps.size(); ++d) {
    PLUME_ASSIGN_OR_RETURN(const auto params, reps[d].model->GetParams());
    if (params != params0) {
      return Fail("data-parallel replicas diverged: device " + std::to_string(d) +
                  " holds different parameters than device 0 after training (a "
                  "nondeterministic kernel or all-reduce); rerun on one device");
    }
  }
  return {};
}

// Which steps a call runs: all of them from the initial parameters (TrainShard), or a segment
// [first, last) from a given state (TrainSegment). One loop serves both, so a referee's replay
// of a segment is the very code the provider ran.
struct StepRange {
  int64_t first = 0, last = 0;
  const TrainState* start = nullptr;  // the state after step `first`; null: init_params
  TrainState* end = nullptr;          // receives the state after step `last`; null: not needed
};

Status CheckRange(const TrainConfig& train, const StepRange& range) {
  if (range.first < 0 || range.first >= range.last || range.last > train.steps) {
    return Fail("training segment [" + std::to_string(range.first) + ", " +
                std::to_string(range.last) + ") is not a non-empty range of the " +
                std::to_string(train.steps) + " steps");
  }
  return {};
}

Status MaybeCommit(const CommitHook& commit, const TrainConfig& train, int64_t step, Gpt& model) {
  if (commit.every <= 0 || !commit.fn) return {};
  if (step % commit.every != 0 && step != train.steps) return {};
  PLUME_ASSIGN_OR_RETURN(const TrainState state, model.GetState());
  return commit.fn(step, state);
}

Result<TrainOutput> TrainReplicas(const ModelConfig& config, const TrainConfig& train,
                                  std::span<const float> init_params,
                                  std::span<const int32_t> train_tokens,
                                  std::span<const int32_t> val_tokens,
                                  std::span<Ops* const> replicas, GradientReducer* reducer,
                                  const StepRange& range, const ProgressFn& progress,
                                  const CancelFn& cancel, const CommitHook& commit) {
  PLUME_RETURN_IF_ERROR(CheckTrainInputs(config, train, train_tokens, val_tokens));
  PLUME_RETURN_IF_ERROR(CheckRange(train, range));
  PLUME_RETURN_IF_ERROR(CheckReplicas(replicas, reducer, train.batch));
  PLUME_ASSIGN_OR_RETURN(auto reps,
                         MakeReplicas(config, train, init_params, range.start, replicas));
  const int B = train.batch, T = train.seq_len, D = static_cast<int>(reps.size());
  const EvalConfig eval{B, T, train.eval_batches};
  SplitMix64 batch_rng(DeriveSeed(train.seed, 1));
  SkipBatches(train_tokens.size(), B, T, range.first, batch_rng);
  const int64_t steps = range.last - range.first;
  std::vector<int32_t> x(size_t(B) * T), y(size_t(B) * T);
  std::vector<float*> grads;
  for (auto& r : reps) grads.push_back(r.model->grad_data());
  const size_t n = static_cast<size_t>(reps[0].model->num_params());
  TrainOutput out;
  out.losses.reserve(static_cast<size_t>(steps));
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = range.first; i < range.last; ++i) {
    if (cancel && cancel()) return Fail("cancelled");
    SampleBatch(train_tokens, B, T, batch_rng, x, y);
    PLUME_RETURN_IF_ERROR(ForEachReplica(reps, [&](Replica& r) -> Status {
      const auto rx = std::span(x).subspan(size_t(r.row0) * T, size_t(r.rows) * T);
      const auto ry = std::span(y).subspan(size_t(r.row0) * T, size_t(r.rows) * T);
      PLUME_RETURN_IF_ERROR(r.model->ZeroGrad());
      PLUME_ASSIGN_OR_RETURN(r.loss, r.model->Forward(rx, ry, r.rows, T));
      PLUME_RETURN_IF_ERROR(r.model->Backward());
      if (r.grad_scale != 1.0f) {
        PLUME_RETURN_IF_ERROR(r.ops->Scale(r.model->grad_data(), r.grad_scale, n));
      }
      // The reducer reads the gradients from another stream or the host.
      return D > 1 ? r.ops->Synchronize() : Status{};
    }));
    if (D > 1) PLUME_RETURN_IF_ERROR(reducer->AllReduceMean(grads, n));
    AdamWParams adamw;
    adamw.lr = train.LearningRate(train.first_step + i);
    adamw.beta1 = train.beta1;
    adamw.beta2 = train.beta2;
    adamw.weight_decay = train.weight_decay;
    adamw.step = i + 1;
    PLUME_RETURN_IF_ERROR(ForEachReplica(reps, [&](Replica& r) -> Status {
      PLUME_ASSIGN_OR_RETURN(r.norm, r.model->Step(adamw, train.grad_clip));
      return {};
    }));
    // Mean over all B rows: each replica's mean loss weighted by its rows, summed in order.
    double loss_sum = 0.0;
    for (const auto& r : reps) loss_sum += double{r.loss} * r.rows;
    const float loss = D == 1 ? reps[0].loss : static_cast<float>(loss_sum / B);
    out.losses.push_back(loss);
    PLUME_RETURN_IF_ERROR(MaybeCommit(commit, train, i + 1, *reps[0].model));
    StepProgress p;
    const bool eval_now = train.eval_every > 0 && (i + 1) % train.eval_every == 0 &&
                          i + 1 < train.steps && !val_tokens.empty();
    if (eval_now) {
      PLUME_ASSIGN_OR_RETURN(p.val_loss, EvaluateModel(*reps[0].model, val_tokens, eval));
    }
    if (progress) {
      for (auto& r : reps) PLUME_RETURN_IF_ERROR(r.ops->Synchronize());
      p.step = i + 1 - range.first;
      p.steps = steps;
      p.loss = loss;
      p.lr = adamw.lr;
      p.grad_norm = reps[0].norm;
      p.elapsed = std::chrono::steady_clock::now() - start;
      p.tokens_per_s = double(p.step) * B * T / std::max(1e-9, p.elapsed.count());
      progress(p);
    }
  }
  if (!val_tokens.empty()) {
    PLUME_ASSIGN_OR_RETURN(out.val_loss, EvaluateModel(*reps[0].model, val_tokens, eval));
  }
  PLUME_ASSIGN_OR_RETURN(out.params, reps[0].model->GetParams());
  PLUME_RETURN_IF_ERROR(CheckReplicasAgree(reps, out.params));
  if (range.end != nullptr) {
    PLUME_ASSIGN_OR_RETURN(*range.end, reps[0].model->GetState());
  }
  out.last_train_loss = out.losses.empty() ? 0.0f : out.losses.back();
  out.tokens = steps * B * T;
  out.flops = TrainFlops(config, T, B, steps);
  return out;
}

}  // namespace

Result<TrainOutput> TrainShard(const ModelConfig& config, const TrainConfig& train,
                               std::span<const float> init_params,
                               std::span<const int32_t> train_tokens,
                               std::span<const int32_t> val_tokens, Ops& ops,
                               const ProgressFn& progress, const CancelFn& cancel,
                               const CommitHook& commit) {
  Ops* const one[] = {&ops};
  return TrainReplicas(config, train, init_params, train_tokens, val_tokens, one, nullptr,
                       StepRange{0, train.steps}, progress, cancel, commit);
}

Result<TrainState> TrainSegment(const ModelConfig& config, const TrainConfig& train,
                                const TrainState& start, int64_t first, int64_t last,
                                std::span<const int32_t> train_tokens, Ops& ops,
                                const CommitHook& commit, const CancelFn& cancel) {
  Ops* const one[] = {&ops};
  TrainState end;
  PLUME_RETURN_IF_ERROR(TrainReplicas(config, train, {}, train_tokens, {}, one, nullptr,
                                      StepRange{first, last, &start, &end}, {}, cancel, commit));
  return end;
}

Result<TrainOutput> TrainShard(const ModelConfig& config, const TrainConfig& train,
                               std::span<const float> init_params,
                               std::span<const int32_t> train_tokens,
                               std::span<const int32_t> val_tokens, std::span<Ops* const> replicas,
                               GradientReducer& reducer, const ProgressFn& progress,
                               const CancelFn& cancel, const CommitHook& commit) {
  return TrainReplicas(config, train, init_params, train_tokens, val_tokens, replicas, &reducer,
                       StepRange{0, train.steps}, progress, cancel, commit);
}

Result<TrainOutput> TrainShardOnCudaDevices(const ModelConfig& config, const TrainConfig& train,
                                            std::span<const float> init_params,
                                            std::span<const int32_t> train_tokens,
                                            std::span<const int32_t> val_tokens,
                                            const std::vector<int>& devices,
                                            const ProgressFn& progress, const CancelFn& cancel,
                                            const CommitHook& commit) {
  if (devices.empty()) return Fail("TrainShardOnCudaDevices: no CUDA devices given");
  std::vector<std::unique_ptr<Ops>> owned;
  std::vector<Ops*> replicas;
  for (int device : devices) {
    PLUME_ASSIGN_OR_RETURN(auto ops, MakeCudaOps(device));
    replicas.push_back(ops.get());
    owned.push_back(std::move(ops));
  }
  if (devices.size() == 1) {
    return TrainShard(config, train, init_params, train_tokens, val_tokens, *replicas[0], progress,
                      cancel, commit);
  }
  // Without NCCL the host path gives the same averaged gradient (in a fixed order), slower.
  std::unique_ptr<GradientReducer> reducer;
  if (BuiltWithNccl()) {
    PLUME_ASSIGN_OR_RETURN(reducer, MakeNcclReducer(devices));
  } else {
    reducer = MakeHostReducer(replicas);
  }
  return TrainShard(config, train, init_params, train_tokens, val_tokens, replicas, *reducer,
                    progress, cancel, commit);
}

}  // namespace plume::kernels
