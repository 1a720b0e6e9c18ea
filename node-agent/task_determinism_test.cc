// Determinism as a contract (kernels/include/plume/kernels/kernel_class.h): within one kernel
// class the same task gives the same output bytes whatever the thread count or process. Shown
// on the agent's own task code (task_work.h), comparing BLAKE2b-256 content addresses of the
// output blobs, i.e. exactly what a replay audit compares:
//  - in one process, train and infer tasks on the CPU backend at 1, 2 and 3 threads;
//  - in separate processes (plume_determinism_task) run with OMP_NUM_THREADS=1, 2 and 3, whose
//    files must also equal the in-process result;
//  - on each GPU, the same task twice, and on several GPUs (NCCL) twice (skipped without them).
// Each check is shown failing on a changed input: another seed, or one start parameter moved
// by one ulp, gives another hash, so equal hashes are not an artefact of a constant output.
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "plume/agent/devices.h"
#include "plume/kernels/kernel_class.h"
#include "plume/kernels/ops.h"
#include "plume/protocol/hash.h"
#include "task_work.h"
#include "testing/determinism_tasks.h"

extern char** environ;

namespace plume::agent {
namespace {

using testing::DeterminismInferTask;
using testing::DeterminismTrainTask;

DeviceChoice Cpu(int threads) { return {.cuda_device = -1, .cuda_devices = {}, .threads = threads}; }

std::string HashOf(const std::vector<uint8_t>& bytes) {
  return ToHex(Blake2b256(std::span<const uint8_t>(bytes)));
}

std::string Run(const WorkFn& work) {
  std::atomic<bool> stop{false};
  auto out = work([](int64_t, int64_t, double) {}, stop);
  EXPECT_TRUE(out) << (out ? "" : out.error().message);
  return out ? HashOf(out->result) : "failed";
}

std::string TrainHash(const TrainTask& t, DeviceChoice d) { return Run(MakeTrainWork(t, d)); }
std::string InferHash(const InferTask& t, DeviceChoice d) { return Run(MakeInferWork(t, d)); }

TEST(TaskDeterminismTest, TrainIsBitIdenticalAt1To3Threads) {
  const TrainTask t = DeterminismTrainTask(5);
  const std::string base = TrainHash(t, Cpu(1));
  EXPECT_EQ(TrainHash(t, Cpu(2)), base);
  EXPECT_EQ(TrainHash(t, Cpu(3)), base);
}

TEST(TaskDeterminismTest, InferIsBitIdenticalAt1To3Threads) {
  const InferTask t = DeterminismInferTask(11);
  ASSERT_FALSE(t.checkpoint.empty());
  const std::string base = InferHash(t, Cpu(1));
  EXPECT_EQ(InferHash(t, Cpu(2)), base);
  EXPECT_EQ(InferHash(t, Cpu(3)), base);
}

// The comparison can fail: a changed seed changes both outputs, and so does a start point that
// differs from the round's parameters in one bit of one float.
TEST(TaskDeterminismTest, AnotherSeedOrOneUlpGivesAnotherHash) {
  EXPECT_NE(TrainHash(DeterminismTrainTask(5), Cpu(2)), TrainHash(DeterminismTrainTask(6), Cpu(2)));
  EXPECT_NE(InferHash(DeterminismInferTask(11), Cpu(2)),
            InferHash(DeterminismInferTask(12), Cpu(2)));

  TrainTask t = DeterminismTrainTask(5);
  auto start = kernels::InitialParams(t.model, 99);
  ASSERT_TRUE(start);
  auto bytes = kernels::SaveCheckpointBytes(t.model, *start);
  ASSERT_TRUE(bytes);
  t.round_params = *bytes;
  const std::string exact = TrainHash(t, Cpu(2));
  (*start)[start->size() / 2] = std::nextafter((*start)[start->size() / 2], 1.0f);
  bytes = kernels::SaveCheckpointBytes(t.model, *start);
  ASSERT_TRUE(bytes);
  t.round_params = *bytes;
  EXPECT_NE(TrainHash(t, Cpu(2)), exact) << "a one-ulp change of the start went unseen";
}

// ---- separate processes -----------------------------------------------------------------------

class TaskDeterminismProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("plume-determinism-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Starts the helper with OMP_NUM_THREADS=threads (passive waits: the runs share two cores).
  pid_t Spawn(const std::string& kind, uint64_t seed, int threads, const std::string& out) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string v = *e;
      if (v.rfind("OMP_NUM_THREADS=", 0) != 0 && v.rfind("OMP_WAIT_POLICY=", 0) != 0) {
        env.push_back(v);
      }
    }
    env.push_back("OMP_NUM_THREADS=" + std::to_string(threads));
    env.push_back("OMP_WAIT_POLICY=passive");
    std::vector<std::string> args = {PLUME_DETERMINISM_TASK, kind, std::to_string(seed),
                                     std::to_string(threads), out};
    auto c_strings = [](std::vector<std::string>& v) {
      std::vector<char*> p;
      for (auto& s : v) p.push_back(s.data());
      p.push_back(nullptr);
      return p;
    };
    auto argv = c_strings(args), envp = c_strings(env);
    pid_t pid = -1;
    EXPECT_EQ(::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), envp.data()), 0)
        << "cannot start " << argv[0];
    return pid;
  }

  // Runs the helper once per (seed, threads) at the same time and returns each file's hash.
  std::vector<std::string> RunAll(const std::string& kind,
                                  const std::vector<std::pair<uint64_t, int>>& runs) {
    std::vector<pid_t> pids;
    std::vector<std::string> files;
    for (const auto& [seed, threads] : runs) {
      files.push_back((dir_ / (kind + std::to_string(files.size()))).string());
      pids.push_back(Spawn(kind, seed, threads, files.back()));
    }
    std::vector<std::string> hashes;
    for (size_t i = 0; i < pids.size(); ++i) {
      int status = 0;
      EXPECT_EQ(::waitpid(pids[i], &status, 0), pids[i]);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << kind << " run " << i << " ended with status " << status;
      std::ifstream f(files[i], std::ios::binary);
      const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(f), {}};
      EXPECT_FALSE(bytes.empty()) << files[i];
      hashes.push_back(HashOf(bytes));
    }
    return hashes;
  }

  std::filesystem::path dir_;
};

TEST_F(TaskDeterminismProcessTest, TrainIsBitIdenticalAcrossProcessesAt1To3Threads) {
  const auto h = RunAll("train", {{5, 1}, {5, 2}, {5, 3}, {6, 2}});
  EXPECT_EQ(h[1], h[0]);
  EXPECT_EQ(h[2], h[0]);
  EXPECT_NE(h[3], h[0]) << "another seed gave the same output";
  EXPECT_EQ(h[0], TrainHash(DeterminismTrainTask(5), Cpu(2))) << "process differs from in-process";
}

TEST_F(TaskDeterminismProcessTest, InferIsBitIdenticalAcrossProcessesAt1To3Threads) {
  const auto h = RunAll("infer", {{11, 1}, {11, 2}, {11, 3}, {12, 2}});
  EXPECT_EQ(h[1], h[0]);
  EXPECT_EQ(h[2], h[0]);
  EXPECT_NE(h[3], h[0]) << "another seed gave the same output";
  EXPECT_EQ(h[0], InferHash(DeterminismInferTask(11), Cpu(2))) << "process differs from in-process";
}

// ---- GPUs -------------------------------------------------------------------------------------

// Every GPU: the same task twice gives the same bytes. The launchers pick their geometry from
// the shapes alone, so there is no launch setting to vary; the class names the device model.
TEST(TaskDeterminismCudaTest, SameTaskTwiceOnEachGpuIsBitIdentical) {
  const int n = kernels::CudaDeviceCount();
  if (n == 0) GTEST_SKIP() << "no CUDA device";
  for (int d = 0; d < n; ++d) {
    const DeviceChoice gpu{.cuda_device = d, .cuda_devices = {d}, .threads = 0};
    const TrainTask t = DeterminismTrainTask(5);
    EXPECT_EQ(TrainHash(t, gpu), TrainHash(t, gpu)) << "train, device " << d;
    EXPECT_NE(TrainHash(DeterminismTrainTask(6), gpu), TrainHash(t, gpu)) << "device " << d;
    const InferTask i = DeterminismInferTask(11);
    EXPECT_EQ(InferHash(i, gpu), InferHash(i, gpu)) << "infer, device " << d;
  }
}

// Several GPUs as one worker (NCCL all-reduce each step): repeatable on this machine, which is
// all the ".nccl" classes promise (kernel_class.h IsBitExactClass).
TEST(TaskDeterminismCudaTest, MultiGpuTrainTwiceIsBitIdentical) {
  const int n = kernels::CudaDeviceCount();
  if (n < 2) GTEST_SKIP() << "fewer than two CUDA devices";
  const DeviceChoice gpus{.cuda_device = 0, .cuda_devices = {0, 1}, .threads = 0};
  const TrainTask t = DeterminismTrainTask(5);
  EXPECT_EQ(TrainHash(t, gpus), TrainHash(t, gpus));
}

// ---- the class the agent reports --------------------------------------------------------------

TEST(AgentKernelClassTest, CpuAgentReportsTheCpuClass) {
  DeviceOffer cpu;
  cpu.name = "cpu";
  cpu.selftest_passed = true;
  const std::string reported = KernelBuild({cpu});
  auto parsed = kernels::ParseKernelClass(reported);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, kernels::ProbeCpuKernelClass());
  EXPECT_TRUE(kernels::IsBitExactClass(*parsed));
  // A GPU that failed its selftest is not used, so it does not change the class.
  DeviceOffer failed;
  failed.backend = DeviceBackend::kCuda;
  failed.selftest_passed = false;
  EXPECT_EQ(KernelBuild({cpu, failed}), reported);
}

}  // namespace
}  // namespace plume::agent
