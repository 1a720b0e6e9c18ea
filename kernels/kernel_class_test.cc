// Kernel classes (kernel_class.h): the string round-trips and nothing else parses; each
// ingredient of a device model changes the class (a class that ignored one would claim equal bits
// where they may differ); the probes give a valid class; and the build id follows the sources:
// the generating script, run on a copy of kernels/, gives the same id twice and another id once
// one byte of one source (in kernels/ or among the extra files) or the toolchain changes.
#include "plume/kernels/kernel_class.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "plume/kernels/ops.h"

namespace plume::kernels {
namespace {

const KernelClass kCpu{"cpu", "Haswell.x86-64-v3.openblas-0.3.21.glibc-2.36", "0123456789abcdef"};
const KernelClass kCuda{"cuda", "NVIDIA-H200.sm_90.x1", "fedcba9876543210"};

TEST(KernelClassTest, FormatsAndParsesBack) {
  EXPECT_EQ(FormatKernelClass(kCpu), "cpu/Haswell.x86-64-v3.openblas-0.3.21.glibc-2.36/0123456789abcdef");
  for (const auto& c : {kCpu, kCuda}) {
    auto back = ParseKernelClass(FormatKernelClass(c));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, c);
  }
}

TEST(KernelClassTest, RejectsWhatIsNotAClass) {
  for (const std::string& bad : std::vector<std::string>{
           "", "plume-kernels-0.1+cpu", "cpu/x/0123456789abcdef/extra", "tpu/x/0123456789abcdef",
        "cpu//0123456789abcdef", "cpu/a b/0123456789abcdef", "cpu/a/0123456789ABCDEF",
        "cpu/a/0123456789abcde", "cpu/a/0123456789abcdef0", "cpu/a/0123456789abcdeg",
        "cpu/" + std::string(120, 'a') + "/0123456789abcdef"}) {
    EXPECT_FALSE(ParseKernelClass(bad)) << "'" << bad << "' parsed";
  }
}

TEST(KernelClassTest, DeviceTokenKeepsOnlyTokenCharacters) {
  EXPECT_EQ(DeviceToken("NVIDIA GeForce RTX 4090", 64), "NVIDIA-GeForce-RTX-4090");
  EXPECT_EQ(DeviceToken("a / b;;c", 64), "a-b-c");
  EXPECT_EQ(DeviceToken("  ", 64), "unknown");
  EXPECT_EQ(DeviceToken("abcdef", 3), "abc");
}

TEST(KernelClassTest, EveryIngredientChangesTheDevice) {
  const std::set<std::string> cpu = {
      CpuDeviceModel("Haswell", "x86-64-v3", "0.3.21", "2.36"),
      CpuDeviceModel("SkylakeX", "x86-64-v3", "0.3.21", "2.36"),
      CpuDeviceModel("Haswell", "x86-64-v4", "0.3.21", "2.36"),
      CpuDeviceModel("Haswell", "x86-64-v3", "0.3.26", "2.36"),
      CpuDeviceModel("Haswell", "x86-64-v3", "0.3.21", "2.39")};
  EXPECT_EQ(cpu.size(), 5u);
  const std::set<std::string> cuda = {
      CudaDeviceModel("NVIDIA H200", 9, 0, 1, 0), CudaDeviceModel("NVIDIA H100", 9, 0, 1, 0),
      CudaDeviceModel("NVIDIA H200", 8, 9, 1, 0), CudaDeviceModel("NVIDIA H200", 9, 0, 2, 0),
      CudaDeviceModel("NVIDIA H200", 9, 0, 1, 13000),
      CudaDeviceModel("NVIDIA H200", 9, 0, 1, 0, "mm-bf16"),
      CudaDeviceModel("NVIDIA H200", 9, 0, 1, 0, "attn-bf16")};
  EXPECT_EQ(cuda.size(), 7u);
  // A bit-changing kernel choice goes before ".nccl", which marks the inexact classes.
  EXPECT_EQ(CudaDeviceModel("NVIDIA H200", 9, 0, 2, 0, "mm-bf16.attn-bf16"),
            "NVIDIA-H200.sm_90.x2.mm-bf16.attn-bf16.nccl");
  EXPECT_EQ(CudaDeviceModel("NVIDIA H200", 9, 0, 1, 0), "NVIDIA-H200.sm_90.x1");
  // The longest ingredients still fit the ledger's 128-byte field.
  const std::string long_cpu = CpuDeviceModel(std::string(200, 'c'), std::string(200, 'm'),
                                              std::string(200, 'v'), std::string(200, 'g'));
  EXPECT_TRUE(ParseKernelClass(FormatKernelClass({"cpu", long_cpu, "0123456789abcdef"})));
  const std::string long_cuda = CudaDeviceModel(std::string(200, 'n'), 12, 10, 16, 1300000,
                                                std::string(200, 'k'));
  EXPECT_TRUE(ParseKernelClass(FormatKernelClass({"cuda", long_cuda, "0123456789abcdef"})));
}

TEST(KernelClassTest, OnlySeveralGpusAreOutsideTheExactPath) {
  EXPECT_TRUE(IsBitExactClass(kCpu));
  EXPECT_TRUE(IsBitExactClass(kCuda));
  EXPECT_FALSE(IsBitExactClass({"cuda", CudaDeviceModel("NVIDIA H200", 9, 0, 8, 0), "0123456789abcdef"}));
}

TEST(KernelClassTest, CpuProbeGivesAValidClassOfThisBuild) {
  const KernelClass c = ProbeCpuKernelClass();
  auto parsed = ParseKernelClass(FormatKernelClass(c));
  ASSERT_TRUE(parsed) << FormatKernelClass(c) << ": " << parsed.error().message;
  EXPECT_EQ(c.backend, "cpu");
  EXPECT_EQ(c.build, KernelBuildId());
  EXPECT_NE(c.device.find("x86-64-v3"), std::string::npos) << c.device;
  EXPECT_EQ(ProbeCpuKernelClass(), c);
}

TEST(KernelClassTest, CudaProbeGivesAValidClassPerDeviceGroup) {
  const int n = CudaDeviceCount();
  if (n == 0) {
    EXPECT_FALSE(ProbeCudaKernelClass({0}));
    GTEST_SKIP() << "no CUDA device";
  }
  auto one = ProbeCudaKernelClass({0});
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_TRUE(ParseKernelClass(FormatKernelClass(*one))) << FormatKernelClass(*one);
  EXPECT_EQ(one->backend, "cuda");
  EXPECT_NE(one->device.find(".sm_"), std::string::npos) << one->device;
  EXPECT_TRUE(IsBitExactClass(*one));
  EXPECT_FALSE(ProbeCudaKernelClass({n}));  // no such device
  if (n >= 2) {
    auto two = ProbeCudaKernelClass({0, 1});
    if (two) {  // an error only for a mix of models
      EXPECT_FALSE(IsBitExactClass(*two));
    }
  }
}

// ---- the build id -----------------------------------------------------------------------------

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Runs kernels/cmake/kernel_build_id.cmake on `kernels_dir` and returns the generated header.
std::string GeneratedHeader(const std::filesystem::path& kernels_dir,
                            const std::filesystem::path& out, const std::string& toolchain,
                            const std::string& extra_args = "") {
  const std::string cmd = std::string("'") + PLUME_CMAKE_COMMAND + "' -DKERNELS_DIR='" +
                          kernels_dir.string() + "' -DOUT='" + out.string() + "' -DTOOLCHAIN='" +
                          toolchain + "' -DMARCH=x86-64-v3 -DCUDA_ARCHS=80,90 " + extra_args + " -P '" +
                          (kernels_dir / "cmake" / "kernel_build_id.cmake").string() + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return ReadFile(out);
}

TEST(KernelBuildIdTest, FollowsTheSourcesAndTheToolchain) {
  EXPECT_EQ(KernelBuildId().size(), kKernelBuildIdHexDigits);
  const auto dir = std::filesystem::temp_directory_path() /
                   ("plume-build-id-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const auto copy = dir / "kernels";
  for (const char* sub : {"cpu", "src", "include", "cmake"}) {
    std::filesystem::create_directories(copy / sub);
    std::filesystem::copy(std::filesystem::path(PLUME_KERNELS_SOURCE_DIR) / sub, copy / sub,
                          std::filesystem::copy_options::recursive);
  }
  const std::string a = GeneratedHeader(copy, dir / "a.h", "gcc 12");
  EXPECT_NE(a.find("kPlumeKernelBuildId"), std::string::npos) << a;
  EXPECT_EQ(GeneratedHeader(copy, dir / "b.h", "gcc 12"), a) << "same sources, another id";
  EXPECT_NE(GeneratedHeader(copy, dir / "c.h", "gcc 13"), a) << "the compiler went unseen";
  {
    std::ofstream(copy / "cpu" / "gelu.cc", std::ios::app) << " ";  // one byte more
  }
  const std::string d = GeneratedHeader(copy, dir / "d.h", "gcc 12");
  EXPECT_NE(d, a) << "a changed source went unseen";
  // Code outside kernels/ named in EXTRA (the agent's task code) counts as well.
  {
    std::ofstream(dir / "task.cc") << "int x;";
  }
  const std::string args = "-DROOT='" + dir.string() + "' -DEXTRA=task.cc";
  const std::string e = GeneratedHeader(copy, dir / "e.h", "gcc 12", args);
  EXPECT_NE(e, d) << "the extra file went unseen";
  {
    std::ofstream(dir / "task.cc") << "int y;";
  }
  EXPECT_NE(GeneratedHeader(copy, dir / "f.h", "gcc 12", args), e) << "a changed extra file";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace plume::kernels
