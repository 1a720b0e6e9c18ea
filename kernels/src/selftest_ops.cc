// Self-test: each op of a device backend against the CPU reference. Every check gets its own
// fresh seeded inputs, uploaded identically to both backends, so an error in one op can never
// reach another op's check (a chained buffer would carry a tensor-core matmul's rounding into
// an elementwise op's tight tolerance). Inputs an op needs to be consistent (a LayerNorm's mean
// and rstd, attention's output and log-sum-exp) are made by the reference and mirrored to the
// device. Outputs (and the gradients backward ops accumulate into) start from identical random
// values, so an op that skips part of its output is caught.
//
// The error of one element is |device - cpu| / (|cpu| + rms(cpu)); a check reports the largest
// over its outputs. Dividing by |cpu| alone would make a near-zero element fail on any rounding;
// adding the tensor's RMS sizes the bound to what rounding can do to a sum of products.
#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <memory>
#include <string>

#include "plume/kernels/rng.h"
#include "selftest_internal.h"

namespace plume::kernels {
namespace {

// fp32 with another summation order or another libm: a few ulps of |x| + rms.
constexpr double kTolElementwise = 1e-4;
// Row reductions (LayerNorm backward, softmax) sum hundreds of terms in another order.
constexpr double kTolReduction = 1e-3;
// Tensor-core matmuls round operands to TF32 (2^-11) or BF16 (2^-8); with fp32 accumulation the
// error of one output is about u * sqrt(2/3) of the RMS for random operands, and the worst of
// ~10^5 elements is ~5 sigma: 2e-2 for BF16. The emulated devices of selftest_test.cc measure it.
constexpr double kTolMatmul = 3e-2;
// The BF16 tensor-core attention (PLUME_CUDA_ATTENTION=bf16) rounds q, k, v and P to BF16, and
// score errors pass through exp(): its worst element on these shapes is ~1.7e-2 (measured on
// its CPU emulation, bf16_training_test.cc); a broken one (no rescale, off-by-one mask) is off
// by far more.
constexpr double kTolAttentionBf16 = 5e-2;

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

  // Random normal values times `scale`; `positive` takes their absolute value.
  Result<Twin> Random(size_t n, double scale = 1.0, bool positive = false) {
    std::vector<float> host(n);
    for (auto& x : host) {
      x = static_cast<float>(scale * rng_.Normal());
      if (positive) x = std::abs(x);
    }
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
  // Copies the reference side of `t` over its device side (inputs the reference computed).
  Status Mirror(Twin& t) {
    std::vector<float> host(t.n);
    if (auto s = ref_.CopyToHost(host.data(), t.r(), t.n * 4); !s) return s;
    return dev_.CopyToDevice(t.d(), host.data(), t.n * 4);
  }
  Result<double> Error(Twin& t) {
    std::vector<float> a(t.n), b(t.n);
    if (auto s = ref_.CopyToHost(a.data(), t.ref->data(), t.n * 4); !s) return tl::unexpected(s.error());
    if (auto s = dev_.CopyToHost(b.data(), t.dev->data(), t.n * 4); !s) return tl::unexpected(s.error());
    return ElementError(a, b);
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

#define PLUME_TWIN(var, expr)                                               \
  auto var##_r = (expr);                                                    \
  if (!var##_r) return {{"alloc", false, 0, 0, var##_r.error().message}}; \
  Twin var = std::move(*var##_r)

#define PLUME_MIRROR(var, run)                                                   \
  if (auto s = (run); !s) return {{"reference", false, 0, 0, s.error().message}}; \
  if (auto s = h.Mirror(var); !s) return {{"mirror", false, 0, 0, s.error().message}}

// Every op at one shape. Each block makes the inputs of one check and nothing else.
std::vector<OpCheck> CheckShape(Harness& h, int B, int T, int C, int NH, int V,
                                const CudaKernelChoice& kernels) {
  const int N = B * T, Vp = (V + 127) / 128 * 128, OC = 3 * C;
  const size_t NC = size_t(N) * C, NOC = size_t(N) * OC, WC = size_t(OC) * C;
  std::vector<OpCheck> out;
  const std::string shape = " B" + std::to_string(B) + " T" + std::to_string(T) + " C" +
                            std::to_string(C) + " NH" + std::to_string(NH);
  const auto pick = [](bool r, Twin& t) { return r ? t.r() : t.d(); };
  const auto ids = [](bool r, Twin& t) { return r ? t.ref->i32() : t.dev->i32(); };
  const auto add = [&](const std::string& op, double tol, const std::function<Status(Ops&, bool)>& run,
                       std::vector<Twin*> outputs) {
    out.push_back(Check(h, op + shape, tol, run, std::move(outputs)));
  };
  {
    PLUME_TWIN(tokens, h.Tokens(N, V));
    PLUME_TWIN(wte, h.Random(size_t(Vp) * C, 0.1));
    PLUME_TWIN(wpe, h.Random(size_t(T) * C, 0.1));
    PLUME_TWIN(y, h.Random(NC, 7.0));
    add("encoder_forward", kTolElementwise, [&](Ops& o, bool r) {
      return o.EncoderForward(pick(r, y), ids(r, tokens), pick(r, wte), pick(r, wpe), B, T, C);
    }, {&y});
  }
  {
    PLUME_TWIN(tokens, h.Tokens(N, V));
    const std::vector<int32_t> host = h.last_tokens();
    PLUME_TWIN(dy, h.Random(NC));
    PLUME_TWIN(dwte, h.Random(size_t(Vp) * C, 0.1));
    PLUME_TWIN(dwpe, h.Random(size_t(T) * C, 0.1));
    add("encoder_backward", kTolElementwise, [&](Ops& o, bool r) {
      return o.EncoderBackward(pick(r, dwte), pick(r, dwpe), pick(r, dy), ids(r, tokens),
                               host.data(), B, T, C);
    }, {&dwte, &dwpe});
  }
  {
    PLUME_TWIN(x, h.Random(NC));
    PLUME_TWIN(w, h.Random(C, 0.5));
    PLUME_TWIN(b, h.Random(C, 0.5));
    PLUME_TWIN(y, h.Random(NC, 7.0));
    PLUME_TWIN(mean, h.Random(N, 7.0));
    PLUME_TWIN(rstd, h.Random(N, 7.0));
    add("layernorm_forward", kTolElementwise, [&](Ops& o, bool r) {
      return o.LayerNormForward(pick(r, y), pick(r, mean), pick(r, rstd), pick(r, x), pick(r, w),
                                pick(r, b), N, C);
    }, {&y, &mean, &rstd});
  }
  {
    PLUME_TWIN(x, h.Random(NC));
    PLUME_TWIN(w, h.Random(C, 0.5));
    PLUME_TWIN(b, h.Random(C, 0.5));
    PLUME_TWIN(y, h.Random(NC));
    PLUME_TWIN(mean, h.Random(N));
    PLUME_TWIN(rstd, h.Random(N));
    PLUME_MIRROR(mean, h.ref().LayerNormForward(y.r(), mean.r(), rstd.r(), x.r(), w.r(), b.r(), N, C));
    if (auto s = h.Mirror(rstd); !s) return {{"mirror", false, 0, 0, s.error().message}};
    PLUME_TWIN(dy, h.Random(NC));
    PLUME_TWIN(dx, h.Random(NC, 0.5));  // backward accumulates into existing values
    PLUME_TWIN(dw, h.Random(C));
    PLUME_TWIN(db, h.Random(C));
    add("layernorm_backward", kTolReduction, [&](Ops& o, bool r) {
      return o.LayerNormBackward(pick(r, dx), pick(r, dw), pick(r, db), pick(r, dy), pick(r, x),
                                 pick(r, w), pick(r, mean), pick(r, rstd), N, C);
    }, {&dx, &dw, &db});
  }
  {
    PLUME_TWIN(x, h.Random(NC, 2.0));
    PLUME_TWIN(y, h.Random(NC, 7.0));
    add("gelu_forward", kTolElementwise, [&](Ops& o, bool r) {
      return o.GeluForward(pick(r, y), pick(r, x), NC);
    }, {&y});
  }
  {
    PLUME_TWIN(x, h.Random(NC, 2.0));
    PLUME_TWIN(dy, h.Random(NC));
    PLUME_TWIN(dx, h.Random(NC, 0.5));
    add("gelu_backward", kTolElementwise, [&](Ops& o, bool r) {
      return o.GeluBackward(pick(r, dx), pick(r, x), pick(r, dy), NC);
    }, {&dx});
  }
  {
    PLUME_TWIN(a, h.Random(NC));
    PLUME_TWIN(b, h.Random(NC));
    PLUME_TWIN(y, h.Random(NC, 7.0));
    add("residual_forward", kTolElementwise, [&](Ops& o, bool r) {
      return o.ResidualForward(pick(r, y), pick(r, a), pick(r, b), NC);
    }, {&y});
  }
  {
    PLUME_TWIN(dy, h.Random(NC));
    PLUME_TWIN(da, h.Random(NC, 0.5));
    PLUME_TWIN(db, h.Random(NC, 0.5));
    add("residual_backward", kTolElementwise, [&](Ops& o, bool r) {
      return o.ResidualBackward(pick(r, da), pick(r, db), pick(r, dy), NC);
    }, {&da, &db});
  }
  // Matmul (N, C) x (OC, C)^T with OC = 3C, as the qkv projection.
  {
    PLUME_TWIN(x, h.Random(NC));
    PLUME_TWIN(w, h.Random(WC, 0.2));
    PLUME_TWIN(b, h.Random(OC, 0.2));
    PLUME_TWIN(y, h.Random(NOC, 7.0));
    add("matmul_forward", kTolMatmul, [&](Ops& o, bool r) {
      return o.MatmulForward(pick(r, y), pick(r, x), pick(r, w), pick(r, b), N, C, OC);
    }, {&y});
  }
  {
    PLUME_TWIN(x, h.Random(NC));
    PLUME_TWIN(w, h.Random(WC, 0.2));
    PLUME_TWIN(dy, h.Random(NOC));
    PLUME_TWIN(dx, h.Random(NC, 0.5));
    PLUME_TWIN(dw, h.Random(WC, 0.1));
    PLUME_TWIN(db, h.Random(OC, 0.1));
    add("matmul_backward", kTolMatmul, [&](Ops& o, bool r) {
      return o.MatmulBackward(pick(r, dx), pick(r, dw), pick(r, db), pick(r, dy), pick(r, x),
                              pick(r, w), N, C, OC);
    }, {&dx, &dw, &db});
  }
  // Attention on qkv (B, T, 3C).
  {
    PLUME_TWIN(qkv, h.Random(NOC));
    PLUME_TWIN(y, h.Random(NC, 7.0));
    PLUME_TWIN(lse, h.Random(size_t(B) * NH * T, 7.0));
    const double tol = kernels.attention == CudaAttentionKernel::kBf16 ? kTolAttentionBf16
                                                                      : kTolReduction;
    add("attention_forward", tol, [&](Ops& o, bool r) {
      return o.AttentionForward(pick(r, y), pick(r, lse), pick(r, qkv), B, T, C, NH);
    }, {&y, &lse});
  }
  {
    PLUME_TWIN(qkv, h.Random(NOC));
    PLUME_TWIN(y, h.Random(NC));
    PLUME_TWIN(lse, h.Random(size_t(B) * NH * T));
    PLUME_MIRROR(y, h.ref().AttentionForward(y.r(), lse.r(), qkv.r(), B, T, C, NH));
    if (auto s = h.Mirror(lse); !s) return {{"mirror", false, 0, 0, s.error().message}};
    PLUME_TWIN(dy, h.Random(NC));
    PLUME_TWIN(dqkv, h.Random(NOC, 0.1));
    add("attention_backward", kTolReduction, [&](Ops& o, bool r) {
      return o.AttentionBackward(pick(r, dqkv), pick(r, dy), pick(r, qkv), pick(r, y),
                                 pick(r, lse), B, T, C, NH);
    }, {&dqkv});
  }
  // Softmax + cross-entropy over the vocabulary, and the sampling softmax.
  {
    PLUME_TWIN(targets, h.Tokens(N, V));
    PLUME_TWIN(logits, h.Random(size_t(N) * Vp, 2.0));
    PLUME_TWIN(probs, h.Random(size_t(N) * Vp, 7.0));
    PLUME_TWIN(losses, h.Random(N, 7.0));
    add("softmax_cross_entropy", kTolReduction, [&](Ops& o, bool r) {
      return o.SoftmaxCrossEntropy(pick(r, logits), pick(r, losses), pick(r, probs),
                                   ids(r, targets), N, V, Vp, 1.0f / N, true);
    }, {&logits, &losses, &probs});
  }
  {
    PLUME_TWIN(logits, h.Random(size_t(N) * Vp, 2.0));
    PLUME_TWIN(probs, h.Random(size_t(N) * Vp, 7.0));
    add("softmax", kTolReduction, [&](Ops& o, bool r) {
      return o.Softmax(pick(r, probs), pick(r, logits), N, V, Vp, 0.8f);
    }, {&probs});
  }
  // Optimizer ops on a weight-sized vector.
  {
    PLUME_TWIN(p, h.Random(WC, 0.2));
    PLUME_TWIN(g, h.Random(WC, 0.1));
    PLUME_TWIN(m, h.Random(WC, 0.01));
    PLUME_TWIN(v, h.Random(WC, 0.01, true));
    add("adamw", kTolElementwise, [&](Ops& o, bool r) {
      AdamWParams a;
      a.lr = 1e-2f;
      a.weight_decay = 0.1f;
      a.step = 3;
      return o.AdamW(pick(r, p), pick(r, g), pick(r, m), pick(r, v), WC, a);
    }, {&p, &m, &v});
  }
  {
    PLUME_TWIN(g, h.Random(WC, 0.1));
    OpCheck c{"global_norm" + shape, false, 0.0, kTolReduction, ""};
    auto a = h.ref().GlobalNorm(g.r(), WC);
    auto d = h.dev().GlobalNorm(g.d(), WC);
    if (a && d) {
      c.error = std::isfinite(*d) ? std::abs(*a - *d) / std::max(1e-30f, std::abs(*a)) : 1e30;
      c.passed = c.error <= c.tolerance;
      if (!c.passed) c.detail = "error above tolerance";
    } else {
      c.detail = a ? d.error().message : a.error().message;
    }
    out.push_back(c);
  }
  {
    PLUME_TWIN(x, h.Random(WC));
    add("scale", kTolElementwise, [&](Ops& o, bool r) {
      return o.Scale(pick(r, x), 0.37f, WC);
    }, {&x});
  }
  return out;
}

#undef PLUME_MIRROR
#undef PLUME_TWIN

}  // namespace

double ElementError(const std::vector<float>& want, const std::vector<float>& got) {
  if (want.size() != got.size()) return 1e30;
  double sumsq = 0.0;
  for (float x : want) sumsq += double(x) * x;
  const double rms = std::sqrt(sumsq / std::max<size_t>(want.size(), 1)) + 1e-30;
  double worst = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return 1e30;
    worst = std::max(worst, std::abs(double(got[i]) - want[i]) / (std::abs(want[i]) + rms));
  }
  return worst;
}

std::vector<OpCheck> CompareOps(Ops& reference, Ops& device, uint64_t seed,
                                const CudaKernelChoice& kernels) {
  Harness h(reference, device, seed);
  std::vector<OpCheck> all;
  // An odd shape (nothing a multiple of a tile), a GPT-2-like head size, a longer sequence.
  for (const auto& [B, T, C, NH, V] : std::vector<std::array<int, 5>>{
           {1, 7, 24, 3, 61}, {2, 64, 128, 2, 256}, {1, 257, 96, 4, 300}}) {
    auto checks = CheckShape(h, B, T, C, NH, V, kernels);
    all.insert(all.end(), checks.begin(), checks.end());
  }
  return all;
}

}  // namespace plume::kernels
