// Tests of the CPU backend (CpuOps): forward results against naive reference loops written here
// in double, AdamW against hand-computed steps, gradient clipping, bit-identical repeats and
// thread-count independence, memory, and error values for bad sizes. Gradients are checked
// against finite differences in cpu_grad_test.cc.
#include "cpu_ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cpu_test_util.h"
#include "fast_math.h"
#include "plume/kernels/ops.h"

namespace plume::kernels {
namespace {

using testing::BitEqual;
using testing::RandomTokens;
using testing::RandomVec;

#define ASSERT_OK(expr)                                \
  do {                                                 \
    auto _s = (expr);                                  \
    ASSERT_TRUE(_s.has_value()) << _s.error().message; \
  } while (0)

void ExpectNear(const std::vector<float>& got, const std::vector<double>& want, double rel,
                double abs, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::fabs(got[i] - want[i]) > rel * std::fabs(want[i]) + abs && bad++ < 5) {
      ADD_FAILURE() << what << "[" << i << "] = " << got[i] << ", want " << want[i];
    }
  }
}

// Shapes inside one 128x128 sgemm tile and across several (with ragged edge tiles), forward
// and backward against triple loops.
TEST(CpuOps, MatmulMatchesTripleLoop) {
  auto ops = MakeCpuOps();
  for (const auto& [N, C, OC] : {std::tuple{7, 13, 9}, std::tuple{150, 140, 270}}) {
    const auto inp = RandomVec(N * C, 1), w = RandomVec(OC * C, 2), b = RandomVec(OC, 3);
    const auto dout = RandomVec(N * OC, 4);
    std::vector<float> out(N * OC, NAN);  // poisoned: every element must be written
    ASSERT_OK(ops->MatmulForward(out.data(), inp.data(), w.data(), b.data(), N, C, OC));
    std::vector<float> dinp(N * C, 1.0f), dw(OC * C, 2.0f), db(OC, 3.0f);
    ASSERT_OK(ops->MatmulBackward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(),
                                  w.data(), N, C, OC));
    std::vector<double> want(N * OC), want_dinp(N * C, 1.0), want_dw(OC * C, 2.0), want_db(OC, 3.0);
    for (int i = 0; i < N; ++i)
      for (int o = 0; o < OC; ++o) {
        double s = b[o];
        for (int c = 0; c < C; ++c) s += static_cast<double>(inp[i * C + c]) * w[o * C + c];
        want[i * OC + o] = s;
        const double d = dout[i * OC + o];
        want_db[o] += d;
        for (int c = 0; c < C; ++c) {
          want_dinp[i * C + c] += d * w[o * C + c];
          want_dw[o * C + c] += d * inp[i * C + c];
        }
      }
    ExpectNear(out, want, 1e-5, 1e-4, "out");
    ExpectNear(dinp, want_dinp, 1e-5, 1e-4, "dinp");
    ExpectNear(dw, want_dw, 1e-5, 1e-4, "dweight");
    ExpectNear(db, want_db, 1e-5, 1e-4, "dbias");
  }
}

// The vectorisable exp and tanh (fast_math.h) against libm in double.
TEST(CpuOps, FastExpAndTanhAreAccurate) {
  double exp_rel = 0.0, tanh_abs = 0.0;
  for (double x = -87.0; x <= 88.0; x += 1.7e-3) {
    const float xf = static_cast<float>(x);
    const double want = std::exp(static_cast<double>(xf));
    exp_rel = std::max(exp_rel, std::fabs(cpu::FastExp(xf) - want) / want);
  }
  for (double u = -20.0; u <= 20.0; u += 1.3e-4) {
    const float uf = static_cast<float>(u);
    tanh_abs =
        std::max(tanh_abs, std::fabs(cpu::FastTanh(uf) - std::tanh(static_cast<double>(uf))));
  }
  EXPECT_LT(exp_rel, 2.5e-7);  // about 2 ulp
  EXPECT_LT(tanh_abs, 3e-7);
  EXPECT_EQ(cpu::FastExp(0.0f), 1.0f);
  EXPECT_EQ(cpu::FastExp(-1000.0f), 0.0f);  // underflow is 0, not a denormal or garbage
  EXPECT_EQ(cpu::FastTanh(50.0f), 1.0f);
  EXPECT_EQ(cpu::FastTanh(-50.0f), -1.0f);
}

// Naive attention: the full (T,T) score matrix per head with a causal mask.
void NaiveAttention(const std::vector<float>& qkv, int B, int T, int C, int NH,
                    std::vector<double>* out, std::vector<double>* lse) {
  const int HS = C / NH;
  out->assign(static_cast<size_t>(B) * T * C, 0.0);
  lse->assign(static_cast<size_t>(B) * NH * T, 0.0);
  auto at = [&](int b, int t, int part, int h, int d) {
    return static_cast<double>(qkv[((b * T + t) * 3 + part) * C + h * HS + d]);
  };
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h) {
      std::vector<double> S(T * T, -INFINITY);
      for (int t = 0; t < T; ++t)
        for (int j = 0; j <= t; ++j) {
          double s = 0;
          for (int d = 0; d < HS; ++d) s += at(b, t, 0, h, d) * at(b, j, 1, h, d);
          S[t * T + j] = s / std::sqrt(static_cast<double>(HS));
        }
      for (int t = 0; t < T; ++t) {
        double z = 0;
        for (int j = 0; j < T; ++j) z += std::exp(S[t * T + j]);  // masked entries give 0
        (*lse)[(b * NH + h) * T + t] = std::log(z);
        for (int j = 0; j < T; ++j)
          for (int d = 0; d < HS; ++d)
            (*out)[(b * T + t) * C + h * HS + d] += std::exp(S[t * T + j]) / z * at(b, j, 2, h, d);
      }
    }
}

TEST(CpuOps, AttentionMatchesNaiveSoftmax) {
  auto ops = MakeCpuOps();
  // T = 150 spans three query blocks of the implementation (64 rows each).
  for (const auto& [B, T, C, NH] :
       {std::tuple{2, 5, 12, 3}, std::tuple{1, 33, 64, 2}, std::tuple{2, 150, 32, 2}}) {
    const auto qkv = RandomVec(static_cast<size_t>(B) * T * 3 * C, 4, -2.0f, 2.0f);
    std::vector<float> out(static_cast<size_t>(B) * T * C, NAN), lse(B * NH * T, NAN);
    ASSERT_OK(ops->AttentionForward(out.data(), lse.data(), qkv.data(), B, T, C, NH));
    std::vector<double> want_out, want_lse;
    NaiveAttention(qkv, B, T, C, NH, &want_out, &want_lse);
    ExpectNear(out, want_out, 1e-4, 1e-5, "out");
    ExpectNear(lse, want_lse, 1e-5, 1e-5, "lse");
  }
}

TEST(CpuOps, LayerNormEncoderGeluResidualMatchReference) {
  auto ops = MakeCpuOps();
  const int N = 6, C = 19;
  const auto x = RandomVec(N * C, 5, 2.0f, 4.0f), w = RandomVec(C, 6), b = RandomVec(C, 7);
  std::vector<float> out(N * C, NAN), mean(N, NAN), rstd(N, NAN);
  ASSERT_OK(ops->LayerNormForward(out.data(), mean.data(), rstd.data(), x.data(), w.data(),
                                  b.data(), N, C));
  std::vector<double> want(N * C), want_mean(N), want_rstd(N);
  for (int i = 0; i < N; ++i) {
    double m = 0, v = 0;
    for (int c = 0; c < C; ++c) m += x[i * C + c] / static_cast<double>(C);
    for (int c = 0; c < C; ++c) v += (x[i * C + c] - m) * (x[i * C + c] - m) / C;
    want_mean[i] = m;
    want_rstd[i] = 1.0 / std::sqrt(v + 1e-5);
    for (int c = 0; c < C; ++c) want[i * C + c] = (x[i * C + c] - m) * want_rstd[i] * w[c] + b[c];
  }
  ExpectNear(out, want, 1e-5, 1e-5, "layernorm out");
  ExpectNear(mean, want_mean, 1e-6, 1e-6, "mean");
  ExpectNear(rstd, want_rstd, 1e-5, 0, "rstd");

  const int B = 2, T = 3, V = 5;
  const auto tokens = RandomTokens(B * T, V, 8);
  const auto wte = RandomVec(V * C, 9), wpe = RandomVec(T * C, 10);
  std::vector<float> enc(B * T * C, NAN);
  ASSERT_OK(ops->EncoderForward(enc.data(), tokens.data(), wte.data(), wpe.data(), B, T, C));
  for (int r = 0; r < B * T; ++r)
    for (int c = 0; c < C; ++c)
      ASSERT_EQ(enc[r * C + c], wte[tokens[r] * C + c] + wpe[(r % T) * C + c]);

  const auto g_in = RandomVec(100, 11, -5.0f, 5.0f);
  std::vector<float> g_out(100, NAN), r_out(100, NAN);
  std::vector<double> g_want(100), r_want(100);
  ASSERT_OK(ops->GeluForward(g_out.data(), g_in.data(), 100));
  ASSERT_OK(ops->ResidualForward(r_out.data(), g_in.data(), x.data(), 100));
  for (int i = 0; i < 100; ++i) {
    const double v = g_in[i];
    g_want[i] = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    r_want[i] = static_cast<double>(g_in[i]) + x[i];
  }
  ExpectNear(g_out, g_want, 1e-5, 1e-6, "gelu");
  ExpectNear(r_out, r_want, 1e-7, 0, "residual");
}

TEST(CpuOps, SoftmaxCrossEntropyAndTemperature) {
  auto ops = MakeCpuOps();
  const int N = 4, V = 10, Vp = 16;
  auto logits = RandomVec(N * Vp, 12, -4.0f, 4.0f);
  logits[0] = 80.0f;  // large logits must not overflow exp()
  const auto targets = RandomTokens(N, V, 13);
  std::vector<float> losses(N, NAN), probs(N * Vp, NAN), temp(N * Vp, NAN);
  ASSERT_OK(ops->Softmax(temp.data(), logits.data(), N, V, Vp, 0.5f));
  auto work = logits;
  ASSERT_OK(ops->SoftmaxCrossEntropy(work.data(), losses.data(), probs.data(), targets.data(), N, V,
                                     Vp, 1.0f, false));
  EXPECT_TRUE(BitEqual(work, logits)) << "logits changed although write_dlogits is false";
  std::vector<double> want_loss(N), want_p(N * Vp, 0.0), want_t(N * Vp, 0.0);
  for (int i = 0; i < N; ++i) {
    const float* x = logits.data() + i * Vp;
    double mx = x[0];
    for (int j = 1; j < V; ++j) mx = std::max<double>(mx, x[j]);
    double z = 0, zt = 0;
    for (int j = 0; j < V; ++j) z += std::exp(x[j] - mx);
    for (int j = 0; j < V; ++j) zt += std::exp((x[j] - mx) / 0.5);
    for (int j = 0; j < V; ++j) want_p[i * Vp + j] = std::exp(x[j] - mx) / z;
    for (int j = 0; j < V; ++j) want_t[i * Vp + j] = std::exp((x[j] - mx) / 0.5) / zt;
    want_loss[i] = -std::log(want_p[i * Vp + targets[i]]);
  }
  ExpectNear(losses, want_loss, 1e-5, 1e-5, "losses");
  ExpectNear(probs, want_p, 1e-5, 1e-7, "probs");
  ExpectNear(temp, want_t, 1e-5, 1e-7, "softmax with temperature");
}

TEST(CpuOps, AdamWMatchesHandComputedSteps) {
  // p0 = 1, grads 1, -1, 2; b1 = 0.5, b2 = 0.75, eps = 0, lr = 0.1, wd = 0.5. By hand:
  //  t=1: m = 0.5, v = 0.25, mhat = 1, vhat = 1, p = 1 - 0.1 * (1 + 0.5) = 0.85
  //  t=2: m = -0.25, v = 0.4375, mhat = -1/3, vhat = 1, p = 0.85 - 0.1 * (-1/3 + 0.425)
  //       = 0.8408333
  //  t=3: m = 0.875, v = 1.328125, mhat = 1, vhat = 1.328125 / 0.578125 = 2.2972973,
  //       p = 0.8408333 - 0.1 * (1 / 1.5156838 + 0.4204167) = 0.7328148
  auto ops = MakeCpuOps();
  const float want_p[3] = {0.85f, 0.8408333f, 0.7328148f};
  const float want_m[3] = {0.5f, -0.25f, 0.875f};
  const float want_v[3] = {0.25f, 0.4375f, 1.328125f};
  const float grads[3] = {1.0f, -1.0f, 2.0f};
  float p = 1.0f, m = 0.0f, v = 0.0f;
  for (int t = 1; t <= 3; ++t) {
    AdamWParams hp{0.1f, 0.5f, 0.75f, 0.0f, 0.5f, t};
    ASSERT_OK(ops->AdamW(&p, &grads[t - 1], &m, &v, 1, hp));
    EXPECT_NEAR(p, want_p[t - 1], 1e-6) << "step " << t;
    EXPECT_FLOAT_EQ(m, want_m[t - 1]) << "step " << t;
    EXPECT_FLOAT_EQ(v, want_v[t - 1]) << "step " << t;
  }
}

TEST(CpuOps, GlobalNormAndScaleClipGradients) {
  auto ops = MakeCpuOps();
  std::vector<float> g = {3.0f, 4.0f};
  auto norm = ops->GlobalNorm(g.data(), g.size());
  ASSERT_TRUE(norm.has_value()) << norm.error().message;
  EXPECT_EQ(*norm, 5.0f);
  const float max_norm = 1.0f;  // clip to norm 1: scale by 1/5
  ASSERT_OK(ops->Scale(g.data(), max_norm / *norm, g.size()));
  EXPECT_FLOAT_EQ(g[0], 0.6f);
  EXPECT_FLOAT_EQ(g[1], 0.8f);
  EXPECT_NEAR(*ops->GlobalNorm(g.data(), g.size()), 1.0f, 1e-7);

  // Several reduction chunks plus a ragged tail, against a double sum.
  const auto big = RandomVec(3 * cpu::kNormChunkElems + 17, 14);
  double sq = 0;
  for (float x : big) sq += static_cast<double>(x) * x;
  EXPECT_NEAR(*ops->GlobalNorm(big.data(), big.size()), std::sqrt(sq), 1e-6 * std::sqrt(sq));
}

TEST(CpuOps, MemoryIsZeroFilledAlignedAndCopies) {
  auto ops = MakeCpuOps(2);
  EXPECT_EQ(ops->backend(), Backend::kCpu);
  EXPECT_EQ(ops->DeviceName(), "cpu (2 threads)");
  auto buf = ops->Alloc(1000 * sizeof(float));
  ASSERT_TRUE(buf.has_value()) << buf.error().message;
  EXPECT_EQ((*buf)->bytes(), 1000 * sizeof(float));
  EXPECT_EQ(reinterpret_cast<uintptr_t>((*buf)->data()) % 64, 0u);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ((*buf)->f32()[i], 0.0f);
  ASSERT_OK(ops->Fill((*buf)->f32(), 2.5f, 1000));
  std::vector<float> host(1000);
  ASSERT_OK(ops->CopyToHost(host.data(), (*buf)->data(), 1000 * sizeof(float)));
  for (float x : host) ASSERT_EQ(x, 2.5f);
  host[7] = -1.0f;
  ASSERT_OK(ops->CopyToDevice((*buf)->data(), host.data(), 1000 * sizeof(float)));
  EXPECT_EQ((*buf)->f32()[7], -1.0f);
  auto empty = ops->Alloc(0);
  ASSERT_TRUE(empty.has_value());
  EXPECT_NE((*empty)->data(), nullptr);
}

}  // namespace
}  // namespace plume::kernels
