// The GPT model (GPT-2 architecture: token + position embeddings, pre-norm blocks of LayerNorm,
// causal multi-head attention and a GELU MLP, final LayerNorm, lm head tied to wte), written ONCE
// against the Ops interface so the CPU and CUDA backends run exactly the same graph.
//
// Memory: parameters, gradients and the two AdamW moments are each ONE contiguous backend
// buffer in the layout of param_layout.h. Activations are allocated lazily for the largest
// B*T seen so far; later calls with smaller B*T reuse them.
//
// Ownership and threading: a Gpt borrows its Ops (which must outlive it) and, like Ops, is used
// by one thread at a time. All methods return errors as values; none throws or exits.
//
// Typical training step:
//   model->ZeroGrad(); auto loss = model->Forward(x, y, B, T); model->Backward();
//   auto grad_norm = model->Step(adamw, grad_clip);
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "plume/kernels/config.h"
#include "plume/kernels/ops.h"
#include "plume/kernels/param_layout.h"

namespace plume::kernels {

// Everything a training run needs to resume bit-exactly after a step: the parameters and the
// two AdamW moments, each num_params() floats in the layout of param_layout.h. (The step count
// for AdamW's bias correction and the batch stream follow from the step index.)
struct TrainState {
  std::vector<float> params, m, v;
};

class Gpt {
 public:
  // Allocates parameters (zero), gradients and moments for `config` (validated here).
  static Result<std::unique_ptr<Gpt>> Create(const ModelConfig& config, Ops& ops);
  // Parameters only, a quarter of Create's memory: for Forward, LogitsAt and generation.
  // Backward, ZeroGrad, Step, GetGrads, GetState and SetState return an error.
  static Result<std::unique_ptr<Gpt>> CreateForInference(const ModelConfig& config, Ops& ops);
  ~Gpt();
  Gpt(const Gpt&) = delete;
  Gpt& operator=(const Gpt&) = delete;

  const ModelConfig& config() const { return config_; }
  int64_t num_params() const { return num_params_; }
  Ops& ops() { return ops_; }
  // The gradient buffer in backend memory (num_params() floats, layout of param_layout.h), so a
  // data-parallel trainer can average it across replicas between Backward() and Step().
  float* grad_data() { return grads_ ? grads_->f32() : nullptr; }  // null for inference

  // GPT-2 initialisation from `seed`: weights N(0, 0.02), the two residual projections
  // (attprojw, fcprojw) N(0, 0.02 / sqrt(2 * n_layer)), biases 0, LayerNorm gains 1, padded
  // vocabulary rows 0. The same seed gives the same parameters on every platform. Resets the
  // AdamW moments.
  Status InitRandom(uint64_t seed);
  // Replaces the parameters (layout of param_layout.h; size must be num_params()) and resets
  // the AdamW moments.
  Status SetParams(std::span<const float> params);
  Result<std::vector<float>> GetParams();
  Result<std::vector<float>> GetGrads();
  // The parameters and AdamW moments, copied to the host / replaced (every vector must hold
  // num_params() floats). What a commitment hashes and what a dispute replays from.
  Result<TrainState> GetState();
  Status SetState(const TrainState& state);

  // Runs the model on tokens (B, T), row-major, every token in [0, vocab), 1 <= T <= context.
  // With targets (same shape and range) returns the mean cross-entropy loss in nats and leaves
  // d(mean loss)/dlogits in place of the logits, ready for Backward(). Without targets (empty
  // span) returns 0 and keeps the logits for LogitsAt().
  Result<float> Forward(std::span<const int32_t> tokens, std::span<const int32_t> targets, int B,
                        int T);
  // Accumulates d(mean loss)/dparams into the gradients. Requires a preceding Forward with
  // targets and no other Forward in between.
  Status Backward();
  Status ZeroGrad();
  // Clips the global gradient norm to grad_clip (<= 0: no clipping) and applies AdamW; weight
  // decay only on the 2-D matrices (param_layout.h). Returns the norm before clipping.
  Result<float> Step(const AdamWParams& adamw, float grad_clip);

  // The real-vocabulary logits (vocab floats) of row (b, t) of the last Forward without targets.
  Result<std::vector<float>> LogitsAt(int b, int t);

  // ---- generation with a KV cache (gpt_decode.cc) --------------------------------------------
  // The cache holds, for each of `slots` sequences, the keys and values of up to `max_len`
  // positions in every layer, so that a new token costs one row through the model instead of
  // its whole window. A sequence starts with Prefill (its window through the full-T graph, which
  // fills its slot) and grows by Decode, one token per step, many sequences per step.
  //
  // Decode's arithmetic for a sequence depends only on that sequence (its slot, its tokens),
  // never on which other sequences share the step or how many there are (ops.h
  // MatmulForwardRows, AttentionDecode): a sequence gets the same logits, bit for bit, alone or
  // in any batch. Prefill and Decode agree with Forward on the same window up to float rounding
  // (different kernels, same math); they are not bit-identical to it.
  //
  // (Re)allocates the cache and the inference activations: 1 <= slots, 1 <= max_len <= context.
  // Every slot starts empty. Memory: 2 * n_layer * slots * max_len * n_embd floats.
  Status ReserveKvCache(int slots, int max_len);
  int kv_slots() const;
  int kv_max_len() const;
  // Positions slot `slot` holds (0 when empty or out of range).
  int SlotLength(int slot) const;
  // Runs tokens (1 <= size <= kv_max_len) as positions 0..size-1 of sequence `slot`, replacing
  // whatever the slot held, and returns the real-vocabulary logits of the last position.
  Result<std::vector<float>> Prefill(int slot, std::span<const int32_t> tokens);
  // One step for N = slots.size() distinct slots: row i appends tokens[i] at position
  // SlotLength(slots[i]) (which must be below kv_max_len, and the slot not empty) and attends
  // to everything the slot holds. Returns N rows of real-vocabulary logits, row-major.
  Result<std::vector<float>> Decode(std::span<const int32_t> slots,
                                    std::span<const int32_t> tokens);

 private:
  struct Activations;
  struct KvCache;
  // Passkey: only Create() can construct, yet std::make_unique works.
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  Gpt(PrivateTag, const ModelConfig& config, Ops& ops);

 private:
  static Result<std::unique_ptr<Gpt>> Make(const ModelConfig& config, Ops& ops, bool training);
  Status NeedsTraining(const char* what) const;
  Status EnsureActivations(int64_t rows);
  Status CheckTokens(std::span<const int32_t> tokens, const char* what, int B, int T) const;
  float* Param(ParamKind kind, int layer = 0);
  float* Grad(ParamKind kind, int layer = 0);

  ModelConfig config_;
  Ops& ops_;
  int64_t num_params_ = 0;
  std::array<ParamTensorInfo, kNumParamTensors> tensors_;
  std::unique_ptr<Buffer> params_, grads_, m_, v_;
  std::unique_ptr<Activations> acts_;
  std::unique_ptr<KvCache> kv_;       // null until ReserveKvCache
  std::vector<int32_t> tokens_host_;  // of the last Forward, for EncoderBackward
  int last_B_ = 0, last_T_ = 0;
  bool have_dlogits_ = false;
  bool have_logits_ = false;
};

// The seed's GPT-2 initialisation (Gpt::InitRandom) as a flat parameter vector, made on the CPU:
// what round 0 of a network job starts from. Scheduler, agent and auditor all call this, so
// they agree on it bit for bit.
Result<std::vector<float>> InitialParams(const ModelConfig& config, uint64_t seed);

}  // namespace plume::kernels
