// The GPT forward and backward graph, as a sequence of Ops calls. Both backends run exactly
// this code. Backward ops accumulate (+=), so each gradient scratch is zeroed before the op that
// first writes it; the residual stream's gradient (dres) is never zeroed between layers: the
// residual add's backward is the identity, so each LayerNorm backward simply adds its branch's
// gradient into dres (the same buffer that, a moment before, served as the branch output's
// gradient).
#include <cmath>
#include <string>

#include "gpt_activations.h"
#include "status_macros.h"

namespace plume::kernels {

int64_t Gpt::Activations::FloatsPerRow(const ModelConfig& c) {
  const int64_t C = c.n_embd;
  const int64_t per_layer = 18 * C + 4 + c.n_head;
  return C + c.n_layer * per_layer + C + 2 + c.padded_vocab() + 1;
}

int64_t Gpt::Activations::ScratchPerRow(const ModelConfig& c) { return 10 * int64_t{c.n_embd}; }

void Gpt::Activations::Point(const ModelConfig& c, int64_t N) {
  const int64_t C = c.n_embd;
  float* p = floats->f32();
  const auto take = [&p](int64_t n) {
    float* out = p;
    p += n;
    return out;
  };
  encoded = take(N * C);
  layers.resize(c.n_layer);
  for (auto& l : layers) {
    l.ln1 = take(N * C);
    l.ln1_mean = take(N);
    l.ln1_rstd = take(N);
    l.qkv = take(N * 3 * C);
    l.atty = take(N * C);
    l.lse = take(N * c.n_head);
    l.attproj = take(N * C);
    l.residual2 = take(N * C);
    l.ln2 = take(N * C);
    l.ln2_mean = take(N);
    l.ln2_rstd = take(N);
    l.fch = take(N * 4 * C);
    l.fch_gelu = take(N * 4 * C);
    l.fcproj = take(N * C);
    l.residual3 = take(N * C);
  }
  lnf = take(N * C);
  lnf_mean = take(N);
  lnf_rstd = take(N);
  logits = take(N * c.padded_vocab());
  losses = take(N);
  float* s = scratch->f32();
  dres = s;
  dln = s + N * C;
  big1 = s + 2 * N * C;
  big2 = s + 6 * N * C;
}

Status Gpt::EnsureActivations(int64_t rows) {
  if (rows <= acts_->capacity_rows) {
    acts_->Point(config_, rows);
    return {};
  }
  // Free the old buffers first so peak memory is the new size, not old + new.
  acts_->floats.reset();
  acts_->scratch.reset();
  acts_->tokens.reset();
  acts_->targets.reset();
  acts_->capacity_rows = 0;
  const auto alloc = [&](std::unique_ptr<Buffer>& slot, int64_t bytes) -> Status {
    auto buffer = ops_.Alloc(static_cast<size_t>(bytes));
    if (!buffer) {
      return Fail("cannot allocate " + std::to_string(bytes >> 20) + " MiB of activations for " +
                  std::to_string(rows) + " tokens per step on " + ops_.DeviceName() +
                  " (lower the batch or seq_len): " + buffer.error().message);
    }
    slot = std::move(*buffer);
    return {};
  };
  PLUME_RETURN_IF_ERROR(alloc(acts_->floats, rows * Activations::FloatsPerRow(config_) * 4));
  PLUME_RETURN_IF_ERROR(alloc(acts_->scratch, rows * Activations::ScratchPerRow(config_) * 4));
  PLUME_RETURN_IF_ERROR(alloc(acts_->tokens, rows * 4));
  PLUME_RETURN_IF_ERROR(alloc(acts_->targets, rows * 4));
  acts_->capacity_rows = rows;
  acts_->Point(config_, rows);
  return {};
}

Status Gpt::CheckTokens(std::span<const int32_t> tokens, const char* what, int B, int T) const {
  if (static_cast<int64_t>(tokens.size()) != int64_t{B} * T) {
    return Fail(std::string(what) + " has " + std::to_string(tokens.size()) +
                " entries; expected B * T = " + std::to_string(int64_t{B} * T));
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= config_.vocab) {
      return Fail(std::string(what) + "[" + std::to_string(i) + "] = " +
                  std::to_string(tokens[i]) + " is outside the vocabulary [0, " +
                  std::to_string(config_.vocab) + ")");
    }
  }
  return {};
}

Result<float> Gpt::Forward(std::span<const int32_t> tokens, std::span<const int32_t> targets,
                           int B, int T) {
  have_dlogits_ = have_logits_ = false;
  if (B < 1 || T < 1 || T > config_.context) {
    return Fail("Forward: need B >= 1 and 1 <= T <= context (" + std::to_string(config_.context) +
                "); got B = " + std::to_string(B) + ", T = " + std::to_string(T));
  }
  PLUME_RETURN_IF_ERROR(CheckTokens(tokens, "tokens", B, T));
  const bool train = !targets.empty();
  if (train) PLUME_RETURN_IF_ERROR(CheckTokens(targets, "targets", B, T));
  const int N = B * T, C = config_.n_embd, NH = config_.n_head;
  PLUME_RETURN_IF_ERROR(EnsureActivations(N));
  Activations& a = *acts_;
  PLUME_RETURN_IF_ERROR(ops_.CopyToDevice(a.tokens->data(), tokens.data(), tokens.size_bytes()));
  tokens_host_.assign(tokens.begin(), tokens.end());
  if (train) {
    PLUME_RETURN_IF_ERROR(
        ops_.CopyToDevice(a.targets->data(), targets.data(), targets.size_bytes()));
  }

  using K = ParamKind;
  PLUME_RETURN_IF_ERROR(ops_.EncoderForward(a.encoded, a.tokens->i32(), Param(K::kWte),
                                            Param(K::kWpe), B, T, C));
  const float* residual = a.encoded;
  for (int l = 0; l < config_.n_layer; ++l) {
    const LayerActs& x = a.layers[l];
    PLUME_RETURN_IF_ERROR(ops_.LayerNormForward(x.ln1, x.ln1_mean, x.ln1_rstd, residual,
                                                Param(K::kLn1w, l), Param(K::kLn1b, l), N, C));
    PLUME_RETURN_IF_ERROR(
        ops_.MatmulForward(x.qkv, x.ln1, Param(K::kQkvw, l), Param(K::kQkvb, l), N, C, 3 * C));
    PLUME_RETURN_IF_ERROR(ops_.AttentionForward(x.atty, x.lse, x.qkv, B, T, C, NH));
    PLUME_RETURN_IF_ERROR(ops_.MatmulForward(x.attproj, x.atty, Param(K::kAttprojw, l),
                                             Param(K::kAttprojb, l), N, C, C));
    PLUME_RETURN_IF_ERROR(ops_.ResidualForward(x.residual2, residual, x.attproj, size_t(N) * C));
    PLUME_RETURN_IF_ERROR(ops_.LayerNormForward(x.ln2, x.ln2_mean, x.ln2_rstd, x.residual2,
                                                Param(K::kLn2w, l), Param(K::kLn2b, l), N, C));
    PLUME_RETURN_IF_ERROR(
        ops_.MatmulForward(x.fch, x.ln2, Param(K::kFcw, l), Param(K::kFcb, l), N, C, 4 * C));
    PLUME_RETURN_IF_ERROR(ops_.GeluForward(x.fch_gelu, x.fch, size_t(N) * 4 * C));
    PLUME_RETURN_IF_ERROR(ops_.MatmulForward(x.fcproj, x.fch_gelu, Param(K::kFcprojw, l),
                                             Param(K::kFcprojb, l), N, 4 * C, C));
    PLUME_RETURN_IF_ERROR(
        ops_.ResidualForward(x.residual3, x.residual2, x.fcproj, size_t(N) * C));
    residual = x.residual3;
  }
  PLUME_RETURN_IF_ERROR(ops_.LayerNormForward(a.lnf, a.lnf_mean, a.lnf_rstd, residual,
                                              Param(K::kLnfw), Param(K::kLnfb), N, C));
  const int V = config_.vocab, Vp = config_.padded_vocab();
  PLUME_RETURN_IF_ERROR(ops_.MatmulForward(a.logits, a.lnf, Param(K::kWte), nullptr, N, C, Vp));
  last_B_ = B;
  last_T_ = T;
  if (!train) {
    have_logits_ = true;
    return 0.0f;
  }
  PLUME_RETURN_IF_ERROR(ops_.SoftmaxCrossEntropy(a.logits, a.losses, nullptr, a.targets->i32(), N,
                                                 V, Vp, 1.0f / static_cast<float>(N), true));
  std::vector<float> losses(N);
  PLUME_RETURN_IF_ERROR(ops_.CopyToHost(losses.data(), a.losses, losses.size() * sizeof(float)));
  double sum = 0.0;  // sequential on the host: a fixed order
  for (float x : losses) sum += x;
  have_dlogits_ = true;
  return static_cast<float>(sum / N);
}

Status Gpt::Backward() {
  PLUME_RETURN_IF_ERROR(NeedsTraining("Backward"));
  if (!have_dlogits_) return Fail("Backward needs a preceding Forward with targets");
  const int B = last_B_, T = last_T_, N = B * T, C = config_.n_embd, NH = config_.n_head;
  const int Vp = config_.padded_vocab();
  Activations& a = *acts_;
  using K = ParamKind;
  const size_t NC = size_t(N) * C;
  PLUME_RETURN_IF_ERROR(ops_.Fill(a.dln, 0.0f, NC));
  PLUME_RETURN_IF_ERROR(
      ops_.MatmulBackward(a.dln, Grad(K::kWte), nullptr, a.logits, a.lnf, Param(K::kWte), N, C, Vp));
  PLUME_RETURN_IF_ERROR(ops_.Fill(a.dres, 0.0f, NC));
  const float* top = config_.n_layer > 0 ? a.layers.back().residual3 : a.encoded;
  PLUME_RETURN_IF_ERROR(ops_.LayerNormBackward(a.dres, Grad(K::kLnfw), Grad(K::kLnfb), a.dln, top,
                                               Param(K::kLnfw), a.lnf_mean, a.lnf_rstd, N, C));
  for (int l = config_.n_layer - 1; l >= 0; --l) {
    const LayerActs& x = a.layers[l];
    const float* residual = l == 0 ? a.encoded : a.layers[l - 1].residual3;
    // MLP branch: dres is d(fcproj) here.
    float* dfch_gelu = a.big1;
    float* dfch = a.big2;
    PLUME_RETURN_IF_ERROR(ops_.Fill(dfch_gelu, 0.0f, 4 * NC));
    PLUME_RETURN_IF_ERROR(ops_.MatmulBackward(dfch_gelu, Grad(K::kFcprojw, l),
                                              Grad(K::kFcprojb, l), a.dres, x.fch_gelu,
                                              Param(K::kFcprojw, l), N, 4 * C, C));
    PLUME_RETURN_IF_ERROR(ops_.Fill(dfch, 0.0f, 4 * NC));
    PLUME_RETURN_IF_ERROR(ops_.GeluBackward(dfch, x.fch, dfch_gelu, 4 * NC));
    PLUME_RETURN_IF_ERROR(ops_.Fill(a.dln, 0.0f, NC));
    PLUME_RETURN_IF_ERROR(ops_.MatmulBackward(a.dln, Grad(K::kFcw, l), Grad(K::kFcb, l), dfch,
                                              x.ln2, Param(K::kFcw, l), N, C, 4 * C));
    PLUME_RETURN_IF_ERROR(ops_.LayerNormBackward(a.dres, Grad(K::kLn2w, l), Grad(K::kLn2b, l),
                                                 a.dln, x.residual2, Param(K::kLn2w, l),
                                                 x.ln2_mean, x.ln2_rstd, N, C));
    // Attention branch: dres is now d(residual2) = d(attproj).
    float* datty = a.big2;  // dfch is no longer needed
    float* dqkv = a.big1;   // nor is dfch_gelu
    PLUME_RETURN_IF_ERROR(ops_.Fill(datty, 0.0f, NC));
    PLUME_RETURN_IF_ERROR(ops_.MatmulBackward(datty, Grad(K::kAttprojw, l),
                                              Grad(K::kAttprojb, l), a.dres, x.atty,
                                              Param(K::kAttprojw, l), N, C, C));
    PLUME_RETURN_IF_ERROR(ops_.Fill(dqkv, 0.0f, 3 * NC));
    PLUME_RETURN_IF_ERROR(
        ops_.AttentionBackward(dqkv, datty, x.qkv, x.atty, x.lse, B, T, C, NH));
    PLUME_RETURN_IF_ERROR(ops_.Fill(a.dln, 0.0f, NC));
    PLUME_RETURN_IF_ERROR(ops_.MatmulBackward(a.dln, Grad(K::kQkvw, l), Grad(K::kQkvb, l), dqkv,
                                              x.ln1, Param(K::kQkvw, l), N, C, 3 * C));
    PLUME_RETURN_IF_ERROR(ops_.LayerNormBackward(a.dres, Grad(K::kLn1w, l), Grad(K::kLn1b, l),
                                                 a.dln, residual, Param(K::kLn1w, l),
                                                 x.ln1_mean, x.ln1_rstd, N, C));
  }
  PLUME_RETURN_IF_ERROR(ops_.EncoderBackward(Grad(K::kWte), Grad(K::kWpe), a.dres,
                                             a.tokens->i32(), tokens_host_.data(), B, T, C));
  // The logits buffer now holds gradients; a second Backward would double-count.
  have_dlogits_ = false;
  return {};
}

}  // namespace plume::kernels
