// The self-test, tested where no GPU is: on the CPU alone; on CPU "devices" that round matmul
// operands like tensor cores (TF32, BF16), which a correct GPU resembles and which must pass;
// and on such devices with one op broken on purpose, which must fail and name that op. On a GPU
// machine, SelftestGpu runs the real thing.
#include "plume/kernels/selftest.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include "emulated_ops.h"
#include "plume/kernels/ops.h"
#include "selftest_internal.h"

namespace plume::kernels {
namespace {

constexpr int kOpsPerShape = 17;
constexpr int kShapes = 3;

std::string OpOf(const std::string& check) { return check.substr(0, check.find(' ')); }

TEST(SelftestTest, ChecksTheCpuBackendOnEveryMachine) {
  SelftestOptions options;
  options.cpu_threads = 2;
  options.measure_speed = false;
  const SelftestReport report = RunSelftest(options);
  ASSERT_EQ(report.devices.size(), size_t(report.cuda_devices) + 1);
  const DeviceReport& cpu = report.devices.back();
  EXPECT_EQ(cpu.backend, "cpu");
  EXPECT_GT(cpu.memory_bytes, 0);
  ASSERT_EQ(cpu.checks.size(), 2u);
  for (const auto& c : cpu.checks) EXPECT_TRUE(c.passed) << c.name << ": " << c.detail;
  EXPECT_TRUE(cpu.passed);
  const std::string text = FormatSelftest(report);
  EXPECT_NE(text.find("model_gradient_fd"), std::string::npos);
  if (report.cuda_devices == 0) {
    EXPECT_NE(report.note.find("CPU backend"), std::string::npos);
    EXPECT_TRUE(report.passed());
    EXPECT_NE(text.find("PASSED"), std::string::npos);
  }
}

TEST(SelftestTest, OpComparisonHarnessRunsEveryOp) {
  // CPU against a second CPU backend with another thread count: every op at every shape runs,
  // and since the CPU backend is bit-identical across thread counts every error is zero.
  auto reference = MakeCpuOps(1);
  auto other = MakeCpuOps(2);
  const DeviceReport d = CompareDevice(*reference, *other, 3);
  ASSERT_EQ(d.checks.size(), size_t(kShapes * kOpsPerShape + 2));
  for (const auto& c : d.checks) {
    EXPECT_TRUE(c.passed) << c.name << ": " << c.detail;
    EXPECT_EQ(c.error, 0.0) << c.name;
  }
  EXPECT_TRUE(d.passed);
}

// The worst error of each op over the shapes, for the log (the tolerances' headroom).
void PrintWorst(const DeviceReport& d) {
  std::map<std::string, std::pair<double, double>> worst;
  for (const auto& c : d.checks) {
    auto& w = worst[OpOf(c.name)];
    w.first = std::max(w.first, c.error);
    w.second = c.tolerance;
  }
  for (const auto& [op, w] : worst) {
    std::printf("  %-24s worst %.2e  tolerance %.0e  headroom %.0fx\n", op.c_str(), w.first,
                w.second, w.first > 0 ? w.second / w.first : 0.0);
  }
}

TEST(SelftestTest, TensorCoreRoundingPassesTf32AndBf16) {
  auto reference = MakeCpuOps(2);
  for (const Rounding r : {Rounding::kTf32, Rounding::kBf16}) {
    auto device = MakeEmulatedOps(r, Fault::kNone, 2);
    const DeviceReport d = CompareDevice(*reference, *device, 1);
    std::printf("%s\n", d.name.c_str());
    PrintWorst(d);
    for (const auto& c : d.checks) EXPECT_TRUE(c.passed) << d.name << ": " << c.name;
    EXPECT_TRUE(d.passed) << d.name;
    // The rounding is real: matmul-based checks see an error (else this test proves nothing).
    double matmul = 0.0;
    for (const auto& c : d.checks) {
      if (OpOf(c.name) == "matmul_forward") matmul = std::max(matmul, c.error);
    }
    EXPECT_GT(matmul, 1e-5) << d.name;
  }
}

TEST(SelftestTest, EveryBrokenOpFailsAndIsNamed) {
  auto reference = MakeCpuOps(2);
  for (const Fault f : {Fault::kGeluBackwardSign, Fault::kSoftmaxTargetOffByOne,
                        Fault::kMatmulDropsBias, Fault::kMatmulTransposedWeight,
                        Fault::kLayerNormDropsBias}) {
    auto device = MakeEmulatedOps(Rounding::kTf32, f, 2);
    const DeviceReport d = CompareDevice(*reference, *device, 1);
    EXPECT_FALSE(d.passed) << d.name;
    const std::string op = FaultOp(f);
    int named = 0;
    for (const auto& c : d.checks) {
      if (c.passed) continue;
      const std::string failed = OpOf(c.name);
      // Op checks never blame another op; the whole-model checks may fail along with it.
      if (failed != "model_gradients" && failed != "loss_curve") {
        EXPECT_EQ(failed, op) << d.name << " also failed " << c.name;
      }
      if (failed == op) ++named;
    }
    EXPECT_EQ(named, kShapes) << d.name << ": every shape's " << op << " check must fail";
  }
}

TEST(SelftestGpu, EveryCheckPassesOnEveryDevice) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  SelftestOptions options;
  options.measure_speed = true;
  const SelftestReport report = RunSelftest(options);
  std::printf("%s", FormatSelftest(report).c_str());
  for (const auto& d : report.devices) {
    if (d.backend == "cuda") PrintWorst(d);
    for (const auto& c : d.checks) EXPECT_TRUE(c.passed) << d.name << ": " << c.name << " " << c.detail;
  }
  EXPECT_TRUE(report.passed());
}

}  // namespace
}  // namespace plume::kernels
