// Self-test orchestration: which backends to check, and the human-readable report.
#include "plume/kernels/selftest.h"

#include <cstdio>

#include "plume/kernels/ops.h"
#include "selftest_internal.h"

namespace plume::kernels {
namespace {

void Finish(DeviceReport& d, Ops& ops, bool measure, bool large) {
  if (measure) {
    auto speed = MeasureSpeed(ops, large);
    if (speed) {
      d.matmul_flops = speed->matmul_flops;
      d.train_tokens_per_s = speed->train_tokens_per_s;
      d.speed_flops = speed->train_flops;
    } else {
      d.checks.push_back({"speed", false, 0, 0, speed.error().message});
    }
  }
  d.passed = !d.checks.empty();
  for (const auto& c : d.checks) d.passed = d.passed && c.passed;
}

}  // namespace

DeviceReport CompareDevice(Ops& reference, Ops& device, uint64_t seed,
                           const CudaKernelChoice& kernels) {
  DeviceReport d;
  d.name = device.DeviceName();
  d.memory_bytes = static_cast<int64_t>(device.MemoryBytes());
  d.checks = CompareOps(reference, device, seed, kernels);
  for (auto& c : CompareModel(reference, device, seed)) d.checks.push_back(std::move(c));
  Finish(d, device, false, false);
  return d;
}

bool SelftestReport::passed() const {
  if (devices.empty()) return false;
  for (const auto& d : devices) {
    if (!d.passed) return false;
  }
  return true;
}

SelftestReport RunSelftest(const SelftestOptions& options) {
  SelftestReport report;
  report.cuda_built = BuiltWithCuda();
  report.cuda_devices = CudaDeviceCount();
  auto cpu = MakeCpuOps(options.cpu_threads);
  for (int i = 0; i < report.cuda_devices; ++i) {
    DeviceReport d;
    d.backend = "cuda";
    d.index = i;
    auto device = MakeCudaOps(i);
    if (!device) {
      d.name = "cuda:" + std::to_string(i);
      d.checks.push_back({"open_device", false, 0, 0, device.error().message});
      report.devices.push_back(d);
      continue;
    }
    // MakeCudaOps chose the kernels from the environment (an invalid choice failed it above).
    const CudaKernelChoice kernels = CudaKernelChoiceFromEnv().value_or(CudaKernelChoice{});
    DeviceReport checked = CompareDevice(*cpu, **device, options.seed, kernels);
    checked.backend = d.backend;
    checked.index = i;
    Finish(checked, **device, options.measure_speed, true);
    report.devices.push_back(std::move(checked));
  }
  // The CPU is checked on every machine: a GPU machine offers its CPU too (the agent offers
  // each backend that passed), and a failed GPU must not take the CPU down with it.
  if (report.cuda_devices == 0) {
    report.note = report.cuda_built ? "no CUDA device found: checked the CPU backend"
                                    : "built without CUDA: checked the CPU backend";
  }
  {
    DeviceReport d;
    d.backend = "cpu";
    d.name = cpu->DeviceName();
    d.memory_bytes = static_cast<int64_t>(cpu->MemoryBytes());
    d.checks = CheckModelOnItsOwn(*cpu, options.seed);
    Finish(d, *cpu, options.measure_speed, false);
    report.devices.push_back(std::move(d));
  }
  return report;
}

std::string FormatSelftest(const SelftestReport& report) {
  std::string out;
  char line[512];
  if (!report.note.empty()) out += report.note + "\n";
  for (const auto& d : report.devices) {
    std::snprintf(line, sizeof line, "%s:%d  %s  memory %.1f GiB\n", d.backend.c_str(), d.index,
                  d.name.c_str(), d.memory_bytes / double(1 << 30));
    out += line;
    for (const auto& c : d.checks) {
      std::snprintf(line, sizeof line, "  %-4s %-40s error %.2e (tolerance %.1e)%s%s\n",
                    c.passed ? "ok" : "FAIL", c.name.c_str(), c.error, c.tolerance,
                    c.detail.empty() ? "" : ": ", c.detail.c_str());
      out += line;
    }
    std::snprintf(line, sizeof line,
                  "  speed: matmul %.1f GFLOP/s, training step %.0f tokens/s = %.1f GFLOP/s "
                  "(model FLOPs)\n  %s\n",
                  d.matmul_flops / 1e9, d.train_tokens_per_s, d.speed_flops / 1e9,
                  d.passed ? "PASSED" : "FAILED");
    out += line;
  }
  return out;
}

}  // namespace plume::kernels
