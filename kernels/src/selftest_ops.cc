// Self-test: each op of a device backend against the CPU reference. Inputs are seeded random
// values uploaded identically to both backends; outputs (and the gradients that backward ops
// accumulate into) are poisoned / pre-filled identically first, so an op that skips writing
// part of its output is caught. The error is max |device - cpu| / max |cpu|; matmul-based ops
// get a tolerance that admits bf16/tf32 tensor-core arithmetic.
#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>

#include "plume/kernels/rng.h"
#include "selftest_internal.h"

namespace plume::kernels {
namespace {

constexpr double kTolExact = 1e-4;   // elementwise ops, reductions in float
constexpr double kTolMatmul = 3e-2;  // bf16/tf32 tensor cores

// One tensor living on both backends.
struct Twin {
  std::unique_ptr<Buffer> ref, dev;
  size_t n = 0;
  float* r() { return ref->f32(); }
  float* d() { return dev->f32(); }
};

class Harness {
 public:
  Harness(Ops& ref, Ops& dev, uint64_t seed) : ref_(ref), dev_(dev), rng_(seed) {}

  // Random normal values times `scale` (poison: NaN-free large values for outputs).
  Result<Twin> Random(size_t n, double scale = 1.0) {
    std::vector<float> host(n);
    for (auto& x : host) x = static_cast<float>(scale * rng_.Normal());
    return Upload(host.data(), n * sizeof(float), n);
  }
  // Random token ids; the host copy stays available as last_tokens() (EncoderBackward needs it).
  Result<Twin> Tokens(size_t n, int vocab) {
    last_tokens_.resize(n);
    for (auto& x : last_tokens_) x = static_cast<int32_t>(rng_.Below(vocab));
    return Upload(last_tokens_.data(), n * sizeof(int32_t), n);
  }
  const std::vector<int32_t>& last_tokens() const { return last_tokens_; }
  Result<Twin> Upload(const void* host, size_t bytes, size_t n) {
    Twin t;
    t.n = n;
    auto r = ref_.Alloc(bytes);
    if (!r) return tl::unexpected(r.error());
    auto d = dev_.Alloc(bytes);
    if (!d) return tl::unexpected(d.error());
    t.ref = std::move(*r);
    t.dev = std::move(*d);
    if (auto s = ref_.CopyToDevice(t.ref->data(), host, bytes); !s) return tl::unexpected(s.error());
    if (auto s = dev_.CopyToDevice(t.dev->data(), host, bytes); !s) return tl::unexpected(s.error());
    return t;
  }
  // max |dev - ref| / max |ref| over the tensor.
  Result<double> Error(Twin& t) {
    std::vector<float> a(t.n), b(t.n);
    if (auto s = ref_.CopyToHost(a.data(), t.ref->data(), t.n * 4); !s) return tl::unexpected(s.error());
    if (auto s = dev_.CopyToHost(b.data(), t.dev->data(), t.n * 4); !s) return tl::unexpected(s.error());
    double diff = 0.0, scale = 1e-30;
    for (size_t i = 0; i < t.n; ++i) {
      if (!std::isfinite(b[i])) return 1e30;
      diff = std::max(diff, double(std::abs(a[i] - b[i])));
      scale = std::max(scale, double(std::abs(a[i])));
    }
    return diff / scale;
  }
  Ops& ref() { return ref_; }
  Ops& dev() { return dev_; }

 private:
  Ops& ref_;
  Ops& dev_;
  SplitMix64 rng_;
  std::vector<int32_t> last_tokens_;
};

// Runs `run` on both backends (it receives one Ops and a flag saying which), then compares
// every tensor in `outputs`.
OpCheck Check(Harness& h, const std::string& name, double tolerance,
              const std::function<Status(Ops&, bool)>& run, std::vector<Twin*> outputs) {
  OpCheck c{name, false, 0.0, tolerance, ""};
  if (auto s = run(h.ref(), true); !s) {
    c.detail = "cpu reference failed: " + s.error().message;
    return c;
  }
  if (auto s = run(h.dev(), false); !s) {
    c.detail = "device op failed: " + s.error().message;
    return c;
  }
  if (auto s = h.dev().Synchronize(); !s) {
    c.detail = "device sync failed: " + s.error().message;
    return c;
  }
  for (Twin* t : outputs) {
    auto e = h.Error(*t);
    if (!e) {
      c.detail = e.error().message;
      return c;
    }
    c.error = std::max(c.error, *e);
  }
  c.passed = c.error <= tolerance;
  if (!c.passed) c.detail = "error above tolerance";
  return c;
}

#define PLUME_TWIN(var, expr)                                          \
  auto var##_r = (expr);                                               \
  if (!var##_r) return {{name, false, 0, 0, var##_r.error().message}}; \
  Twin var = std::move(*var##_r)

std::vector<OpCheck> CheckShape(Harness& h, int B, int T, int C, int NH, int V) {
  const std::string name = "alloc";
  const int N = B * T, Vp = (V + 127) / 128 * 128;
  const size_t NC = size_t(N) * C;
  std::vector<OpCheck> out;
  const std::string shape = " B" + std::to_string(B) + " T" + std::to_string(T) + " C" +
                            std::to_string(C) + " NH" + std::to_string(NH);
  PLUME_TWIN(tokens, h.Tokens(N, V));
  const std::vector<int32_t> tokens_host = h.last_tokens();
  PLUME_TWIN(wte, h.Random(size_t(Vp) * C, 0.1));
  PLUME_TWIN(wpe, h.Random(size_t(T) * C, 0.1));
  PLUME_TWIN(x, h.Random(NC));
  PLUME_TWIN(y, h.Random(NC, 7.0));  // poisoned output
  PLUME_TWIN(dy, h.Random(NC));
  PLUME_TWIN(dx, h.Random(NC, 0.5));  // backward accumulates into existing values
  PLUME_TWIN(w, h.Random(C, 0.5));
  PLUME_TWIN(b, h.Random(C, 0.5));
  PLUME_TWIN(dw, h.Random(C));
  PLUME_TWIN(db, h.Random(C));
  PLUME_TWIN(mean, h.Random(N));
  PLUME_TWIN(rstd, h.Random(N));
  PLUME_TWIN(dwte, h.Random(size_t(Vp) * C, 0.1));
  PLUME_TWIN(dwpe, h.Random(size_t(T) * C, 0.1));
  const auto pick = [](bool r, Twin& t) { return r ? t.r() : t.d(); };
  out.push_back(Check(h, "encoder_forward" + shape, kTolExact, [&](Ops& o, bool r) {
    return o.EncoderForward(pick(r, y), r ? tokens.ref->i32() : tokens.dev->i32(), pick(r, wte), pick(r, wpe), B, T, C);
  }, {&y}));
  out.push_back(Check(h, "encoder_backward" + shape, kTolExact, [&](Ops& o, bool r) {
    return o.EncoderBackward(pick(r, dwte), pick(r, dwpe), pick(r, dy), r ? tokens.ref->i32() : tokens.dev->i32(), tokens_host.data(), B, T, C);
  }, {&dwte, &dwpe}));
  out.push_back(Check(h, "layernorm_forward" + shape, kTolExact, [&](Ops& o, bool r) {
    return o.LayerNormForward(pick(r, y), pick(r, mean), pick(r, rstd), pick(r, x), pick(r, w), pick(r, b), N, C);
  }, {&y, &mean, &rstd}));
  out.push_back(Check(h, "layernorm_backward" + shape, 1e-3, [&](Ops& o, bool r) {
    return o.LayerNormBackward(pick(r, dx), pick(r, dw), pick(r, db), pick(r, dy), pick(r, x), pick(r, w), pick(r, mean), pick(r, rstd), N, C);
  }, {&dx, &dw, &db}));
  out.push_back(Check(h, "gelu_forward" + shape, kTolExact, [&](Ops& o, bool r) {
    return o.GeluForward(pick(r, y), pick(r, x), NC);
  }, {&y}));
  out.push_back(Check(h, "gelu_backward" + shape, kTolExact, [&](Ops& o, bool r) {
    return o.GeluBackward(pick(r, dx), pick(r, x), pick(r, dy), NC);
  }, {&dx}));
  out.push_back(Check(h, "residual_forward" + shape, kTolExact, [&](Ops& o, bool r) {
    return o.ResidualForward(pick(r, y), pick(r, x), pick(r, dy), NC);
  }, {&y}));
  out.push_back(Check(h, "residual_backward" + shape, kTolExact, [&](Ops& o, bool r) {
    return o.ResidualBackward(pick(r, dx), pick(r, y), pick(r, dy), NC);
  }, {&dx, &y}));

  // Matmul (N, C) x (OC, C)^T with OC = 3C, as the qkv projection.
  const int OC = 3 * C;
  PLUME_TWIN(mw, h.Random(size_t(OC) * C, 0.2));
  PLUME_TWIN(mb, h.Random(OC, 0.2));
  PLUME_TWIN(mout, h.Random(size_t(N) * OC, 7.0));
  PLUME_TWIN(mdout, h.Random(size_t(N) * OC));
  PLUME_TWIN(mdw, h.Random(size_t(OC) * C, 0.1));
  PLUME_TWIN(mdb, h.Random(OC, 0.1));
  out.push_back(Check(h, "matmul_forward" + shape, kTolMatmul, [&](Ops& o, bool r) {
    return o.MatmulForward(pick(r, mout), pick(r, x), pick(r, mw), pick(r, mb), N, C, OC);
  }, {&mout}));
  out.push_back(Check(h, "matmul_backward" + shape, kTolMatmul, [&](Ops& o, bool r) {
    return o.MatmulBackward(pick(r, dx), pick(r, mdw), pick(r, mdb), pick(r, mdout), pick(r, x), pick(r, mw), N, C, OC);
  }, {&dx, &mdw, &mdb}));
  // Attention on qkv = mout (B, T, 3C).
  PLUME_TWIN(lse, h.Random(size_t(B) * NH * T));
  PLUME_TWIN(dqkv, h.Random(size_t(N) * OC, 0.1));
  out.push_back(Check(h, "attention_forward" + shape, kTolMatmul, [&](Ops& o, bool r) {
    return o.AttentionForward(pick(r, y), pick(r, lse), pick(r, mout), B, T, C, NH);
  }, {&y, &lse}));
  out.push_back(Check(h, "attention_backward" + shape, kTolMatmul, [&](Ops& o, bool r) {
    return o.AttentionBackward(pick(r, dqkv), pick(r, dy), pick(r, mout), pick(r, y), pick(r, lse), B, T, C, NH);
  }, {&dqkv}));
  // Softmax + cross-entropy over the vocabulary.
  PLUME_TWIN(logits, h.Random(size_t(N) * Vp, 2.0));
  PLUME_TWIN(logits2, h.Random(size_t(N) * Vp, 2.0));
  PLUME_TWIN(probs, h.Random(size_t(N) * Vp, 7.0));
  PLUME_TWIN(losses, h.Random(N, 7.0));
  out.push_back(Check(h, "softmax_cross_entropy" + shape, 1e-3, [&](Ops& o, bool r) {
    return o.SoftmaxCrossEntropy(pick(r, logits), pick(r, losses), pick(r, probs), r ? tokens.ref->i32() : tokens.dev->i32(), N, V, Vp, 1.0f / N, true);
  }, {&logits, &losses, &probs}));
  out.push_back(Check(h, "softmax" + shape, 1e-3, [&](Ops& o, bool r) {
    return o.Softmax(pick(r, probs), pick(r, logits2), N, V, Vp, 0.8f);
  }, {&probs}));
  // Optimizer ops over the matmul weight.
  PLUME_TWIN(m1, h.Random(size_t(OC) * C, 0.01));
  PLUME_TWIN(v1, h.Random(size_t(OC) * C, 0.0));
  out.push_back(Check(h, "adamw" + shape, 1e-4, [&](Ops& o, bool r) {
    AdamWParams p;
    p.lr = 1e-2f;
    p.weight_decay = 0.1f;
    p.step = 3;
    return o.AdamW(pick(r, mw), pick(r, mdw), pick(r, m1), pick(r, v1), size_t(OC) * C, p);
  }, {&mw, &m1, &v1}));
  {
    OpCheck c{"global_norm" + shape, false, 0.0, 1e-4, ""};
    auto a = h.ref().GlobalNorm(mdw.r(), size_t(OC) * C);
    auto d = h.dev().GlobalNorm(mdw.d(), size_t(OC) * C);
    if (a && d) {
      c.error = std::abs(*a - *d) / std::max(1e-30f, std::abs(*a));
      c.passed = c.error <= c.tolerance;
      if (!c.passed) c.detail = "error above tolerance";
    } else {
      c.detail = a ? d.error().message : a.error().message;
    }
    out.push_back(c);
  }
  out.push_back(Check(h, "scale" + shape, kTolExact, [&](Ops& o, bool r) {
    return o.Scale(pick(r, mdw), 0.37f, size_t(OC) * C);
  }, {&mdw}));
  return out;
}

}  // namespace

std::vector<OpCheck> CompareOps(Ops& reference, Ops& device, uint64_t seed) {
  Harness h(reference, device, seed);
  std::vector<OpCheck> all;
  // An odd shape (nothing a multiple of a tile), a GPT-2-like head size, a longer sequence.
  for (const auto& [B, T, C, NH, V] : std::vector<std::array<int, 5>>{
           {1, 7, 24, 3, 61}, {2, 64, 128, 2, 256}, {1, 257, 96, 4, 300}}) {
    auto checks = CheckShape(h, B, T, C, NH, V);
    all.insert(all.end(), checks.begin(), checks.end());
  }
  return all;
}

}  // namespace plume::kernels
