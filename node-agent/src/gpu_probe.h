// Device facts for the agent's metrics: identity and memory from the CUDA runtime (when the
// build has CUDA), utilisation, power and temperature from NVML loaded at run time. Both are
// optional: a CPU-only build or a host without the NVIDIA driver answers "unknown".
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace plume::agent {

struct GpuIdentity {
  std::string uuid;   // "GPU-8f6c...", DCGM's UUID label
  std::string model;  // "NVIDIA H100 80GB HBM3", DCGM's modelName label
};
struct GpuMemory {
  uint64_t used_bytes = 0;
  uint64_t total_bytes = 0;
};
struct GpuSample {
  double utilization_ratio = 0;  // 0..1
  double power_watts = 0;
  double temperature_celsius = 0;
};

// CUDA runtime; nullopt without CUDA in the build or when the device cannot be queried.
std::optional<GpuIdentity> CudaIdentity(int device);
std::optional<GpuMemory> CudaMemory(int device);

// libnvidia-ml.so.1 opened with dlopen. Thread-safe (NVML is).
class Nvml {
 public:
  // nullptr when the library or its symbols are missing or nvmlInit fails.
  static std::unique_ptr<Nvml> Load();
  ~Nvml();
  // Samples the device with this UUID; nullopt when NVML does not know it.
  std::optional<GpuSample> Sample(const std::string& uuid) const;

 private:
  struct Api;
  explicit Nvml(std::unique_ptr<Api> api);
  std::unique_ptr<Api> api_;
};

}  // namespace plume::agent
