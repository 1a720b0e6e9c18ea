// The whole model on the BF16 kernels' arithmetic, without a GPU: matmuls with BF16 operands
// (the BF16-emulating CPU device) and the attention forward emulated the way attention_bf16.cu
// computes it (bf16_emulation.h), against the fp32 CPU backend over the loss-curve check the
// CUDA backend must pass (loss_curve_test_util.h). If the BF16 arithmetic passes it here, a GPU
// running the BF16 kernels correctly passes it too (up to fp32 summation order).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "bf16_emulation.h"
#include "cuda_kernel_choice.h"
#include "delegating_ops.h"
#include "emulated_ops.h"
#include "loss_curve_test_util.h"
#include "plume/kernels/ops.h"
#include "selftest_internal.h"

namespace plume::kernels {
namespace {

class Bf16KernelsOnCpu final : public DelegatingOps {
 public:
  explicit Bf16KernelsOnCpu(testing::AttentionBug bug = testing::AttentionBug::kNone)
      : DelegatingOps(MakeEmulatedOps(Rounding::kBf16, Fault::kNone, 2)), bug_(bug) {}
  Status AttentionForward(float* out, float* lse, const float* qkv, int B, int T, int C,
                          int NH) override {
    if (B <= 0 || T <= 0 || NH <= 0 || C % NH != 0 || !out || !lse || !qkv) {
      return inner().AttentionForward(out, lse, qkv, B, T, C, NH);  // its error message
    }
    const std::vector<float> in(qkv, qkv + size_t(B) * T * 3 * C);
    std::vector<float> o, l;
    testing::EmulateAttentionForwardBf16(o, l, in, B, T, C, NH, bug_);
    std::copy(o.begin(), o.end(), out);  // host memory: the inner device is the CPU
    std::copy(l.begin(), l.end(), lse);
    return {};
  }

 private:
  testing::AttentionBug bug_;
};

// What the agent's selftest says of a device running both BF16 kernels (or a broken one), with
// the tolerances for the kernels `declared`: the failed checks' op names.
std::vector<std::string> FailedSelftestChecks(Bf16KernelsOnCpu& device,
                                              const CudaKernelChoice& declared) {
  auto cpu = MakeCpuOps(2);
  const DeviceReport d = CompareDevice(*cpu, device, 1, declared);
  std::vector<std::string> failed;
  for (const auto& c : d.checks) {
    if (!c.passed) failed.push_back(c.name + " (error " + std::to_string(c.error) + ")");
  }
  EXPECT_EQ(d.passed, failed.empty());
  return failed;
}

TEST(Bf16Emulation, TrainingFollowsTheFp32LossCurve) {
  auto cpu = MakeCpuOps(2);
  Bf16KernelsOnCpu bf16;
  testing::ExpectLossCurvesAgree(*cpu, bf16, "bf16 (emulated)");
}

TEST(Bf16Emulation, TheAgentSelftestPassesTheBf16KernelsAndFailsABrokenOne) {
  // The agent withholds a GPU that fails its selftest, so the BF16 kernels, when right, must
  // pass it: the selftest sizes the attention tolerance by the kernels the device runs.
  CudaKernelChoice bf16;
  bf16.matmul = CudaMatmulKernel::kBf16;
  bf16.attention = CudaAttentionKernel::kBf16;
  Bf16KernelsOnCpu right;
  const auto failed = FailedSelftestChecks(right, bf16);
  EXPECT_TRUE(failed.empty()) << failed.front();
  // Judged by the fp32 attention's tolerance the same device fails: the looser tolerance is
  // needed, and only for this kernel.
  EXPECT_FALSE(FailedSelftestChecks(right, CudaKernelChoice{}).empty());
  // A BF16 attention that forgets the rescale fails, named.
  Bf16KernelsOnCpu broken(testing::AttentionBug::kNoRescale);
  const auto broken_failed = FailedSelftestChecks(broken, bf16);
  ASSERT_FALSE(broken_failed.empty());
  for (const auto& name : broken_failed) {
    const bool named = name.rfind("attention_forward", 0) == 0 ||
                       name.rfind("model_gradients", 0) == 0 || name.rfind("loss_curve", 0) == 0;
    EXPECT_TRUE(named) << name;
  }
  EXPECT_EQ(broken_failed.front().rfind("attention_forward", 0), 0u) << broken_failed.front();
}

}  // namespace
}  // namespace plume::kernels
