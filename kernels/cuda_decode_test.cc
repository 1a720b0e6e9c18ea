// The CUDA backend's KV-cache ops and cached generation against the CPU reference. Skipped
// without a CUDA device (the machine this was written on has none: these tests have not yet
// run). What they check on a GPU:
// - EncoderForwardAt, KvCacheWrite, AttentionDecode and MatmulForwardRows agree with the CPU
//   ops (TF32 tolerance for the matmul), and a second run gives the same bits;
// - a row's bits do not depend on its batch mates (rows alone vs. 16 together);
// - out-of-range cache indices are reported as errors, not written;
// - Generate on CUDA gives each prompt the same completion alone and in a batch of 16, and its
//   greedy completions equal the no-cache path's on the same device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "cpu_test_util.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/ops.h"
#include "plume/kernels/runner.h"

namespace plume::kernels {
namespace {

using testing::BitEqual;
using testing::RandomTokens;
using testing::RandomVec;

std::unique_ptr<Ops> CudaOrNull() {
  if (!BuiltWithCuda() || CudaDeviceCount() == 0) return nullptr;
  auto ops = MakeCudaOps(0);
  return ops ? std::move(*ops) : nullptr;
}

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

// Host vectors mirrored on one backend.
class Mirror {
 public:
  explicit Mirror(Ops& ops) : ops_(ops) {}
  template <class T>
  T* Put(const std::vector<T>& host) {
    auto b = ops_.Alloc(host.size() * sizeof(T));
    EXPECT_TRUE(b);
    EXPECT_TRUE(ops_.CopyToDevice((*b)->data(), host.data(), host.size() * sizeof(T)));
    bufs_.push_back(std::move(*b));
    return static_cast<T*>(bufs_.back()->data());
  }
  std::vector<float> Get(const float* p, size_t n) {
    std::vector<float> host(n);
    EXPECT_TRUE(ops_.CopyToHost(host.data(), p, n * sizeof(float)));
    return host;
  }

 private:
  Ops& ops_;
  std::vector<std::unique_ptr<Buffer>> bufs_;
};

// T rows of one sequence written to slot 1 of 3, then all T queries in one AttentionDecode call
// (lengths 1..T): the same on both backends; then the decode matmul of those rows.
std::vector<std::vector<float>> RunDecodeOps(Ops& ops, int T, int C, int NH) {
  const int S = 3, maxT = T + 5, HS = C / NH, OC = 3 * C + 1;
  Mirror m(ops);
  const auto qkv_h = RandomVec(size_t(T) * 3 * C, 51, -2.0f, 2.0f);
  float* qkv = m.Put(qkv_h);
  float* k = m.Put(std::vector<float>(size_t(S) * NH * maxT * HS, 0.0f));
  float* v = m.Put(std::vector<float>(size_t(S) * NH * maxT * HS, 0.0f));
  std::vector<int32_t> slots_h(T, 1), pos_h(T), len_h(T);
  std::iota(pos_h.begin(), pos_h.end(), 0);
  std::iota(len_h.begin(), len_h.end(), 1);
  int32_t* slots = m.Put(slots_h);
  int32_t* pos = m.Put(pos_h);
  int32_t* len = m.Put(len_h);
  float* out = m.Put(std::vector<float>(size_t(T) * C, NAN));
  EXPECT_TRUE(ops.KvCacheWrite(k, v, qkv, slots, pos, T, C, NH, S, maxT));
  EXPECT_TRUE(ops.AttentionDecode(out, qkv, k, v, slots, len, T, C, NH, S, maxT));
  const auto wte_h = RandomVec(size_t(40) * C, 52), wpe_h = RandomVec(size_t(maxT) * C, 53);
  const auto tokens_h = RandomTokens(T, 40, 54);
  float* emb = m.Put(std::vector<float>(size_t(T) * C, NAN));
  EXPECT_TRUE(ops.EncoderForwardAt(emb, m.Put(tokens_h), pos, m.Put(wte_h), m.Put(wpe_h), T, C));
  const auto w_h = RandomVec(size_t(OC) * C, 55), b_h = RandomVec(OC, 56);
  float* mm = m.Put(std::vector<float>(size_t(T) * OC, NAN));
  EXPECT_TRUE(ops.MatmulForwardRows(mm, out, m.Put(w_h), m.Put(b_h), T, C, OC));
  EXPECT_TRUE(ops.Synchronize());
  return {m.Get(out, size_t(T) * C), m.Get(emb, size_t(T) * C), m.Get(mm, size_t(T) * OC),
          m.Get(k, size_t(S) * NH * maxT * HS)};
}

TEST(CudaDecodeTest, KvCacheOpsMatchTheCpuAndRepeatBitForBit) {
  auto gpu = CudaOrNull();
  if (!gpu) GTEST_SKIP() << "no CUDA device";
  auto cpu = MakeCpuOps(2);
  for (auto [T, C, NH] : {std::tuple{37, 64, 4}, std::tuple{1, 32, 1}, std::tuple{130, 96, 3}}) {
    SCOPED_TRACE("T=" + std::to_string(T) + " C=" + std::to_string(C));
    const auto ref = RunDecodeOps(*cpu, T, C, NH);
    const auto got = RunDecodeOps(*gpu, T, C, NH);
    const auto again = RunDecodeOps(*gpu, T, C, NH);
    EXPECT_LT(RelErr(got[0], ref[0]), 2e-4) << "AttentionDecode";
    EXPECT_TRUE(BitEqual(got[1], ref[1])) << "EncoderForwardAt";
    EXPECT_LT(RelErr(got[2], ref[2]), 1e-2) << "MatmulForwardRows (TF32)";
    EXPECT_TRUE(BitEqual(got[3], ref[3])) << "KvCacheWrite";
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(BitEqual(got[i], again[i])) << "rerun, output " << i;
  }
}

TEST(CudaDecodeTest, MatmulRowsDoNotDependOnTheirBatchMates) {
  auto gpu = CudaOrNull();
  if (!gpu) GTEST_SKIP() << "no CUDA device";
  const int N = 16, C = 768, OC = 2304;
  Mirror m(*gpu);
  const auto inp_h = RandomVec(size_t(N) * C, 61);
  float* inp = m.Put(inp_h);
  float* w = m.Put(RandomVec(size_t(OC) * C, 62));
  float* out = m.Put(std::vector<float>(size_t(N) * OC, NAN));
  ASSERT_TRUE(gpu->MatmulForwardRows(out, inp, w, nullptr, N, C, OC));
  const auto batch = m.Get(out, size_t(N) * OC);
  for (int i = 0; i < N; ++i) {
    float* row =
        m.Put(std::vector<float>(inp_h.begin() + long{i} * C, inp_h.begin() + long{i + 1} * C));
    float* one = m.Put(std::vector<float>(OC, NAN));
    ASSERT_TRUE(gpu->MatmulForwardRows(one, row, w, nullptr, 1, C, OC));
    const std::vector<float> mine(batch.begin() + long{i} * OC, batch.begin() + long{i + 1} * OC);
    EXPECT_TRUE(BitEqual(m.Get(one, OC), mine)) << "row " << i;
  }
}

TEST(CudaDecodeTest, OutOfRangeCacheIndicesAreErrors) {
  auto gpu = CudaOrNull();
  if (!gpu) GTEST_SKIP() << "no CUDA device";
  Mirror m(*gpu);
  const int C = 8, NH = 2, S = 2, maxT = 4;
  float* k = m.Put(std::vector<float>(size_t(S) * maxT * C, 0.0f));
  float* v = m.Put(std::vector<float>(size_t(S) * maxT * C, 0.0f));
  float* qkv = m.Put(std::vector<float>(3 * C, 1.0f));
  int32_t* bad_slot = m.Put(std::vector<int32_t>{2});
  int32_t* pos = m.Put(std::vector<int32_t>{0});
  ASSERT_TRUE(gpu->KvCacheWrite(k, v, qkv, bad_slot, pos, 1, C, NH, S, maxT));
  EXPECT_FALSE(gpu->Synchronize());
  EXPECT_TRUE(m.Get(k, size_t(S) * maxT * C) == std::vector<float>(size_t(S) * maxT * C, 0.0f));
  EXPECT_TRUE(gpu->Synchronize());  // the flag was cleared: the backend stays usable
}

TEST(CudaDecodeTest, GenerationIsBatchIndependentAndMatchesTheNoCachePath) {
  auto gpu = CudaOrNull();
  if (!gpu) GTEST_SKIP() << "no CUDA device";
  const ModelConfig model{2, 3, 36, 24, 256};
  auto params = InitialParams(model, 6);
  ASSERT_TRUE(params);
  for (float& x : *params) x *= 4.0f;
  const auto bytes = MakeByteTokenizer();
  std::vector<std::string> prompts;
  for (int i = 0; i < 16; ++i) prompts.push_back(std::string(size_t(1 + i % 5), char('A' + i)));
  GenerateConfig g;
  g.temperature = 0.9f;
  g.max_new_tokens = 40;  // context 24: windows slide
  g.seed = 5;
  const auto batch = Generate(model, *params, prompts, g, *gpu, *bytes);
  ASSERT_TRUE(batch) << batch.error().message;
  for (int i = 0; i < 16; ++i) {
    GenerateConfig solo = g;
    solo.batch = 1;
    solo.first_index = i;
    const auto alone = Generate(model, *params, {prompts[i]}, solo, *gpu, *bytes);
    ASSERT_TRUE(alone);
    EXPECT_EQ((*alone)[0].completion, (*batch)[i].completion) << "prompt " << i;
  }
  g.temperature = 0.0f;
  const std::vector<std::string> few(prompts.begin(), prompts.begin() + 4);
  const auto cached = Generate(model, *params, few, g, *gpu, *bytes);
  const auto reference = GenerateWithoutCache(model, *params, few, g, *gpu, *bytes);
  ASSERT_TRUE(cached && reference);
  for (size_t i = 0; i < few.size(); ++i) {
    EXPECT_EQ((*cached)[i].completion, (*reference)[i].completion) << "prompt " << i;
  }
}

}  // namespace
}  // namespace plume::kernels
