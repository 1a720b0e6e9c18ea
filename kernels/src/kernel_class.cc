// Kernel classes (kernel_class.h): the pure format, parse and device-model functions, and the
// CPU probe. The CUDA probe lives in kernel_class_cuda.cc so that this file needs no CUDA headers.
#include "plume/kernels/kernel_class.h"

#include <cblas.h>
#include <gnu/libc-version.h>

#include <algorithm>
#include <sstream>

#include "plume_kernel_build_id.h"  // generated: kPlumeKernelBuildId, kPlumeKernelsMarch

namespace plume::kernels {
namespace {

bool IsTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '+' || c == '-';
}

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// OpenBLAS's config string starts "OpenBLAS <version> ..."; the version decides which
// micro-kernels exist for a core, so it is part of the device.
std::string BlasVersion(std::string_view config) {
  std::istringstream in{std::string(config)};
  std::string name, version;
  in >> name >> version;
  return version.empty() ? "unknown" : version;
}

}  // namespace

std::string DeviceToken(std::string_view text, size_t bytes_max) {
  std::string out;
  for (char c : text) {
    if (out.size() >= bytes_max) break;
    const char t = IsTokenChar(c) ? c : '-';
    if (t == '-' && !out.empty() && out.back() == '-') continue;
    out.push_back(t);
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "unknown" : out;
}

std::string CpuDeviceModel(std::string_view blas_core, std::string_view march,
                           std::string_view blas_version, std::string_view libc_version) {
  return DeviceToken(blas_core, 24) + "." + DeviceToken(march, 24) + ".openblas-" +
         DeviceToken(blas_version, 16) + ".glibc-" + DeviceToken(libc_version, 16);
}

std::string CudaDeviceModel(std::string_view name, int cc_major, int cc_minor, int device_count,
                            int jit_driver_version, std::string_view kernels) {
  std::string out = DeviceToken(name, 48) + ".sm_" + std::to_string(cc_major) +
                    std::to_string(cc_minor) + ".x" + std::to_string(device_count);
  if (jit_driver_version > 0) out += ".jit" + std::to_string(jit_driver_version);
  if (!kernels.empty()) out += "." + DeviceToken(kernels, 24);
  if (device_count > 1) out += ".nccl";
  return out;
}

bool IsBitExactClass(const KernelClass& c) {
  const std::string_view kNccl = ".nccl";
  const std::string_view d = c.device;
  return !(c.backend == "cuda" && d.size() >= kNccl.size() &&
           d.substr(d.size() - kNccl.size()) == kNccl);
}

std::string FormatKernelClass(const KernelClass& c) {
  return c.backend + "/" + c.device + "/" + c.build;
}

Result<KernelClass> ParseKernelClass(std::string_view text) {
  if (text.size() > kKernelClassBytesMax) {
    return Fail("kernel class is " + std::to_string(text.size()) + " bytes; at most " +
                std::to_string(kKernelClassBytesMax));
  }
  const size_t a = text.find('/');
  const size_t b = a == std::string_view::npos ? a : text.find('/', a + 1);
  if (b == std::string_view::npos || text.find('/', b + 1) != std::string_view::npos) {
    return Fail("kernel class '" + std::string(text) + "' is not <backend>/<device>/<build>");
  }
  KernelClass c{std::string(text.substr(0, a)), std::string(text.substr(a + 1, b - a - 1)),
                std::string(text.substr(b + 1))};
  if (c.backend != "cpu" && c.backend != "cuda") {
    return Fail("kernel class backend '" + c.backend + "' is neither cpu nor cuda");
  }
  if (c.device.empty() || !std::all_of(c.device.begin(), c.device.end(), IsTokenChar)) {
    return Fail("kernel class device '" + c.device + "' is empty or not made of [A-Za-z0-9._+-]");
  }
  if (c.build.size() != kKernelBuildIdHexDigits ||
      !std::all_of(c.build.begin(), c.build.end(), IsLowerHex)) {
    return Fail("kernel class build '" + c.build + "' is not " +
                std::to_string(kKernelBuildIdHexDigits) + " lowercase hex digits");
  }
  return c;
}

std::string KernelBuildId() {
  return std::string(kPlumeKernelBuildId).substr(0, kKernelBuildIdHexDigits);
}

KernelClass ProbeCpuKernelClass() {
  // Strings owned by OpenBLAS and glibc, valid for the life of the process.
  const char* core = openblas_get_corename();
  const char* config = openblas_get_config();
  const std::string device =
      CpuDeviceModel(core ? core : "unknown", kPlumeKernelsMarch,
                     BlasVersion(config ? config : ""), gnu_get_libc_version());
  return KernelClass{"cpu", device, KernelBuildId()};
}

}  // namespace plume::kernels
