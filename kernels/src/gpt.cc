// Gpt lifecycle: allocation, initialisation, parameter transfer and the optimizer step. The
// forward/backward graph is in gpt_graph.cc.
#include "plume/kernels/gpt.h"

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "gpt_activations.h"
#include "plume/kernels/ops.h"
#include "plume/kernels/param_layout.h"
#include "plume/kernels/rng.h"
#include "status_macros.h"

namespace plume::kernels {

Gpt::Gpt(PrivateTag, const ModelConfig& config, Ops& ops)
    : config_(config), ops_(ops), num_params_(config.NumParams()),
      tensors_(ParamTensors(config)), acts_(std::make_unique<Activations>()) {}

Gpt::~Gpt() = default;

Result<std::unique_ptr<Gpt>> Gpt::Create(const ModelConfig& config, Ops& ops) {
  return Make(config, ops, /*training=*/true);
}

Result<std::unique_ptr<Gpt>> Gpt::CreateForInference(const ModelConfig& config, Ops& ops) {
  return Make(config, ops, /*training=*/false);
}

Status Gpt::NeedsTraining(const char* what) const {
  if (grads_) return {};
  return Fail(std::string(what) + ": this model was created for inference (no gradients or "
              "optimizer state); use Gpt::Create to train");
}

Result<std::unique_ptr<Gpt>> Gpt::Make(const ModelConfig& config, Ops& ops, bool training) {
  PLUME_RETURN_IF_ERROR(config.Validate());
  auto model = std::make_unique<Gpt>(PrivateTag{}, config, ops);
  const size_t bytes = static_cast<size_t>(model->num_params_) * sizeof(float);
  std::vector<std::unique_ptr<Buffer>*> slots = {&model->params_};
  if (training) slots.insert(slots.end(), {&model->grads_, &model->m_, &model->v_});
  for (auto* slot : slots) {
    auto buffer = ops.Alloc(bytes);
    if (!buffer) {
      return Fail("cannot allocate " + std::to_string(bytes >> 20) + " MiB for the model on " +
                  ops.DeviceName() + ": " + buffer.error().message);
    }
    *slot = std::move(*buffer);
  }
  return model;
}

float* Gpt::Param(ParamKind kind, int layer) {
  const auto& t = tensors_[static_cast<int>(kind)];
  return params_->f32() + t.offset + layer * t.per_layer_size;
}

float* Gpt::Grad(ParamKind kind, int layer) {
  const auto& t = tensors_[static_cast<int>(kind)];
  return grads_->f32() + t.offset + layer * t.per_layer_size;
}

namespace {

// One tensor's GPT-2 initialisation into `out` (t.size floats, zero on entry), drawing from `rng`
// in tensor order: Gpt::InitRandom and InitialParams share it, so they agree bit for bit.
void InitTensor(const ParamTensorInfo& t, const ModelConfig& config, SplitMix64& rng,
                std::span<float> out) {
  const double std_default = 0.02;
  const double std_residual = 0.02 / std::sqrt(2.0 * config.n_layer);
  const int64_t real_wte = int64_t{config.vocab} * config.n_embd;
  switch (t.kind) {
    case ParamKind::kLn1w: case ParamKind::kLn2w: case ParamKind::kLnfw:
      std::fill(out.begin(), out.end(), 1.0f);
      break;
    case ParamKind::kWte:
      for (int64_t i = 0; i < real_wte; ++i) out[i] = static_cast<float>(std_default * rng.Normal());
      break;
    case ParamKind::kAttprojw: case ParamKind::kFcprojw:
      for (float& x : out) x = static_cast<float>(std_residual * rng.Normal());
      break;
    case ParamKind::kWpe: case ParamKind::kQkvw: case ParamKind::kFcw:
      for (float& x : out) x = static_cast<float>(std_default * rng.Normal());
      break;
    default:  // biases
      break;
  }
}

}  // namespace

Status Gpt::InitRandom(uint64_t seed) {
  SplitMix64 rng(seed);
  // One tensor at a time, so the host never holds more than the largest tensor.
  for (const auto& t : tensors_) {
    std::vector<float> host(static_cast<size_t>(t.size), 0.0f);
    InitTensor(t, config_, rng, host);
    PLUME_RETURN_IF_ERROR(
        ops_.CopyToDevice(params_->f32() + t.offset, host.data(), host.size() * sizeof(float)));
  }
  if (m_) {
    PLUME_RETURN_IF_ERROR(ops_.Fill(m_->f32(), 0.0f, num_params_));
    PLUME_RETURN_IF_ERROR(ops_.Fill(v_->f32(), 0.0f, num_params_));
  }
  return ops_.Synchronize();
}

Status Gpt::SetParams(std::span<const float> params) {
  if (static_cast<int64_t>(params.size()) != num_params_) {
    return Fail("parameter vector has " + std::to_string(params.size()) +
                " floats; this model config needs " + std::to_string(num_params_));
  }
  PLUME_RETURN_IF_ERROR(ops_.CopyToDevice(params_->data(), params.data(), params.size_bytes()));
  if (m_) {
    PLUME_RETURN_IF_ERROR(ops_.Fill(m_->f32(), 0.0f, num_params_));
    PLUME_RETURN_IF_ERROR(ops_.Fill(v_->f32(), 0.0f, num_params_));
  }
  return ops_.Synchronize();
}

Result<std::vector<float>> Gpt::GetParams() {
  std::vector<float> host(static_cast<size_t>(num_params_));
  PLUME_RETURN_IF_ERROR(ops_.CopyToHost(host.data(), params_->data(), host.size() * sizeof(float)));
  return host;
}

Result<TrainState> Gpt::GetState() {
  PLUME_RETURN_IF_ERROR(NeedsTraining("GetState"));
  TrainState s;
  for (auto [dst, src] :
       {std::pair{&s.params, params_.get()}, {&s.m, m_.get()}, {&s.v, v_.get()}}) {
    dst->resize(static_cast<size_t>(num_params_));
    PLUME_RETURN_IF_ERROR(ops_.CopyToHost(dst->data(), src->data(), dst->size() * sizeof(float)));
  }
  return s;
}

Status Gpt::SetState(const TrainState& state) {
  PLUME_RETURN_IF_ERROR(NeedsTraining("SetState"));
  for (const auto* part : {&state.params, &state.m, &state.v}) {
    if (static_cast<int64_t>(part->size()) != num_params_) {
      return Fail("training state has a vector of " + std::to_string(part->size()) +
                  " floats; this model config needs " + std::to_string(num_params_));
    }
  }
  PLUME_RETURN_IF_ERROR(
      ops_.CopyToDevice(params_->data(), state.params.data(), state.params.size() * sizeof(float)));
  PLUME_RETURN_IF_ERROR(
      ops_.CopyToDevice(m_->data(), state.m.data(), state.m.size() * sizeof(float)));
  PLUME_RETURN_IF_ERROR(
      ops_.CopyToDevice(v_->data(), state.v.data(), state.v.size() * sizeof(float)));
  return ops_.Synchronize();
}

Result<std::vector<float>> Gpt::GetGrads() {
  PLUME_RETURN_IF_ERROR(NeedsTraining("GetGrads"));
  std::vector<float> host(static_cast<size_t>(num_params_));
  PLUME_RETURN_IF_ERROR(ops_.CopyToHost(host.data(), grads_->data(), host.size() * sizeof(float)));
  return host;
}

Status Gpt::ZeroGrad() {
  PLUME_RETURN_IF_ERROR(NeedsTraining("ZeroGrad"));
  return ops_.Fill(grads_->f32(), 0.0f, num_params_);
}

Result<float> Gpt::Step(const AdamWParams& adamw, float grad_clip) {
  PLUME_RETURN_IF_ERROR(NeedsTraining("Step"));
  PLUME_ASSIGN_OR_RETURN(const float norm, ops_.GlobalNorm(grads_->f32(), num_params_));
  if (!std::isfinite(norm)) {
    return Fail("gradient norm is not finite (the loss diverged); lower train.lr or set "
                "train.grad_clip");
  }
  if (grad_clip > 0.0f && norm > grad_clip) {
    PLUME_RETURN_IF_ERROR(ops_.Scale(grads_->f32(), grad_clip / norm, num_params_));
  }
  // One AdamW call per tensor so that only the matrices get weight decay.
  for (const auto& t : tensors_) {
    AdamWParams p = adamw;
    if (!t.weight_decay) p.weight_decay = 0.0f;
    PLUME_RETURN_IF_ERROR(ops_.AdamW(params_->f32() + t.offset, grads_->f32() + t.offset,
                                     m_->f32() + t.offset, v_->f32() + t.offset,
                                     static_cast<size_t>(t.size), p));
  }
  return norm;
}

Result<std::vector<float>> Gpt::LogitsAt(int b, int t) {
  if (!have_logits_) return Fail("LogitsAt needs a preceding Forward without targets");
  if (b < 0 || b >= last_B_ || t < 0 || t >= last_T_) {
    return Fail("LogitsAt(" + std::to_string(b) + ", " + std::to_string(t) +
                ") is outside the last forward's (B, T)");
  }
  std::vector<float> row(static_cast<size_t>(config_.vocab));
  const int64_t offset = (int64_t{b} * last_T_ + t) * config_.padded_vocab();
  PLUME_RETURN_IF_ERROR(
      ops_.CopyToHost(row.data(), acts_->logits + offset, row.size() * sizeof(float)));
  return row;
}

Result<std::vector<float>> InitialParams(const ModelConfig& config, uint64_t seed) {
  PLUME_RETURN_IF_ERROR(config.Validate());
  // Straight into the result: one model-sized buffer (no model, no copy out of one).
  std::vector<float> params(static_cast<size_t>(config.NumParams()), 0.0f);
  SplitMix64 rng(seed);
  for (const auto& t : ParamTensors(config)) {
    InitTensor(t, config, rng, std::span<float>(params).subspan(static_cast<size_t>(t.offset),
                                                               static_cast<size_t>(t.size)));
  }
  return params;
}

}  // namespace plume::kernels
