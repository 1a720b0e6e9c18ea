// The CUDA half of kernel_class.h: which GPU model a task runs on. Compiled in every build; without
// CUDA the probe reports that there is nothing to probe.
#include <algorithm>
#include <set>
#include <string>
#include <string_view>

#include "cuda_kernel_choice.h"
#include "plume/kernels/kernel_class.h"
#include "plume_kernel_build_id.h"  // generated: kPlumeCudaArchitectures (comma-separated)

#ifdef PLUME_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace plume::kernels {
namespace {

// Whether the build carries machine code (SASS) that this compute capability runs: code for
// sm_XY runs on sm_XZ with Z >= Y. Without it the driver compiles the embedded PTX, and that
// compiler's output can change with the driver version. An architecture entry CMake wrote in a
// form not understood here ("all", "native") counts as "maybe JIT": a class that splits too
// finely only finds fewer peers; one that splits too coarsely would convict honest providers.
[[maybe_unused]] bool HasSassFor(std::string_view archs, int major, int minor) {
  size_t pos = 0;
  while (pos <= archs.size()) {
    const size_t end = std::min(archs.find(',', pos), archs.size());
    const std::string_view a = archs.substr(pos, end - pos);
    pos = end + 1;
    if (a.size() < 2 || a.find("virtual") != std::string_view::npos) continue;
    if (a[0] < '0' || a[0] > '9' || a[1] < '0' || a[1] > '9') continue;
    if (a[0] - '0' == major && a[1] - '0' <= minor) return true;
  }
  return false;
}

}  // namespace

Result<KernelClass> ProbeCudaKernelClass(const std::vector<int>& devices) {
  if (devices.empty()) return Fail("a CUDA kernel class needs at least one device");
#ifdef PLUME_WITH_CUDA
  // The same environment MakeCudaOps reads: the class names the kernels the backend will run.
  auto choice = CudaKernelChoiceFromEnv();
  if (!choice) return tl::unexpected(choice.error());
  std::set<std::string> models;
  std::string device;
  for (int d : devices) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) {
      cudaGetLastError();  // a non-sticky error: clear it so later CUDA calls do not report it
      return Fail("CUDA device " + std::to_string(d) + ": cannot read its properties");
    }
    int jit_driver = 0;
    if (!HasSassFor(kPlumeCudaArchitectures, prop.major, prop.minor)) {
      if (cudaDriverGetVersion(&jit_driver) != cudaSuccess) jit_driver = 1;
    }
    device = CudaDeviceModel(prop.name, prop.major, prop.minor,
                             static_cast<int>(devices.size()), jit_driver,
                             CudaKernelChoiceToken(*choice));
    models.insert(device);
  }
  if (models.size() != 1) {
    return Fail("the CUDA devices of one task are different models; a task runs on one model");
  }
  return KernelClass{"cuda", device, KernelBuildId()};
#else
  return Fail("this build has no CUDA backend");
#endif
}

}  // namespace plume::kernels
