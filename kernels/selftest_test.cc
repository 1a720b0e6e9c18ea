// The self-test without a GPU: it says so, checks the CPU backend (finite differences,
// bit-identical repeats) and passes; the report names every check.
#include "plume/kernels/selftest.h"

#include <gtest/gtest.h>

#include "plume/kernels/ops.h"
#include "selftest_internal.h"

namespace plume::kernels {
namespace {

TEST(SelftestTest, ChecksTheCpuBackendWhenNoGpuIsPresent) {
  if (CudaDeviceCount() > 0) GTEST_SKIP() << "a CUDA device is present; see the CUDA tests";
  SelftestOptions options;
  options.cpu_threads = 2;
  options.measure_speed = false;
  const SelftestReport report = RunSelftest(options);
  EXPECT_EQ(report.cuda_devices, 0);
  EXPECT_NE(report.note.find("CPU backend"), std::string::npos);
  ASSERT_EQ(report.devices.size(), 1u);
  const DeviceReport& cpu = report.devices[0];
  EXPECT_EQ(cpu.backend, "cpu");
  EXPECT_GT(cpu.memory_bytes, 0);
  ASSERT_EQ(cpu.checks.size(), 2u);
  for (const auto& c : cpu.checks) EXPECT_TRUE(c.passed) << c.name << ": " << c.detail;
  EXPECT_TRUE(report.passed());
  const std::string text = FormatSelftest(report);
  EXPECT_NE(text.find("model_gradient_fd"), std::string::npos);
  EXPECT_NE(text.find("PASSED"), std::string::npos);
}

TEST(SelftestTest, OpComparisonHarnessRunsEveryOp) {
  // The CUDA-vs-CPU harness, run CPU against a second CPU backend with other thread counts:
  // every op at every shape runs, and with a deterministic backend every error is zero.
  auto reference = MakeCpuOps(1);
  auto other = MakeCpuOps(2);
  const auto checks = CompareOps(*reference, *other, 3);
  EXPECT_EQ(checks.size(), 3u * 17);
  for (const auto& c : checks) {
    EXPECT_TRUE(c.passed) << c.name << ": " << c.detail;
    EXPECT_EQ(c.error, 0.0) << c.name;
  }
  const OpCheck step = CompareTrainingStep(*reference, *other, 3);
  EXPECT_TRUE(step.passed) << step.detail;
  EXPECT_EQ(step.error, 0.0);
}

}  // namespace
}  // namespace plume::kernels
