// The self-test an agent runs before it accepts work (`plume selftest`, later
// `plume-agent selftest`): on every CUDA device, every op against the CPU reference on seeded
// random inputs (forward and backward), plus a whole training step, and measured speed; with
// no GPU it says so and checks the CPU backend itself (a finite-difference spot check of the
// model's gradients, bit-identical repeats) and measures its speed.
//
// Never throws and never exits; every failure is recorded in the report. Runs on the calling
// thread; takes seconds (longer with measure_speed on a slow CPU).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace plume::kernels {

struct OpCheck {
  std::string name;          // "matmul_backward", "model_gradient_fd", ...
  bool passed = false;
  double error = 0.0;        // max |got - want| / max |want| (or the check's own measure)
  double tolerance = 0.0;
  std::string detail;        // why it failed, when it did
};

struct DeviceReport {
  std::string backend;       // "cuda" or "cpu"
  int index = 0;             // CUDA device ordinal (0 for cpu)
  std::string name;          // Ops::DeviceName()
  int64_t memory_bytes = 0;  // Ops::MemoryBytes(): device memory (cuda), physical RAM (cpu)
  bool passed = false;       // every check passed
  double speed_flops = 0.0;  // achieved model FLOP/s of a training step (flops.h accounting)
  double matmul_flops = 0.0; // FLOP/s of a large MatmulForward
  double train_tokens_per_s = 0.0;
  std::vector<OpCheck> checks;
};

struct SelftestReport {
  bool cuda_built = false;
  int cuda_devices = 0;
  std::string note;          // e.g. "no CUDA device found: checked the CPU backend"
  std::vector<DeviceReport> devices;
  bool passed() const;
};

struct SelftestOptions {
  int cpu_threads = 0;        // 0 = OpenMP default
  bool measure_speed = true;
  uint64_t seed = 1;
};

SelftestReport RunSelftest(const SelftestOptions& options = {});

// A human-readable multi-line summary (one line per check and per device).
std::string FormatSelftest(const SelftestReport& report);

}  // namespace plume::kernels
