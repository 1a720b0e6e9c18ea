// The whole model on the BF16 kernels' arithmetic, without a GPU: matmuls with BF16 operands
// (the BF16-emulating CPU device) and the attention forward emulated the way attention_bf16.cu
// computes it (bf16_emulation.h), against the fp32 CPU backend over the loss-curve check the
// CUDA backend must pass (loss_curve_test_util.h). If the BF16 arithmetic passes it here, a GPU
// running the BF16 kernels correctly passes it too (up to fp32 summation order).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "bf16_emulation.h"
#include "delegating_ops.h"
#include "emulated_ops.h"
#include "loss_curve_test_util.h"
#include "plume/kernels/ops.h"

namespace plume::kernels {
namespace {

class Bf16KernelsOnCpu final : public DelegatingOps {
 public:
  Bf16KernelsOnCpu() : DelegatingOps(MakeEmulatedOps(Rounding::kBf16, Fault::kNone, 2)) {}
  Status AttentionForward(float* out, float* lse, const float* qkv, int B, int T, int C,
                          int NH) override {
    if (B <= 0 || T <= 0 || NH <= 0 || C % NH != 0 || !out || !lse || !qkv) {
      return inner().AttentionForward(out, lse, qkv, B, T, C, NH);  // its error message
    }
    const std::vector<float> in(qkv, qkv + size_t(B) * T * 3 * C);
    std::vector<float> o, l;
    testing::EmulateAttentionForwardBf16(o, l, in, B, T, C, NH);
    std::copy(o.begin(), o.end(), out);  // host memory: the inner device is the CPU
    std::copy(l.begin(), l.end(), lse);
    return {};
  }
};

TEST(Bf16Emulation, TrainingFollowsTheFp32LossCurve) {
  auto cpu = MakeCpuOps(2);
  Bf16KernelsOnCpu bf16;
  testing::ExpectLossCurvesAgree(*cpu, bf16, "bf16 (emulated)");
}

}  // namespace
}  // namespace plume::kernels
