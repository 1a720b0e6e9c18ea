// Determinism of the CPU backend: every op, forward and backward, run twice gives bit-identical
// outputs, and 1 thread gives the same bits as 2 threads (the work splits are fixed, see
// cpu_ops.h). The shapes are large enough that each parallel loop is split across both threads.
#include <gtest/gtest.h>

#include <vector>

#include "cpu_ops.h"
#include "cpu_test_util.h"
#include "plume/kernels/ops.h"

namespace plume::kernels {
namespace {

using testing::BitEqual;
using testing::RandomTokens;
using testing::RandomVec;

struct Outputs {
  std::vector<std::pair<std::string, std::vector<float>>> tensors;
  void Add(std::string name, std::vector<float> v) {
    tensors.emplace_back(std::move(name), std::move(v));
  }
};

// Every op once on fixed random inputs; the gradients start from a non-zero value so the
// accumulation is part of what is compared.
Outputs RunEveryOp(Ops& ops) {
  Outputs o;
  {
    const int B = 3, T = 16, C = 40, V = 50;
    const auto tokens = RandomTokens(B * T, V, 1);  // 48 positions over 50 tokens: repeats
    const auto wte = RandomVec(V * C, 2), wpe = RandomVec(T * C, 3), d = RandomVec(B * T * C, 4);
    std::vector<float> out(B * T * C), dwte(V * C, 0.5f), dwpe(T * C, 0.5f);
    EXPECT_TRUE(ops.EncoderForward(out.data(), tokens.data(), wte.data(), wpe.data(), B, T, C));
    EXPECT_TRUE(ops.EncoderBackward(dwte.data(), dwpe.data(), d.data(), tokens.data(),
                                    tokens.data(), B, T, C));
    o.Add("encoder out", out), o.Add("dwte", dwte), o.Add("dwpe", dwpe);
  }
  {
    const int N = 64, C = 72;
    const auto x = RandomVec(N * C, 5), w = RandomVec(C, 6), b = RandomVec(C, 7),
               d = RandomVec(N * C, 8);
    std::vector<float> out(N * C), mean(N), rstd(N), dx(N * C, 0.5f), dw(C, 0.5f), db(C, 0.5f);
    EXPECT_TRUE(ops.LayerNormForward(out.data(), mean.data(), rstd.data(), x.data(), w.data(),
                                     b.data(), N, C));
    EXPECT_TRUE(ops.LayerNormBackward(dx.data(), dw.data(), db.data(), d.data(), x.data(), w.data(),
                                      mean.data(), rstd.data(), N, C));
    o.Add("ln out", out), o.Add("ln dinp", dx), o.Add("ln dweight", dw), o.Add("ln dbias", db);
  }
  {
    const int N = 150, C = 40, OC = 270;  // 2 x 3 tiles of 128 in the forward
    const auto x = RandomVec(N * C, 9), w = RandomVec(OC * C, 10), b = RandomVec(OC, 11),
               d = RandomVec(N * OC, 12);
    std::vector<float> out(N * OC), dx(N * C, 0.5f), dw(OC * C, 0.5f), db(OC, 0.5f);
    EXPECT_TRUE(ops.MatmulForward(out.data(), x.data(), w.data(), b.data(), N, C, OC));
    EXPECT_TRUE(ops.MatmulBackward(dx.data(), dw.data(), db.data(), d.data(), x.data(), w.data(), N,
                                   C, OC));
    o.Add("mm out", out), o.Add("mm dinp", dx), o.Add("mm dweight", dw), o.Add("mm dbias", db);
  }
  {
    const int B = 2, T = 70, C = 32, NH = 4;  // two query blocks
    const auto qkv = RandomVec(B * T * 3 * C, 13), d = RandomVec(B * T * C, 14);
    std::vector<float> out(B * T * C), lse(B * NH * T), dqkv(B * T * 3 * C, 0.5f);
    EXPECT_TRUE(ops.AttentionForward(out.data(), lse.data(), qkv.data(), B, T, C, NH));
    EXPECT_TRUE(ops.AttentionBackward(dqkv.data(), d.data(), qkv.data(), out.data(), lse.data(), B,
                                      T, C, NH));
    o.Add("attn out", out), o.Add("attn lse", lse), o.Add("dqkv", dqkv);
  }
  {
    const size_t n = 5000;
    const auto x = RandomVec(n, 15, -3, 3), y = RandomVec(n, 16), d = RandomVec(n, 17);
    std::vector<float> g(n), dg(n, 0.5f), r(n), da(n, 0.5f), db(n, 0.5f);
    EXPECT_TRUE(ops.GeluForward(g.data(), x.data(), n));
    EXPECT_TRUE(ops.GeluBackward(dg.data(), x.data(), d.data(), n));
    EXPECT_TRUE(ops.ResidualForward(r.data(), x.data(), y.data(), n));
    EXPECT_TRUE(ops.ResidualBackward(da.data(), db.data(), d.data(), n));
    o.Add("gelu", g), o.Add("dgelu", dg), o.Add("residual", r), o.Add("da", da), o.Add("db", db);
    std::vector<float> p = x, m(n, 0.1f), v(n, 0.2f);
    EXPECT_TRUE(ops.AdamW(p.data(), y.data(), m.data(), v.data(), n, AdamWParams{}));
    o.Add("adamw p", p), o.Add("adamw m", m), o.Add("adamw v", v);
  }
  {
    const int N = 8, V = 100, Vp = 128;
    auto logits = RandomVec(N * Vp, 18, -5, 5);
    const auto targets = RandomTokens(N, V, 19);
    std::vector<float> losses(N), probs(N * Vp), temp(N * Vp);
    EXPECT_TRUE(ops.Softmax(temp.data(), logits.data(), N, V, Vp, 0.7f));
    EXPECT_TRUE(ops.SoftmaxCrossEntropy(logits.data(), losses.data(), probs.data(), targets.data(),
                                        N, V, Vp, 0.125f, true));
    o.Add("losses", losses), o.Add("probs", probs), o.Add("dlogits", logits), o.Add("temp", temp);
  }
  {
    auto g = RandomVec(5 * cpu::kNormChunkElems + 3, 20);
    auto norm = ops.GlobalNorm(g.data(), g.size());
    EXPECT_TRUE(norm.has_value());
    EXPECT_TRUE(ops.Scale(g.data(), 0.3f, g.size()));
    o.Add("norm", {norm.value_or(-1.0f)}), o.Add("scaled", g);
  }
  return o;
}

void ExpectSameBits(const Outputs& a, const Outputs& b, const char* what) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_TRUE(BitEqual(a.tensors[i].second, b.tensors[i].second))
        << a.tensors[i].first << " differs: " << what;
  }
}

TEST(CpuDeterminism, RepeatIsBitIdentical) {
  auto ops = MakeCpuOps(2);
  ExpectSameBits(RunEveryOp(*ops), RunEveryOp(*ops), "two runs on 2 threads");
}

TEST(CpuDeterminism, ThreadCountDoesNotChangeBits) {
  auto one = MakeCpuOps(1);
  auto two = MakeCpuOps(2);
  auto three = MakeCpuOps(3);  // more threads than work items in some loops, ragged splits
  const Outputs base = RunEveryOp(*one);
  ExpectSameBits(base, RunEveryOp(*two), "1 thread vs 2 threads");
  ExpectSameBits(base, RunEveryOp(*three), "1 thread vs 3 threads");
}

}  // namespace
}  // namespace plume::kernels
