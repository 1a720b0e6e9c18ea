// Self-test: whole-model checks (CPU finite differences, bit-identical repeats, a training step
// compared across backends) and speed measurements.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>

#include "plume/kernels/flops.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/rng.h"
#include "selftest_internal.h"
#include "status_macros.h"

namespace plume::kernels {
namespace {

std::vector<int32_t> RandomTokens(size_t n, int vocab, SplitMix64& rng) {
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng.Below(vocab));
  return t;
}

OpCheck Failed(const std::string& name, const std::string& why) { return {name, false, 0, 0, why}; }

// One step (forward, backward, AdamW) from the seeded init; returns loss and new params.
Result<std::pair<float, std::vector<float>>> OneStep(Ops& ops, const ModelConfig& c, uint64_t seed,
                                                     int B, int T) {
  PLUME_ASSIGN_OR_RETURN(auto model, Gpt::Create(c, ops));
  PLUME_RETURN_IF_ERROR(model->InitRandom(seed));
  SplitMix64 rng(seed + 1);
  const auto x = RandomTokens(size_t(B) * T, c.vocab, rng), y = RandomTokens(size_t(B) * T, c.vocab, rng);
  PLUME_RETURN_IF_ERROR(model->ZeroGrad());
  PLUME_ASSIGN_OR_RETURN(const float loss, model->Forward(x, y, B, T));
  PLUME_RETURN_IF_ERROR(model->Backward());
  AdamWParams p;
  p.lr = 1e-3f;
  PLUME_RETURN_IF_ERROR(model->Step(p, 1.0f));
  PLUME_ASSIGN_OR_RETURN(auto params, model->GetParams());
  return std::make_pair(loss, std::move(params));
}

}  // namespace

std::vector<OpCheck> CompareModel(Ops& reference, Ops& device, uint64_t seed) {
  const ModelConfig c{2, 4, 64, 32, 256};
  const int B = 4, T = 32;
  SplitMix64 rng(seed + 1);
  const auto x = RandomTokens(size_t(B) * T, c.vocab, rng), y = RandomTokens(size_t(B) * T, c.vocab, rng);
  struct Run {
    std::vector<float> grads;
    std::vector<float> losses;
  };
  // The gradients of the first step, then the loss of each of kSteps AdamW steps on one batch.
  constexpr int kSteps = 8;
  const auto run = [&](Ops& ops) -> Result<Run> {
    Run r;
    PLUME_ASSIGN_OR_RETURN(auto model, Gpt::Create(c, ops));
    PLUME_RETURN_IF_ERROR(model->InitRandom(seed));
    for (int step = 1; step <= kSteps; ++step) {
      PLUME_RETURN_IF_ERROR(model->ZeroGrad());
      PLUME_ASSIGN_OR_RETURN(const float loss, model->Forward(x, y, B, T));
      r.losses.push_back(loss);
      PLUME_RETURN_IF_ERROR(model->Backward());
      if (step == 1) {
        PLUME_ASSIGN_OR_RETURN(r.grads, model->GetGrads());
      }
      AdamWParams p;
      p.lr = 1e-3f;
      p.step = step;
      PLUME_RETURN_IF_ERROR(model->Step(p, 1.0f));
    }
    return r;
  };
  auto a = run(reference);
  auto b = run(device);
  if (!a) return {Failed("model_gradients", "cpu: " + a.error().message)};
  if (!b) return {Failed("model_gradients", "device: " + b.error().message)};
  // The relative L2 distance of all ~100k gradients: rounding through 2 x 4 matmuls each way
  // averages out (a per-element bound would be set by the worst of 100k, about 0.07 for BF16),
  // while a gradient that is wrong by a factor, or has a wrong term, moves it by far more.
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < a->grads.size() && a->grads.size() == b->grads.size(); ++i) {
    const double e = double(b->grads[i]) - a->grads[i];
    diff += e * e;
    norm += double(a->grads[i]) * a->grads[i];
  }
  double rel = a->grads.size() == b->grads.size() ? std::sqrt(diff / std::max(norm, 1e-300)) : 1e30;
  OpCheck grads{"model_gradients", false, std::isfinite(rel) ? rel : 1e30, 2e-2, ""};
  grads.passed = grads.error <= grads.tolerance;
  if (!grads.passed) grads.detail = "gradients differ from the CPU reference";
  // Relative loss differences; the device's curve must also go down (it is learning).
  OpCheck curve{"loss_curve", false, 0.0, 1e-3, ""};
  for (int i = 0; i < kSteps; ++i) {
    const double d = std::abs(double(a->losses[i]) - b->losses[i]) / std::abs(a->losses[i]);
    curve.error = std::max(curve.error, std::isfinite(d) ? d : 1e30);
  }
  const bool learns = b->losses.back() < b->losses.front();
  curve.passed = curve.error <= curve.tolerance && learns;
  if (!learns) {
    curve.detail = "the device's loss did not go down over " + std::to_string(kSteps) + " steps";
  } else if (!curve.passed) {
    curve.detail = "losses differ from the CPU reference";
  }
  return {grads, curve};
}

std::vector<OpCheck> CheckModelOnItsOwn(Ops& ops, uint64_t seed) {
  std::vector<OpCheck> out;
  // Finite differences of the loss against Backward() on a tiny model, at a scale where
  // float rounding of the loss is far below the difference.
  const ModelConfig c{2, 2, 16, 8, 32};
  auto created = Gpt::Create(c, ops);
  if (!created) return {Failed("model_gradient_fd", created.error().message)};
  Gpt& model = **created;
  SplitMix64 rng(seed);
  std::vector<float> params(static_cast<size_t>(c.NumParams()));
  for (auto& v : params) v = static_cast<float>(0.3 * rng.Normal());
  std::fill(params.begin() + int64_t{c.vocab} * c.n_embd,
            params.begin() + int64_t{c.padded_vocab()} * c.n_embd, 0.0f);
  const auto x = RandomTokens(12, c.vocab, rng), y = RandomTokens(12, c.vocab, rng);
  OpCheck fd{"model_gradient_fd", false, 0.0, 0.05, ""};
  const auto loss_at = [&](const std::vector<float>& p) -> Result<float> {
    PLUME_RETURN_IF_ERROR(model.SetParams(p));
    return model.Forward(x, y, 2, 6);
  };
  auto base = loss_at(params);
  auto back = base ? model.Backward() : Status(tl::unexpected(base.error()));
  auto grads = back ? model.GetGrads() : Result<std::vector<float>>(tl::unexpected(back.error()));
  if (!grads) return {Failed("model_gradient_fd", grads.error().message)};
  for (int k = 0; k < 24; ++k) {
    const size_t i = rng.Below(params.size());
    if (i >= size_t(c.vocab) * c.n_embd && i < size_t(c.padded_vocab()) * c.n_embd) continue;
    std::vector<float> p = params;
    p[i] += 1e-2f;
    auto up = loss_at(p);
    p[i] = params[i] - 1e-2f;
    auto down = loss_at(p);
    if (!up || !down) return {Failed("model_gradient_fd", "forward failed")};
    const double numeric = (double{*up} - *down) / 2e-2;
    fd.error = std::max(fd.error, std::abs(numeric - (*grads)[i]) / (1e-2 + std::abs(numeric)));
  }
  fd.passed = fd.error <= fd.tolerance;
  if (!fd.passed) fd.detail = "analytic gradients disagree with finite differences";
  out.push_back(fd);

  OpCheck repeat{"bit_identical_repeat", false, 0.0, 0.0, ""};
  const ModelConfig r{2, 4, 64, 32, 256};
  auto a = OneStep(ops, r, seed, 4, 32), b = OneStep(ops, r, seed, 4, 32);
  if (a && b) {
    repeat.passed = a->first == b->first &&
                    std::memcmp(a->second.data(), b->second.data(), a->second.size() * 4) == 0;
    if (!repeat.passed) repeat.detail = "two identical training steps gave different bits";
  } else {
    repeat.detail = a ? b.error().message : a.error().message;
  }
  out.push_back(repeat);
  return out;
}

Result<SpeedNumbers> MeasureSpeed(Ops& ops, bool large) {
  SpeedNumbers s;
  {
    const int n = large ? 4096 : 1024;
    PLUME_ASSIGN_OR_RETURN(auto a, ops.Alloc(size_t(n) * n * 4));
    PLUME_ASSIGN_OR_RETURN(auto w, ops.Alloc(size_t(n) * n * 4));
    PLUME_ASSIGN_OR_RETURN(auto out, ops.Alloc(size_t(n) * n * 4));
    PLUME_RETURN_IF_ERROR(ops.Fill(a->f32(), 0.5f, size_t(n) * n));
    PLUME_RETURN_IF_ERROR(ops.Fill(w->f32(), 0.25f, size_t(n) * n));
    PLUME_RETURN_IF_ERROR(ops.MatmulForward(out->f32(), a->f32(), w->f32(), nullptr, n, n, n));
    PLUME_RETURN_IF_ERROR(ops.Synchronize());
    const int reps = large ? 20 : 3;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) {
      PLUME_RETURN_IF_ERROR(ops.MatmulForward(out->f32(), a->f32(), w->f32(), nullptr, n, n, n));
    }
    PLUME_RETURN_IF_ERROR(ops.Synchronize());
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    s.matmul_flops = 2.0 * n * n * double(n) * reps / sec;
  }
  // The benchmark's small config (bench/kernels/train_step_bench.cc, config a).
  const ModelConfig c{4, 4, 256, 128, 256};
  const int B = large ? 32 : 8, T = 128;
  PLUME_ASSIGN_OR_RETURN(auto model, Gpt::Create(c, ops));
  PLUME_RETURN_IF_ERROR(model->InitRandom(1));
  SplitMix64 rng(2);
  const auto x = RandomTokens(size_t(B) * T, c.vocab, rng), y = RandomTokens(size_t(B) * T, c.vocab, rng);
  const auto step = [&](int64_t t) -> Status {
    PLUME_RETURN_IF_ERROR(model->ZeroGrad());
    PLUME_RETURN_IF_ERROR(model->Forward(x, y, B, T));
    PLUME_RETURN_IF_ERROR(model->Backward());
    AdamWParams p;
    p.step = t;
    return model->Step(p, 1.0f).map([](float) {});
  };
  PLUME_RETURN_IF_ERROR(step(1));  // warm-up: allocation, thread pools
  const int steps = large ? 10 : 3;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) PLUME_RETURN_IF_ERROR(step(i + 2));
  PLUME_RETURN_IF_ERROR(ops.Synchronize());
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.train_tokens_per_s = double(steps) * B * T / sec;
  s.train_flops = double(TrainFlops(c, T, B, steps)) / sec;
  return s;
}

}  // namespace plume::kernels
