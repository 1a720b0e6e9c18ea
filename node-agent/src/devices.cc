// Device checks before the agent offers anything. Two layers:
//  1. the kernels selftest (kernels/include/plume/kernels/selftest.h): every op against the CPU
//     reference on each GPU, a finite-difference gradient check and bit-identical repeats on the
//     CPU (its slow speed benchmark is skipped so that an agent starts in well under a second);
//  2. the agent's own smoke test of the exact code path its tasks use: a short TrainShard run of
//     a tiny GPT, twice, must give falling finite losses and bit-identical parameters; its
//     speed is reported to the scheduler as the device's measured FLOP/s.
#include "plume/agent/devices.h"

#include <chrono>
#include <cmath>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "plume/kernels/kernel_class.h"
#include "plume/kernels/ops.h"
#include "plume/kernels/runner.h"
#include "plume/kernels/selftest.h"

namespace plume::agent {
namespace {

DeviceCheck Check(std::unique_ptr<kernels::Ops> ops, DeviceOffer offer) {
  kernels::ModelConfig model;
  model.n_layer = 1;
  model.n_head = 2;
  model.n_embd = 32;
  model.context = 32;
  model.vocab = 256;
  kernels::TrainConfig train;
  train.steps = 8;
  train.batch = 4;
  train.seq_len = 32;
  train.lr = 3e-3f;
  train.seed = 7;
  std::vector<int32_t> tokens(4096);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>((i * 7 + i / 13) % 97);
  DeviceCheck c{offer, ""};
  const auto t0 = std::chrono::steady_clock::now();
  auto a = kernels::TrainShard(model, train, {}, tokens, {}, *ops);
  const auto t1 = std::chrono::steady_clock::now();
  auto b = kernels::TrainShard(model, train, {}, tokens, {}, *ops);
  if (!a || !b) {
    c.details = "training check failed: " + (!a ? a.error() : b.error()).message;
    return c;
  }
  if (!std::isfinite(a->last_train_loss) || a->losses.empty() ||
      !(a->losses.back() < a->losses.front())) {
    c.details = "training check: loss did not fall (" + std::to_string(a->losses.front()) +
                " -> " + std::to_string(a->last_train_loss) + ")";
    return c;
  }
  if (a->params != b->params) {
    c.details = "determinism check: two identical runs gave different parameters";
    return c;
  }
  const double seconds = std::chrono::duration<double>(t1 - t0).count();
  c.offer.selftest_passed = true;
  c.offer.measured_flops_per_sec = seconds > 0 ? static_cast<double>(a->flops) / seconds : 0;
  c.details = "train loss " + std::to_string(a->losses.front()) + " -> " +
              std::to_string(a->last_train_loss) + ", deterministic, " +
              std::to_string(static_cast<int64_t>(c.offer.measured_flops_per_sec / 1e6)) +
              " MFLOP/s";
  return c;
}

// The kernels selftest's verdict on one backend, or a failure note when it did not check it.
std::string KernelsVerdict(const kernels::SelftestReport& report, const std::string& backend,
                           int index, bool* passed) {
  for (const auto& d : report.devices) {
    if (d.backend != backend || d.index != index) continue;
    *passed = d.passed;
    if (d.passed) return "kernels selftest passed (" + std::to_string(d.checks.size()) + " checks)";
    for (const auto& c : d.checks) {
      if (!c.passed) return "kernels selftest failed: " + c.name + ": " + c.detail;
    }
    return "kernels selftest failed";
  }
  *passed = false;
  return "kernels selftest did not check " + backend + ":" + std::to_string(index);
}

DeviceCheck CheckBoth(const kernels::SelftestReport& report, std::unique_ptr<kernels::Ops> ops,
                      DeviceOffer offer, const std::string& backend, int index) {
  bool kernels_ok = false;
  const std::string verdict = KernelsVerdict(report, backend, index, &kernels_ok);
  if (!kernels_ok) return {offer, verdict};
  DeviceCheck c = Check(std::move(ops), offer);
  c.details = verdict + "; " + c.details;
  return c;
}

}  // namespace

std::vector<DeviceCheck> CheckDevices(int threads) {
  kernels::SelftestOptions options;
  options.cpu_threads = threads;
  options.measure_speed = false;
  const kernels::SelftestReport report = kernels::RunSelftest(options);
  std::vector<DeviceCheck> out;
  DeviceOffer cpu;
  cpu.name = "cpu";
  cpu.backend = DeviceBackend::kCpu;
  cpu.count = 1;
  // The CPU backend works in host memory: offer what the machine has.
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  cpu.memory_bytes = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
  out.push_back(CheckBoth(report, kernels::MakeCpuOps(threads), cpu, "cpu", 0));
  const int n = kernels::CudaDeviceCount();
  for (int d = 0; d < n; ++d) {
    DeviceOffer gpu;
    gpu.name = "cuda:" + std::to_string(d);
    gpu.backend = DeviceBackend::kCuda;
    gpu.first_device_index = d;
    for (const auto& r : report.devices) {
      if (r.backend == "cuda" && r.index == d) {
        gpu.name = r.name;
        gpu.memory_bytes = static_cast<uint64_t>(std::max<int64_t>(0, r.memory_bytes));
      }
    }
    auto ops = kernels::MakeCudaOps(d);
    if (!ops) {
      out.push_back({gpu, "cannot open: " + ops.error().message});
      continue;
    }
    out.push_back(CheckBoth(report, std::move(*ops), gpu, "cuda", d));
  }
  return out;
}

std::vector<DeviceOffer> PassedDevices(const std::vector<DeviceCheck>& checks) {
  std::vector<DeviceOffer> out;
  for (const auto& c : checks) {
    if (c.offer.selftest_passed) out.push_back(c.offer);
  }
  return out;
}

std::string KernelBuild(const std::vector<DeviceOffer>& offered) {
  // The devices tasks run on, chosen as agent_tasks.cc ChooseDevice does: every CUDA device
  // that passed, else the CPU. The class names that group, since it is what decides the bits.
  std::vector<int> cuda;
  for (const auto& o : offered) {
    if (o.backend != DeviceBackend::kCuda || !o.selftest_passed) continue;
    for (uint32_t i = 0; i < o.count; ++i) cuda.push_back(o.first_device_index + static_cast<int>(i));
  }
  if (cuda.empty()) return kernels::FormatKernelClass(kernels::ProbeCpuKernelClass());
  auto c = kernels::ProbeCudaKernelClass(cuda);
  if (c) return kernels::FormatKernelClass(*c);
  // Not a class string, so the scheduler matches this agent with no other for a replay audit;
  // the agent still works and is paid on the screens alone.
  spdlog::warn("no kernel class for the CUDA devices: {}", c.error().message);
  return "unclassified+cuda";
}

}  // namespace plume::agent
