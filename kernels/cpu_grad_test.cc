// Gradient checks of every CPU op against central finite differences.
//
// Each test builds the scalar loss L = sum(out * R) for a fixed random R (in double), runs the
// op's backward with dout = R into gradient buffers pre-filled with kPrefill (ops accumulate,
// so the gradient is what was added), and compares it with (L(x+eps) - L(x-eps)) / 2eps for
// every element of every input, on several shapes including odd ones. The last tests show the
// checker rejects a gradient that is slightly wrong.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cpu_test_util.h"
#include "plume/kernels/ops.h"

namespace plume::kernels {
namespace {

using testing::Accumulated;
using testing::CheckGradient;
using testing::GradTolerance;
using testing::RandomTokens;
using testing::RandomVec;
using testing::WeightedSum;

constexpr float kPrefill = 0.25f;

// Finite differences call each forward thousands of times on tiny shapes, where threads only add
// barrier waits (seconds on a busy 2-core machine); the threaded paths are covered by
// cpu_ops_test.cc and cpu_determinism_test.cc, whose results do not depend on the thread count.
std::unique_ptr<Ops> GradOps() { return MakeCpuOps(1); }
constexpr size_t kAll = 1 << 20;  // check every element: the shapes here are small

GradTolerance Linear() { return {1e-2f, 1e-2, 1e-3, kAll}; }     // exact up to rounding
GradTolerance Nonlinear() { return {3e-3f, 1e-2, 1e-3, kAll}; }  // smaller step, curvature

void ExpectGradient(std::vector<float>& x, const std::vector<float>& analytic,
                    const std::function<double()>& loss, const GradTolerance& tol,
                    const std::string& what) {
  const auto r = CheckGradient(x, analytic, loss, tol);
  EXPECT_GT(r.checked, 0) << what;
  EXPECT_EQ(r.failed, 0) << what << ": " << r.failed << " of " << r.checked
                         << " elements disagree, first " << r.first_failure;
}

#define ASSERT_OK(expr)                                \
  do {                                                 \
    auto _s = (expr);                                  \
    ASSERT_TRUE(_s.has_value()) << _s.error().message; \
  } while (0)

struct EncoderShape {
  int B, T, C, V, maxT;
};

TEST(CpuGrad, Encoder) {
  auto ops = GradOps();
  for (const EncoderShape s :
       {EncoderShape{2, 5, 12, 7, 6}, EncoderShape{1, 3, 5, 4, 3}, EncoderShape{3, 4, 17, 2, 4}}) {
    const int Vp = s.V + 1;
    auto tokens = RandomTokens(s.B * s.T, s.V, 11);
    if (tokens.size() > 1) tokens[1] = tokens[0];  // a repeated token sums into one dwte row
    auto wte = RandomVec(static_cast<size_t>(Vp) * s.C, 1);
    auto wpe = RandomVec(static_cast<size_t>(s.maxT) * s.C, 2);
    const auto R = RandomVec(static_cast<size_t>(s.B) * s.T * s.C, 3);
    std::vector<float> out(R.size());
    auto loss = [&] {
      EXPECT_TRUE(
          ops->EncoderForward(out.data(), tokens.data(), wte.data(), wpe.data(), s.B, s.T, s.C));
      return WeightedSum(out, R);
    };
    std::vector<float> dwte(wte.size(), kPrefill), dwpe(wpe.size(), kPrefill);
    ASSERT_OK(ops->EncoderBackward(dwte.data(), dwpe.data(), R.data(), tokens.data(), tokens.data(),
                                   s.B, s.T, s.C));
    ExpectGradient(wte, Accumulated(dwte, kPrefill), loss, Linear(), "dwte");
    ExpectGradient(wpe, Accumulated(dwpe, kPrefill), loss, Linear(), "dwpe");
  }
}

TEST(CpuGrad, LayerNorm) {
  auto ops = GradOps();
  for (const auto& [N, C] : {std::pair{7, 13}, std::pair{3, 32}, std::pair{1, 5}}) {
    auto inp = RandomVec(static_cast<size_t>(N) * C, 4, -1.5f, 2.5f);  // non-zero mean
    auto weight = RandomVec(C, 5, 0.5f, 1.5f);
    auto bias = RandomVec(C, 6);
    const auto R = RandomVec(inp.size(), 7);
    std::vector<float> out(inp.size()), mean(N), rstd(N);
    auto loss = [&] {
      EXPECT_TRUE(ops->LayerNormForward(out.data(), mean.data(), rstd.data(), inp.data(),
                                        weight.data(), bias.data(), N, C));
      return WeightedSum(out, R);
    };
    loss();
    std::vector<float> dinp(inp.size(), kPrefill), dw(C, kPrefill), db(C, kPrefill);
    ASSERT_OK(ops->LayerNormBackward(dinp.data(), dw.data(), db.data(), R.data(), inp.data(),
                                     weight.data(), mean.data(), rstd.data(), N, C));
    ExpectGradient(inp, Accumulated(dinp, kPrefill), loss, Nonlinear(), "dinp");
    ExpectGradient(weight, Accumulated(dw, kPrefill), loss, Nonlinear(), "dweight");
    ExpectGradient(bias, Accumulated(db, kPrefill), loss, Nonlinear(), "dbias");
  }
}

struct MatmulShape {
  int N, C, OC;
  bool bias;
  bool want_dinp;
};

TEST(CpuGrad, Matmul) {
  auto ops = GradOps();
  for (const MatmulShape s :
       {MatmulShape{7, 13, 9, true, true}, MatmulShape{4, 32, 17, true, true},
        MatmulShape{5, 3, 1, false, true}, MatmulShape{6, 8, 5, true, false}}) {
    auto inp = RandomVec(static_cast<size_t>(s.N) * s.C, 8);
    auto weight = RandomVec(static_cast<size_t>(s.OC) * s.C, 9);
    auto bias = RandomVec(s.OC, 10);
    const auto R = RandomVec(static_cast<size_t>(s.N) * s.OC, 11);
    std::vector<float> out(R.size());
    auto loss = [&] {
      EXPECT_TRUE(ops->MatmulForward(out.data(), inp.data(), weight.data(),
                                     s.bias ? bias.data() : nullptr, s.N, s.C, s.OC));
      return WeightedSum(out, R);
    };
    std::vector<float> dinp(inp.size(), kPrefill), dw(weight.size(), kPrefill),
        db(bias.size(), kPrefill);
    ASSERT_OK(ops->MatmulBackward(s.want_dinp ? dinp.data() : nullptr, dw.data(),
                                  s.bias ? db.data() : nullptr, R.data(), inp.data(), weight.data(),
                                  s.N, s.C, s.OC));
    if (s.want_dinp) {
      ExpectGradient(inp, Accumulated(dinp, kPrefill), loss, Linear(), "dinp");
    } else {
      for (float g : dinp) EXPECT_EQ(g, kPrefill) << "dinp written although null was passed";
    }
    ExpectGradient(weight, Accumulated(dw, kPrefill), loss, Linear(), "dweight");
    if (s.bias) ExpectGradient(bias, Accumulated(db, kPrefill), loss, Linear(), "dbias");
  }
}

struct AttnShape {
  int B, T, C, NH;
};

// Runs the attention forward/backward on qkv and returns the accumulated dqkv; `loss` stays
// usable for finite differences.
std::vector<float> AttentionGrad(Ops& ops, std::vector<float>& qkv, const std::vector<float>& R,
                                 const AttnShape& s, std::function<double()>* loss) {
  auto out = std::make_shared<std::vector<float>>(R.size());
  auto lse = std::make_shared<std::vector<float>>(static_cast<size_t>(s.B) * s.NH * s.T);
  *loss = [&ops, &qkv, &R, s, out, lse] {
    EXPECT_TRUE(ops.AttentionForward(out->data(), lse->data(), qkv.data(), s.B, s.T, s.C, s.NH));
    return WeightedSum(*out, R);
  };
  (*loss)();
  std::vector<float> dqkv(qkv.size(), kPrefill);
  EXPECT_TRUE(ops.AttentionBackward(dqkv.data(), R.data(), qkv.data(), out->data(), lse->data(),
                                    s.B, s.T, s.C, s.NH));
  return Accumulated(dqkv, kPrefill);
}

TEST(CpuGrad, Attention) {
  auto ops = GradOps();
  for (const AttnShape s : {AttnShape{2, 5, 12, 3}, AttnShape{1, 9, 16, 2}, AttnShape{1, 1, 4, 1},
                            AttnShape{2, 7, 6, 6}}) {
    auto qkv = RandomVec(static_cast<size_t>(s.B) * s.T * 3 * s.C, 12, -2.0f, 2.0f);
    const auto R = RandomVec(static_cast<size_t>(s.B) * s.T * s.C, 13);
    std::function<double()> loss;
    const auto dqkv = AttentionGrad(*ops, qkv, R, s, &loss);
    ExpectGradient(qkv, dqkv, loss, Nonlinear(), "dqkv");
  }
  // Longer than one query block of the implementation (64 rows): a spread of 400 elements.
  const AttnShape s{1, 70, 8, 2};
  auto qkv = RandomVec(static_cast<size_t>(s.B) * s.T * 3 * s.C, 23, -2.0f, 2.0f);
  const auto R = RandomVec(static_cast<size_t>(s.B) * s.T * s.C, 24);
  std::function<double()> loss;
  const auto dqkv = AttentionGrad(*ops, qkv, R, s, &loss);
  GradTolerance tol = Nonlinear();
  tol.max_checks = 400;
  ExpectGradient(qkv, dqkv, loss, tol, "dqkv (T=70)");
}

TEST(CpuGrad, Gelu) {
  auto ops = GradOps();
  for (size_t n : {1, 37, 300}) {
    auto inp = RandomVec(n, 14, -4.0f, 4.0f);
    const auto R = RandomVec(n, 15);
    std::vector<float> out(n);
    auto loss = [&] {
      EXPECT_TRUE(ops->GeluForward(out.data(), inp.data(), n));
      return WeightedSum(out, R);
    };
    std::vector<float> dinp(n, kPrefill);
    ASSERT_OK(ops->GeluBackward(dinp.data(), inp.data(), R.data(), n));
    ExpectGradient(inp, Accumulated(dinp, kPrefill), loss, Nonlinear(), "dinp");
  }
}

TEST(CpuGrad, Residual) {
  auto ops = GradOps();
  const size_t n = 11;
  auto a = RandomVec(n, 16), b = RandomVec(n, 17);
  const auto R = RandomVec(n, 18);
  std::vector<float> out(n);
  auto loss = [&] {
    EXPECT_TRUE(ops->ResidualForward(out.data(), a.data(), b.data(), n));
    return WeightedSum(out, R);
  };
  std::vector<float> da(n, kPrefill), db(n, kPrefill);
  ASSERT_OK(ops->ResidualBackward(da.data(), db.data(), R.data(), n));
  ExpectGradient(a, Accumulated(da, kPrefill), loss, Linear(), "da");
  ExpectGradient(b, Accumulated(db, kPrefill), loss, Linear(), "db");
}

struct XentShape {
  int N, V, Vp;
  float loss_scale;
};

TEST(CpuGrad, SoftmaxCrossEntropy) {
  auto ops = GradOps();
  for (const XentShape s :
       {XentShape{5, 7, 8, 0.2f}, XentShape{3, 50, 64, 1.0f}, XentShape{1, 2, 2, 3.0f}}) {
    auto logits = RandomVec(static_cast<size_t>(s.N) * s.Vp, 19, -3.0f, 3.0f);
    const auto targets = RandomTokens(s.N, s.V, 20);
    std::vector<float> work(logits.size()), losses(s.N);
    auto loss = [&] {
      work = logits;
      EXPECT_TRUE(ops->SoftmaxCrossEntropy(work.data(), losses.data(), nullptr, targets.data(), s.N,
                                           s.V, s.Vp, s.loss_scale, false));
      double sum = 0.0;
      for (float l : losses) sum += l;
      return s.loss_scale * sum;
    };
    std::vector<float> dlogits = logits;
    ASSERT_OK(ops->SoftmaxCrossEntropy(dlogits.data(), losses.data(), nullptr, targets.data(), s.N,
                                       s.V, s.Vp, s.loss_scale, true));
    for (int i = 0; i < s.N; ++i)
      for (int j = s.V; j < s.Vp; ++j)
        EXPECT_EQ(dlogits[static_cast<size_t>(i) * s.Vp + j], 0.0f) << "padding gradient";
    ExpectGradient(logits, dlogits, loss, Nonlinear(), "dlogits");
  }
}

// The checker itself: a gradient off by 5%, or one element off by 0.02, must be caught.
TEST(CpuGrad, CheckerRejectsWrongGradients) {
  auto ops = GradOps();
  const size_t n = 64;
  auto inp = RandomVec(n, 21, -3.0f, 3.0f);
  const auto R = RandomVec(n, 22, 0.5f, 1.0f);
  std::vector<float> out(n);
  auto loss = [&] {
    EXPECT_TRUE(ops->GeluForward(out.data(), inp.data(), n));
    return WeightedSum(out, R);
  };
  std::vector<float> dinp(n, 0.0f);
  ASSERT_OK(ops->GeluBackward(dinp.data(), inp.data(), R.data(), n));
  ASSERT_EQ(CheckGradient(inp, dinp, loss, Nonlinear()).failed, 0);
  auto scaled = dinp;
  for (auto& g : scaled) g *= 1.05f;
  EXPECT_GT(CheckGradient(inp, scaled, loss, Nonlinear()).failed, static_cast<int>(n / 2));

  const AttnShape s{2, 5, 12, 3};
  auto qkv = RandomVec(static_cast<size_t>(s.B) * s.T * 3 * s.C, 12, -2.0f, 2.0f);
  const auto Ra = RandomVec(static_cast<size_t>(s.B) * s.T * s.C, 13);
  std::function<double()> attn_loss;
  auto dqkv = AttentionGrad(*ops, qkv, Ra, s, &attn_loss);
  dqkv[3 * s.C + s.C + 1] += 0.02f;  // one element of dk at (b=0, t=1)
  EXPECT_EQ(CheckGradient(qkv, dqkv, attn_loss, Nonlinear()).failed, 1);
}

}  // namespace
}  // namespace plume::kernels
