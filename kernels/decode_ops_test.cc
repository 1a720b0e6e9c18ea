// The CPU backend's KV-cache ops (ops.h "inference with a KV cache"): each against the op of the
// training graph it stands in for, row independence bit for bit (what lets a sequence decode to
// the same bits in any batch), thread-count independence, the portable reference of the decode
// matmul, and range checks. Each comparison is also shown to catch a broken input.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "cpu_ops.h"
#include "cpu_test_util.h"
#include "plume/kernels/ops.h"

namespace plume::kernels {
namespace {

using testing::BitEqual;
using testing::RandomTokens;
using testing::RandomVec;

// Largest |a - b| / (|b| + rms(b)): a scale-free error that a wrong kernel cannot pass.
double RelErr(const std::vector<float>& a, const std::vector<float>& b) {
  double sumsq = 0.0;
  for (float x : b) sumsq += double{x} * x;
  const double rms = std::sqrt(sumsq / std::max<size_t>(b.size(), 1)) + 1e-30;
  double worst = a.size() == b.size() ? 0.0 : 1e30;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const double e = std::fabs(double{a[i]} - b[i]) / (std::fabs(double{b[i]}) + rms);
    worst = std::isnan(e) ? 1e30 : std::max(worst, e);
  }
  return worst;
}

std::vector<float> Rows(const std::vector<float>& m, int first, int count, int width) {
  return {m.begin() + long{first} * width, m.begin() + long{first + count} * width};
}

TEST(CpuDecodeOpsTest, MatmulRowsAgreesWithSgemmAndItsPortableReferenceBitForBit) {
  struct Shape {
    int N, C, OC;
  };
  for (Shape s :
       {Shape{1, 8, 3}, Shape{16, 64, 13}, Shape{5, 37, 7}, Shape{3, 5, 1}, Shape{7, 96, 50}}) {
    SCOPED_TRACE("N=" + std::to_string(s.N) + " C=" + std::to_string(s.C) +
                 " OC=" + std::to_string(s.OC));
    const auto inp = RandomVec(size_t(s.N) * s.C, 1);
    const auto w = RandomVec(size_t(s.OC) * s.C, 2);
    const auto bias = RandomVec(size_t(s.OC), 3);
    std::vector<float> rows(size_t(s.N) * s.OC), sgemm(rows.size()), portable(rows.size());
    cpu::MatmulForwardRowsCpu(rows.data(), inp.data(), w.data(), bias.data(), s.N, s.C, s.OC);
    cpu::MatmulForwardCpu(sgemm.data(), inp.data(), w.data(), bias.data(), s.N, s.C, s.OC);
    cpu::MatmulForwardRowsPortableCpu(portable.data(), inp.data(), w.data(), bias.data(), s.N, s.C,
                                      s.OC);
    EXPECT_LT(RelErr(rows, sgemm), 1e-5);
    EXPECT_TRUE(BitEqual(rows, portable));
  }
}

TEST(CpuDecodeOpsTest, MatmulRowsGivesEachRowTheSameBitsInAnyBatchAndThreadCount) {
  const int N = 16, C = 75, OC = 29;  // C and OC off every tile and lane multiple
  const auto inp = RandomVec(size_t(N) * C, 4);
  const auto w = RandomVec(size_t(OC) * C, 5);
  auto one = MakeCpuOps(1), two = MakeCpuOps(2);
  std::vector<float> batch(size_t(N) * OC), batch2(batch.size());
  ASSERT_TRUE(one->MatmulForwardRows(batch.data(), inp.data(), w.data(), nullptr, N, C, OC));
  ASSERT_TRUE(two->MatmulForwardRows(batch2.data(), inp.data(), w.data(), nullptr, N, C, OC));
  EXPECT_TRUE(BitEqual(batch, batch2));
  for (int i = 0; i < N; ++i) {
    std::vector<float> alone(OC);
    ASSERT_TRUE(two->MatmulForwardRows(alone.data(), inp.data() + long{i} * C, w.data(), nullptr, 1,
                                       C, OC));
    EXPECT_TRUE(BitEqual(alone, Rows(batch, i, 1, OC))) << "row " << i;
  }
  // The check sees a one-ulp change of one input.
  auto nudged = inp;
  nudged[3] = std::nextafter(nudged[3], 2.0f);
  std::vector<float> other(OC);
  ASSERT_TRUE(one->MatmulForwardRows(other.data(), nudged.data(), w.data(), nullptr, 1, C, OC));
  EXPECT_FALSE(BitEqual(other, Rows(batch, 0, 1, OC)));
}

TEST(CpuDecodeOpsTest, EncoderAtPositionsIsTheEncoderRowByRow) {
  const int T = 9, C = 12, V = 20;
  const auto wte = RandomVec(size_t(V) * C, 6), wpe = RandomVec(size_t(T) * C, 7);
  const auto tokens = RandomTokens(T, V, 8);
  std::vector<float> full(size_t(T) * C), at(full.size());
  std::vector<int32_t> positions(T);
  std::iota(positions.begin(), positions.end(), 0);
  auto ops = MakeCpuOps(2);
  ASSERT_TRUE(ops->EncoderForward(full.data(), tokens.data(), wte.data(), wpe.data(), 1, T, C));
  ASSERT_TRUE(ops->EncoderForwardAt(at.data(), tokens.data(), positions.data(), wte.data(),
                                    wpe.data(), T, C));
  EXPECT_TRUE(BitEqual(full, at));
  positions[2] = 3;  // a wrong position is seen
  ASSERT_TRUE(ops->EncoderForwardAt(at.data(), tokens.data(), positions.data(), wte.data(),
                                    wpe.data(), T, C));
  EXPECT_FALSE(BitEqual(full, at));
}

void CheckDecodeAttention(int C);

// A sequence's keys and values written to slot 1 of 3 one row at a time, as decode does; row t
// of causal attention over the whole sequence equals the decode attention of query t over the
// first t + 1 cached positions.
TEST(CpuDecodeOpsTest, DecodeAttentionOverTheCacheIsCausalAttention) {
  // Head sizes 16 (whole AVX2 vectors) and 12 (the scalar path); 70 keys: blocks of 8 and a tail.
  for (const int C : {48, 36}) {
    SCOPED_TRACE("C=" + std::to_string(C));
    CheckDecodeAttention(C);
  }
}

void CheckDecodeAttention(int C) {
  const int T = 70, NH = 3, HS = C / NH, S = 3, maxT = 80, slot = 1;
  const auto qkv = RandomVec(size_t(T) * 3 * C, 9, -2.0f, 2.0f);
  auto ops = MakeCpuOps(2);
  std::vector<float> causal(size_t(T) * C), lse(size_t(NH) * T);
  ASSERT_TRUE(ops->AttentionForward(causal.data(), lse.data(), qkv.data(), 1, T, C, NH));
  const size_t cache = size_t(S) * NH * maxT * HS;
  std::vector<float> k(cache, NAN), v(cache, NAN);
  std::vector<float> decoded(size_t(T) * C);
  for (int t = 0; t < T; ++t) {
    const int32_t s = slot, pos = t, len = t + 1;
    const float* row = qkv.data() + long{t} * 3 * C;
    ASSERT_TRUE(ops->KvCacheWrite(k.data(), v.data(), row, &s, &pos, 1, C, NH, S, maxT));
    ASSERT_TRUE(ops->AttentionDecode(decoded.data() + long{t} * C, row, k.data(), v.data(), &s,
                                     &len, 1, C, NH, S, maxT));
  }
  EXPECT_LT(RelErr(decoded, causal), 1e-5);
  // Layout: head 2 of position 5 sits at ((slot * NH + 2) * maxT + 5) * HS.
  EXPECT_EQ(k[((size_t(slot) * NH + 2) * maxT + 5) * HS + 3], qkv[5 * 3 * C + C + 2 * HS + 3]);
  EXPECT_EQ(v[((size_t(slot) * NH + 2) * maxT + 5) * HS + 3], qkv[5 * 3 * C + 2 * C + 2 * HS + 3]);

  // All T queries in one call (rows of one slot, as in a batch) give the same bits as one by one.
  std::vector<int32_t> slots(T, slot), lengths(T);
  std::iota(lengths.begin(), lengths.end(), 1);
  std::vector<float> together(decoded.size());
  ASSERT_TRUE(ops->AttentionDecode(together.data(), qkv.data(), k.data(), v.data(), slots.data(),
                                   lengths.data(), T, C, NH, S, maxT));
  EXPECT_TRUE(BitEqual(together, decoded));

  // A corrupted cached key is seen by the comparison.
  k[((size_t(slot) * NH + 1) * maxT + 0) * HS] += 1.0f;
  ASSERT_TRUE(ops->AttentionDecode(together.data(), qkv.data(), k.data(), v.data(), slots.data(),
                                   lengths.data(), T, C, NH, S, maxT));
  EXPECT_GT(RelErr(together, causal), 1e-3);
}

TEST(CpuDecodeOpsTest, OutOfRangeSlotsPositionsAndLengthsAreErrors) {
  const int C = 8, NH = 2, S = 2, maxT = 4;
  std::vector<float> k(size_t(S) * maxT * C), v(k.size()), qkv(3 * C), out(C);
  auto ops = MakeCpuOps(1);
  const auto write = [&](int32_t slot, int32_t pos) {
    return ops->KvCacheWrite(k.data(), v.data(), qkv.data(), &slot, &pos, 1, C, NH, S, maxT);
  };
  const auto attend = [&](int32_t slot, int32_t len) {
    return ops->AttentionDecode(out.data(), qkv.data(), k.data(), v.data(), &slot, &len, 1, C, NH,
                                S, maxT);
  };
  EXPECT_TRUE(write(1, 3));
  EXPECT_TRUE(attend(1, 4));
  EXPECT_FALSE(write(2, 0));
  EXPECT_FALSE(write(-1, 0));
  EXPECT_FALSE(write(0, 4));
  EXPECT_FALSE(attend(0, 0));
  EXPECT_FALSE(attend(0, 5));
  const auto err = attend(3, 1);
  ASSERT_FALSE(err);
  EXPECT_NE(err.error().message.find("slots[0] = 3"), std::string::npos) << err.error().message;
  EXPECT_FALSE(ops->AttentionDecode(out.data(), qkv.data(), k.data(), v.data(), nullptr, nullptr, 1,
                                    C, NH, S, maxT));
}

}  // namespace
}  // namespace plume::kernels
