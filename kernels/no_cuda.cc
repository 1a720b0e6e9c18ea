// The CUDA entry points of ops.h for a build without nvcc: they report "not built with CUDA"
// so that callers (selftest, agent) can fall back to the CPU backend by choice, not by crash.
#include "cuda_kernel_choice.h"
#include "plume/kernels/ops.h"

namespace plume::kernels {

int CudaDeviceCount() { return 0; }

Result<std::unique_ptr<Ops>> MakeCudaOps(int device) {
  return Fail("CUDA device " + std::to_string(device) +
              " requested, but this build has no CUDA backend (rebuild with -DPLUME_CUDA=ON where "
              "nvcc is installed)");
}

Result<std::unique_ptr<Ops>> MakeCudaOpsWith(int device, const CudaKernelChoice&) {
  return MakeCudaOps(device);
}

bool BuiltWithCuda() { return false; }

}  // namespace plume::kernels
