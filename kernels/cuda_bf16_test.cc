// The BF16 tensor-core kernels (matmul_bf16.cu, attention_bf16.cu) on a GPU, against the fp32
// CPU reference within the BF16 tolerances (which bf16_tolerance_test.cc validates without a
// GPU) and
// against the CPU emulation of their BF16 arithmetic (bf16_emulation.h) within a much tighter
// one; every result must also repeat bit for bit. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <limits>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "bf16_emulation.h"
#include "cpu_test_util.h"
#include "cuda_kernel_choice.h"
#include "cuda_test_util.h"
#include "emulated_ops.h"
#include "plume/kernels/ops.h"

namespace plume::kernels {
namespace {

using testing::HostTensors;
using testing::Tensors;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<float> Random(size_t n, uint64_t seed, float scale = 1.0f) {
  return testing::RandomVec(n, seed, -scale, scale);
}

class CudaBf16Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!BuiltWithCuda()) GTEST_SKIP() << "not built with CUDA";
    if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
    cpu_ = MakeCpuOps(2);
    emulated_ = MakeEmulatedOps(Rounding::kBf16, Fault::kNone, 2);
    CudaKernelChoice choice;
    choice.matmul = CudaMatmulKernel::kBf16;
    choice.attention = CudaAttentionKernel::kBf16;
    auto gpu = MakeCudaOpsWith(0, choice);
    ASSERT_TRUE(gpu) << gpu.error().message;
    gpu_ = std::move(*gpu);
  }
  std::unique_ptr<Ops> cpu_, emulated_, gpu_;
};

TEST_F(CudaBf16Test, MatmulMatchesTheReferenceAndTheEmulation) {
  for (const auto& s : testing::kBf16MatmulShapes) {
    const std::string shape = "(N=" + std::to_string(s.N) + ",C=" + std::to_string(s.C) +
                              ",OC=" + std::to_string(s.OC) + ")";
    const size_t NC = size_t(s.N) * s.C, NO = size_t(s.N) * s.OC, OCC = size_t(s.OC) * s.C;
    HostTensors fwd;
    fwd.f32["inp"] = Random(NC, 31);
    fwd.f32["w"] = Random(OCC, 32);
    fwd.f32["bias"] = Random(s.OC, 33);
    fwd.f32["out"] = std::vector<float>(NO, kNaN);
    testing::OpFn forward = [&](Ops& ops, Tensors& t) {
      return ops.MatmulForward(t.f("out"), t.f("inp"), t.f("w"), t.f("bias"), s.N, s.C, s.OC);
    };
    HostTensors bwd;
    bwd.f32["inp"] = fwd.f32["inp"];
    bwd.f32["w"] = fwd.f32["w"];
    bwd.f32["dout"] = Random(NO, 34);
    bwd.f32["dinp"] = Random(NC, 35);
    bwd.f32["dw"] = Random(OCC, 36);
    bwd.f32["db"] = Random(s.OC, 37);
    testing::OpFn backward = [&](Ops& ops, Tensors& t) {
      return ops.MatmulBackward(t.f("dinp"), t.f("dw"), t.f("db"), t.f("dout"), t.f("inp"),
                                t.f("w"), s.N, s.C, s.OC);
    };
    for (auto [ref, tol, name] : {std::tuple{cpu_.get(), testing::kTolBf16, "fp32"},
                                  std::tuple{emulated_.get(), testing::kTolBf16MatmulVsEmulation,
                                             "bf16-emulated"}}) {
      testing::CompareBackends(*ref, *gpu_, "MatmulForward" + shape + " vs " + name, fwd,
                               {"out"}, forward, tol);
      testing::CompareBackends(*ref, *gpu_, "MatmulBackward" + shape + " vs " + name, bwd,
                               {"dinp", "dw", "db"}, backward, tol);
    }
  }
}

TEST_F(CudaBf16Test, AttentionForwardMatchesTheReferenceAndTheEmulation) {
  for (const auto& s : testing::kBf16AttentionShapes) {
    SCOPED_TRACE("B=" + std::to_string(s.B) + " T=" + std::to_string(s.T) +
                 " C=" + std::to_string(s.C) + " NH=" + std::to_string(s.NH));
    const size_t BT = size_t(s.B) * s.T;
    HostTensors fwd;
    fwd.f32["qkv"] = Random(BT * 3 * s.C, 41, 2.0f);
    fwd.f32["out"] = std::vector<float>(BT * s.C, kNaN);
    fwd.f32["lse"] = std::vector<float>(size_t(s.B) * s.NH * s.T, kNaN);
    testing::OpFn forward = [&](Ops& ops, Tensors& t) {
      return ops.AttentionForward(t.f("out"), t.f("lse"), t.f("qkv"), s.B, s.T, s.C, s.NH);
    };
    testing::CompareBackends(*cpu_, *gpu_, "AttentionForward vs fp32", fwd, {"out", "lse"},
                             forward, testing::kTolBf16Attention);

    std::vector<float> emu_out, emu_lse;
    testing::EmulateAttentionForwardBf16(emu_out, emu_lse, fwd.f32["qkv"], s.B, s.T, s.C, s.NH);
    Tensors g(*gpu_, fwd);
    ASSERT_TRUE(forward(*gpu_, g));
    testing::ExpectClose("AttentionForward vs bf16-emulated/out", emu_out, g.Download("out"),
                         testing::kTolBf16AttentionVsEmulation);
    testing::ExpectClose("AttentionForward vs bf16-emulated/lse", emu_lse, g.Download("lse"),
                         testing::kTolBf16AttentionVsEmulation);

    // The backward (fp32, attention.cu) from each backend's own forward.
    HostTensors bwd;
    bwd.f32["qkv"] = fwd.f32["qkv"];
    bwd.f32["out"] = fwd.f32["out"];
    bwd.f32["lse"] = fwd.f32["lse"];
    bwd.f32["dout"] = Random(BT * s.C, 42);
    bwd.f32["dqkv"] = Random(BT * 3 * s.C, 43);
    testing::CompareBackends(*cpu_, *gpu_, "AttentionForward+Backward vs fp32", bwd, {"dqkv"},
                             [&](Ops& ops, Tensors& t) -> Status {
                               auto st = ops.AttentionForward(t.f("out"), t.f("lse"), t.f("qkv"),
                                                              s.B, s.T, s.C, s.NH);
                               if (!st) return st;
                               return ops.AttentionBackward(t.f("dqkv"), t.f("dout"), t.f("qkv"),
                                                            t.f("out"), t.f("lse"), s.B, s.T,
                                                            s.C, s.NH);
                             },
                             testing::kTolBf16AttentionBackward);
  }
}

TEST_F(CudaBf16Test, BadShapesAreStillErrors) {
  auto buf = gpu_->Alloc(1 << 20);
  ASSERT_TRUE(buf);
  float* x = (*buf)->f32();
  EXPECT_FALSE(gpu_->AttentionForward(x, x, x, 1, 8, 1024, 4));  // head size 256 > 128
  EXPECT_FALSE(gpu_->MatmulForward(x, x, x, nullptr, 0, 4, 4));
  EXPECT_TRUE(gpu_->Synchronize());
}

}  // namespace
}  // namespace plume::kernels
