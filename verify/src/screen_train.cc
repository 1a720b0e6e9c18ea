// The training-delta screen: the blob is exactly the job's model in F32, every value finite, not
// all zero, and no parameter moved further than H AdamW steps can move it.
//
// The bound (per parameter; u_t is AdamW's normalised step, eta_t the learning rate of step t,
// lambda the weight decay, b1, b2 the betas; the kernels' update is
//   p_t = p_{t-1} - eta_t (u_t + lambda p_{t-1}),  u_t = mhat_t / (sqrt(vhat_t) + eps)):
//
//  1. |u_t| <= r_t, independent of the gradients. With m_t = (1-b1) sum_i b1^(t-i) g_i and
//     v_t = (1-b2) sum_i b2^(t-i) g_i^2, Cauchy-Schwarz on b1^(t-i) g_i =
//     (b1^(t-i) / b2^((t-i)/2)) (b2^((t-i)/2) g_i) gives
//       |m_t| <= (1-b1) sqrt(S_t) sqrt(v_t / (1-b2)),  S_t = sum_{k<t} (b1^2/b2)^k,
//     and with the bias corrections mhat = m/(1-b1^t), vhat = v/(1-b2^t), eps >= 0:
//       r_t = (1-b1)/(1-b1^t) * sqrt((1-b2^t)/(1-b2)) * sqrt(S_t).
//     r_1 = 1; for b1 = 0.9, b2 = 0.95 r_t rises to about 1.17. Gradient clipping rescales g,
//     which u_t does not see, so clipping does not enter.
//  2. Weight decay: |p_t| <= |1 - eta_t lambda| |p_{t-1}| + eta_t r_t =: P_t, P_0 = max|p_0|, and
//     |p_t - p_{t-1}| <= eta_t (r_t + lambda P_{t-1}). Summed over the H steps this bounds
//     |p_H - p_0|. Tensors without decay (biases, LayerNorm) have lambda = 0: sum eta_t r_t.
//  3. Slack, so an honest delta never fails: the kernels compute in float (each step rounds p by
//     up to half an ulp, the CUDA kernel orders the arithmetic differently, and the delta itself
//     is a float subtraction), so the bound is widened by 25% plus 2^-22 * (H + 2) * max|p|.
// A cheater can still return any delta inside the bound (a scaled-down or made-up one): the
// bound only refuses what no honest run can produce.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "plume/kernels/checkpoint.h"
#include "plume/verify/screen.h"

namespace plume::verify {
namespace {

constexpr double kSlackFactor = 1.25;
constexpr double kFloatUlp = 1.0 / (1 << 22);  // two float epsilons, relative
// safetensors header of a GPT checkpoint: ~100 bytes per tensor; 1 MiB covers 256 layers.
constexpr uint64_t kHeaderBytesMax = 1 << 20;

Verdict Refuse(Reason r, std::string message) { return Verdict{r, std::move(message)}; }

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Verdict CheckMetadata(const std::map<std::string, std::string>& metadata,
                      const kernels::ModelConfig& m) {
  const std::pair<const char*, int> want[] = {{"plume.n_layer", m.n_layer},
                                              {"plume.n_head", m.n_head},
                                              {"plume.n_embd", m.n_embd},
                                              {"plume.context", m.context},
                                              {"plume.vocab", m.vocab}};
  for (const auto& [key, value] : want) {
    auto it = metadata.find(key);
    if (it == metadata.end() || it->second != std::to_string(value)) {
      return Refuse(Reason::kWrongModel, std::string("metadata ") + key + " is '" +
                                             (it == metadata.end() ? "" : it->second) +
                                             "', the job's model has " + std::to_string(value));
    }
  }
  return {};
}

// Names, shapes and dtypes against what the kernels write for this model.
Verdict CheckStructure(const kernels::CheckpointSummary& file, const kernels::ModelConfig& m) {
  std::map<std::string, const kernels::TensorSummary*> got;
  for (const auto& t : file.tensors) got[t.name] = &t;
  const std::vector<kernels::TensorSummary> want = kernels::CheckpointTensors(m);
  for (const auto& w : want) {
    auto it = got.find(w.name);
    if (it == got.end()) return Refuse(Reason::kWrongTensor, "missing tensor '" + w.name + "'");
    if (it->second->shape != w.shape) {
      return Refuse(Reason::kWrongShape, "tensor '" + w.name + "' has shape " +
                                             ShapeText(it->second->shape) + ", the model needs " +
                                             ShapeText(w.shape));
    }
    if (it->second->dtype != "F32") {
      return Refuse(Reason::kWrongDtype,
                    "tensor '" + w.name + "' is " + it->second->dtype + ", results are F32");
    }
    got.erase(it);
  }
  if (!got.empty()) {
    return Refuse(Reason::kWrongTensor,
                  "unexpected tensor '" + got.begin()->first + "' (not part of the job's model)");
  }
  return {};
}

// Which file tensors decay: the 2-D matrices (param_layout.h), by their Hugging Face suffix.
bool Decays(const std::string& name) {
  return name == "wte.weight" || name == "wpe.weight" || name.ends_with("attn.c_attn.weight") ||
         name.ends_with("attn.c_proj.weight") || name.ends_with("mlp.c_fc.weight") ||
         name.ends_with("mlp.c_proj.weight");
}

}  // namespace

DeltaBound TrainDeltaBound(const TrainScreen& s) {
  const kernels::TrainConfig& c = s.train;
  const double b1 = c.beta1, b2 = c.beta2, lambda = c.weight_decay;
  const double gamma = b1 * b1 / b2;
  double s_t = 0, gamma_k = 1;  // S_t and gamma^(t-1)
  double p_decayed = s.start_params_linf, moved_decayed = 0, moved_plain = 0, lr_sum = 0;
  for (int64_t t = 1; t <= c.steps; ++t) {
    s_t += gamma_k;
    gamma_k *= gamma;
    const double r = (1 - b1) / (1 - std::pow(b1, double(t))) *
                     std::sqrt((1 - std::pow(b2, double(t))) / (1 - b2)) * std::sqrt(s_t);
    const double eta = std::fabs(double(c.LearningRate(c.first_step + t - 1)));
    moved_decayed += eta * (r + lambda * p_decayed);
    moved_plain += eta * r;
    p_decayed = std::fabs(1 - eta * lambda) * p_decayed + eta * r;
    lr_sum += eta;
  }
  const double rounding = kFloatUlp * double(c.steps + 2);
  DeltaBound b;
  b.linf_decayed = kSlackFactor * moved_decayed + rounding * p_decayed;
  // LayerNorm gains start at 1 and biases at 0; without decay they still drift by moved_plain.
  b.linf_plain =
      kSlackFactor * moved_plain + rounding * (std::max(1.0, s.start_params_linf) + moved_plain);
  b.lr_sum = lr_sum;
  return b;
}

uint64_t MaxTrainDeltaBytes(const kernels::ModelConfig& model) {
  return uint64_t(model.NumRealParams()) * sizeof(float) + 8 + kHeaderBytesMax;
}

Verdict ScreenTrainDelta(std::span<const uint8_t> blob, const TrainScreen& s) {
  if (auto st = s.model.Validate(); !st) return Refuse(Reason::kWrongModel, st.error().message);
  if (blob.size() > MaxTrainDeltaBytes(s.model)) {
    return Refuse(Reason::kOversized, std::to_string(blob.size()) + " bytes; a delta of this " +
                                          "model is at most " +
                                          std::to_string(MaxTrainDeltaBytes(s.model)));
  }
  auto file = kernels::InspectCheckpointBytes(blob);
  if (!file) return Refuse(Reason::kMalformed, file.error().message);
  if (Verdict v = CheckMetadata(file->metadata, s.model); !v.ok()) return v;
  if (Verdict v = CheckStructure(*file, s.model); !v.ok()) return v;

  const DeltaBound bound = TrainDeltaBound(s);
  bool any_moved = false;
  for (const kernels::TensorSummary& t : file->tensors) {
    const double limit = Decays(t.name) ? bound.linf_decayed : bound.linf_plain;
    const size_t n = t.data.size() / sizeof(float);
    for (size_t i = 0; i < n; ++i) {
      float x;
      std::memcpy(&x, t.data.data() + i * sizeof(float), sizeof(float));  // unaligned in file
      if (!std::isfinite(x)) {
        return Refuse(Reason::kNotFinite, "tensor '" + t.name + "' element " + std::to_string(i) +
                                              " is " + (std::isnan(x) ? "NaN" : "infinite"));
      }
      if (std::fabs(double(x)) > limit) {
        return Refuse(Reason::kNormTooLarge,
                      "tensor '" + t.name + "' element " + std::to_string(i) + " moved by " +
                          std::to_string(x) + "; " + std::to_string(s.train.steps) +
                          " AdamW steps move a parameter by at most " + std::to_string(limit));
      }
      any_moved = any_moved || x != 0.0f;
    }
  }
  if (!any_moved && bound.lr_sum > 0) {
    return Refuse(Reason::kZeroDelta, "every parameter delta is zero, but the task ran " +
                                          std::to_string(s.train.steps) +
                                          " steps with a learning rate > 0");
  }
  return {};
}

}  // namespace plume::verify
