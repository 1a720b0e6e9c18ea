// See gpu_probe.h. NVML's C API is declared here by hand (the few functions used, with the
// types of nvml.h) so that the agent needs neither NVML's header nor its library to build.
#include "gpu_probe.h"

#include <dlfcn.h>

#include <cstdio>

#if defined(PLUME_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace plume::agent {

#if defined(PLUME_WITH_CUDA)
std::optional<GpuIdentity> CudaIdentity(int device) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) return std::nullopt;
  const auto* u = reinterpret_cast<const unsigned char*>(prop.uuid.bytes);
  char uuid[64];
  std::snprintf(uuid, sizeof(uuid),
                "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
                u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
                u[14], u[15]);
  return GpuIdentity{uuid, prop.name};
}

std::optional<GpuMemory> CudaMemory(int device) {
  // cudaSetDevice only changes the calling thread's current device (the scrape thread's).
  if (cudaSetDevice(device) != cudaSuccess) return std::nullopt;
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) return std::nullopt;
  return GpuMemory{total_bytes - free_bytes, total_bytes};
}
#else
std::optional<GpuIdentity> CudaIdentity(int) { return std::nullopt; }
std::optional<GpuMemory> CudaMemory(int) { return std::nullopt; }
#endif

namespace {
using NvmlDevice = void*;
struct NvmlUtilization {
  unsigned int gpu;
  unsigned int memory;
};
constexpr int kNvmlSuccess = 0;
constexpr int kNvmlTemperatureGpu = 0;
}  // namespace

struct Nvml::Api {
  void* lib = nullptr;
  int (*init)() = nullptr;
  int (*shutdown)() = nullptr;
  int (*by_uuid)(const char*, NvmlDevice*) = nullptr;
  int (*utilization)(NvmlDevice, NvmlUtilization*) = nullptr;
  int (*power_mw)(NvmlDevice, unsigned int*) = nullptr;
  int (*temperature)(NvmlDevice, int, unsigned int*) = nullptr;
};

std::unique_ptr<Nvml> Nvml::Load() {
  auto api = std::make_unique<Api>();
  api->lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (api->lib == nullptr) return nullptr;
  auto sym = [&](const char* name) { return dlsym(api->lib, name); };
  api->init = reinterpret_cast<int (*)()>(sym("nvmlInit_v2"));
  api->shutdown = reinterpret_cast<int (*)()>(sym("nvmlShutdown"));
  api->by_uuid = reinterpret_cast<int (*)(const char*, NvmlDevice*)>(
      sym("nvmlDeviceGetHandleByUUID"));
  api->utilization = reinterpret_cast<int (*)(NvmlDevice, NvmlUtilization*)>(
      sym("nvmlDeviceGetUtilizationRates"));
  api->power_mw =
      reinterpret_cast<int (*)(NvmlDevice, unsigned int*)>(sym("nvmlDeviceGetPowerUsage"));
  api->temperature =
      reinterpret_cast<int (*)(NvmlDevice, int, unsigned int*)>(sym("nvmlDeviceGetTemperature"));
  if (!api->init || !api->shutdown || !api->by_uuid || !api->utilization || !api->power_mw ||
      !api->temperature || api->init() != kNvmlSuccess) {
    dlclose(api->lib);
    return nullptr;
  }
  return std::unique_ptr<Nvml>(new Nvml(std::move(api)));
}

Nvml::Nvml(std::unique_ptr<Api> api) : api_(std::move(api)) {}

Nvml::~Nvml() {
  api_->shutdown();
  dlclose(api_->lib);
}

std::optional<GpuSample> Nvml::Sample(const std::string& uuid) const {
  NvmlDevice dev = nullptr;
  if (api_->by_uuid(uuid.c_str(), &dev) != kNvmlSuccess) return std::nullopt;
  NvmlUtilization util{};
  unsigned int milliwatts = 0, celsius = 0;
  if (api_->utilization(dev, &util) != kNvmlSuccess ||
      api_->power_mw(dev, &milliwatts) != kNvmlSuccess ||
      api_->temperature(dev, kNvmlTemperatureGpu, &celsius) != kNvmlSuccess) {
    return std::nullopt;
  }
  return GpuSample{util.gpu / 100.0, milliwatts / 1000.0, static_cast<double>(celsius)};
}

}  // namespace plume::agent
