// plume_determinism_task: runs one determinism task (determinism_tasks.h) through the agent's
// task code on the CPU backend with the OpenMP default thread count, and writes the output blob
// to a file. task_determinism_test.cc starts it with different OMP_NUM_THREADS and compares the
// files. A test helper, never part of the shipped agent.
//   plume_determinism_task <train|infer> SEED EXPECTED_THREADS OUT_PATH
// Exit 0: written; 2: bad arguments; 3: the backend did not get EXPECTED_THREADS threads (the
// test would then prove nothing); 4: the task failed; 5: the file could not be written.
#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>

#include "determinism_tasks.h"
#include "plume/kernels/ops.h"
#include "task_work.h"

int main(int argc, char** argv) {
  using namespace plume::agent;
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s <train|infer> SEED EXPECTED_THREADS OUT_PATH\n", argv[0]);
    return 2;
  }
  const std::string kind = argv[1];
  const uint64_t seed = std::stoull(argv[2]);
  const std::string want = "cpu (" + std::string(argv[3]) + " threads)";
  // threads 0 below means the OpenMP default, which OMP_NUM_THREADS sets: check it took.
  const std::string got = plume::kernels::MakeCpuOps(0)->DeviceName();
  if (got != want) {
    std::fprintf(stderr, "backend is '%s', expected '%s'\n", got.c_str(), want.c_str());
    return 3;
  }
  const DeviceChoice cpu{.cuda_device = -1, .cuda_devices = {}, .threads = 0};
  WorkFn work;
  if (kind == "train") {
    work = MakeTrainWork(testing::DeterminismTrainTask(seed), cpu);
  } else if (kind == "infer") {
    work = MakeInferWork(testing::DeterminismInferTask(seed), cpu);
  } else {
    std::fprintf(stderr, "unknown task kind '%s'\n", kind.c_str());
    return 2;
  }
  std::atomic<bool> stop{false};
  auto out = work([](int64_t, int64_t, double) {}, stop);
  if (!out) {
    std::fprintf(stderr, "task failed: %s\n", out.error().message.c_str());
    return 4;
  }
  std::ofstream f(argv[4], std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(out->result.data()),
          static_cast<std::streamsize>(out->result.size()));
  f.close();
  return f ? 0 : 5;
}
