// The kernel class: the name of everything that decides the bits of a task's output besides the
// task itself. Two runs of the same task (inputs, seed, shard, hyper-parameters) in one kernel
// class give bit-identical outputs, whatever the thread count, process or machine; that is the
// contract replay audits rely on to call a mismatch a proof (docs/determinism.md). Across
// classes, outputs may differ in the last bits and are only ever compared by tolerance.
//
// A class has three parts, written "<backend>/<device>/<build>":
//   backend  "cpu" or "cuda".
//   device   what the machine contributes to the bits. CPU: the OpenBLAS core its dynamic
//            dispatch chose (the sgemm micro-kernel), the -march the kernels were compiled for,
//            and the versions of the OpenBLAS and C libraries loaded at run time (libm's exp and
//            log). CUDA: the device name, its compute capability, how many devices one task
//            uses (the NCCL reduction over several GPUs is its own class), and the driver
//            version when the build has no code for this architecture and the driver compiles
//            PTX for it, and a kernel choice that changes bits (BF16 matmul or attention).
//   build    the first 16 hex digits of a SHA-256 over the kernels library's sources, the
//            agent's task code (node-agent/src/task_work.*, which turns kernel results into
//            output bytes), and the toolchain and flags that compiled them; computed by CMake at
//            build time.
// Every part is made of [A-Za-z0-9._+-] so that the string is one token in logs and a key in
// the scheduler; at most kKernelClassBytesMax bytes, which fits the ledger receipt's field.
//
// Format and parse are pure; the Probe functions ask the machine and are cheap (no kernel runs).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "plume/kernels/error.h"

namespace plume::kernels {

inline constexpr size_t kKernelClassBytesMax = 128;
inline constexpr size_t kKernelBuildIdHexDigits = 16;

struct KernelClass {
  std::string backend;  // "cpu" or "cuda"
  std::string device;
  std::string build;  // kKernelBuildIdHexDigits lowercase hex digits

  bool operator==(const KernelClass&) const = default;
};

// "<backend>/<device>/<build>". Precondition: the parts are valid (what Parse accepts); a device
// made by CpuDeviceModel or CudaDeviceModel always is.
std::string FormatKernelClass(const KernelClass& c);
// The inverse of FormatKernelClass; an error that names what is wrong for anything else (an
// agent older than kernel classes sends "plume-kernels-0.1+cpu", which does not parse).
Result<KernelClass> ParseKernelClass(std::string_view text);

// One device token from free text: characters outside [A-Za-z0-9._+-] become '-', runs of '-'
// collapse, and the result is cut to `bytes_max`. Pure.
std::string DeviceToken(std::string_view text, size_t bytes_max);

// The CPU device part from its ingredients. Pure, so tests can show that each ingredient
// changes the class. Example: "Haswell.x86-64-v3.openblas-0.3.21.glibc-2.36".
std::string CpuDeviceModel(std::string_view blas_core, std::string_view march,
                           std::string_view blas_version, std::string_view libc_version);
// The CUDA device part. `jit_driver_version` is 0 when the build carries code for this
// architecture, else the driver that compiles the PTX. `kernels` names a non-default kernel
// choice that changes bits (PLUME_CUDA_MATMUL=bf16 gives "mm-bf16"; empty for the defaults).
// Several devices add ".nccl", always last. Example: "NVIDIA-H200.sm_90.x1".
std::string CudaDeviceModel(std::string_view name, int cc_major, int cc_minor, int device_count,
                            int jit_driver_version, std::string_view kernels = {});

// Whether the contract holds across machines for this class. False for a task spread over
// several GPUs: NCCL orders its reduction by the topology it detects (NVLink, PCIe, rings and
// channels), so two machines with the same GPUs may differ in the last bits; such results are
// repeatable on one machine but are compared across providers by tolerance only. Pure.
bool IsBitExactClass(const KernelClass& c);

// The build id of this kernels library (generated at build time; see kernels/CMakeLists.txt).
std::string KernelBuildId();

// This process's CPU class: OpenBLAS's core and version as loaded, the compiled -march, and the
// C library's version. The thread count is deliberately not part of it.
KernelClass ProbeCpuKernelClass();
// The class of a task that runs on these CUDA devices together (all must be the same model).
// An error without CUDA, for a missing device, or for a mix of device models.
Result<KernelClass> ProbeCudaKernelClass(const std::vector<int>& devices);

}  // namespace plume::kernels
