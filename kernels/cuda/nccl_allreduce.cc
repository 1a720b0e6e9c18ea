// AllReducer (plume/kernels/allreduce.h) over NCCL: one communicator and one stream per local
// device, created together with ncclCommInitAll; averaging is ncclAllReduce with ncclAvg,
// issued for all devices inside one NCCL group so a single thread can drive them all.
//
// NCCL is loaded with dlopen on first use instead of being linked. A library named at link time
// puts its thread-local storage into every thread's stack; NCCL's (12 KiB) together with
// OpenBLAS's (60 KiB) left the 100 KiB stacks of the metrics HTTP server's threads (civetweb,
// under prometheus-cpp) too small, and plume-agent crashed on its first scrape. Loaded later,
// NCCL's TLS is allocated on demand, and an agent on a machine without NCCL still runs.
#include "plume/kernels/allreduce.h"

#ifdef PLUME_WITH_NCCL

#include <cuda_runtime.h>
#include <nccl.h>

#include <dlfcn.h>

#include <algorithm>
#include <string>
#include <type_traits>
#include <utility>

#include "common.cuh"
#include "plume/kernels/ops.h"

namespace plume::kernels {
namespace {

// The NCCL entry points this file uses, resolved once from libnccl.so.2.
struct NcclApi {
  decltype(&::ncclGetErrorString) GetErrorString = nullptr;
  decltype(&::ncclCommInitAll) CommInitAll = nullptr;
  decltype(&::ncclCommDestroy) CommDestroy = nullptr;
  decltype(&::ncclGroupStart) GroupStart = nullptr;
  decltype(&::ncclGroupEnd) GroupEnd = nullptr;
  decltype(&::ncclAllReduce) AllReduce = nullptr;
  std::string error;  // why loading failed; empty when every symbol was found
};

const NcclApi& Nccl() {
  static const NcclApi api = [] {
    NcclApi a;
    void* lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* why = dlerror();
      a.error = std::string("cannot load libnccl.so.2 (") + (why ? why : "unknown") +
                "); install NCCL or put it on LD_LIBRARY_PATH";
      return a;
    }
    auto load = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (fn == nullptr && a.error.empty()) a.error = std::string("libnccl.so.2 lacks ") + name;
    };
    load(a.GetErrorString, "ncclGetErrorString");
    load(a.CommInitAll, "ncclCommInitAll");
    load(a.CommDestroy, "ncclCommDestroy");
    load(a.GroupStart, "ncclGroupStart");
    load(a.GroupEnd, "ncclGroupEnd");
    load(a.AllReduce, "ncclAllReduce");
    return a;  // the library stays loaded for the life of the process
  }();
  return api;
}

tl::unexpected<Error> NcclFail(const char* what, ncclResult_t r) {
  return Fail(std::string("NCCL error in ") + what + ": " + Nccl().GetErrorString(r));
}

// Restores the calling thread's current device when it goes out of scope.
class DeviceGuard {
 public:
  DeviceGuard() { cudaGetDevice(&previous_); }
  ~DeviceGuard() {
    if (previous_ >= 0) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

}  // namespace

struct AllReducer::Impl {
  std::vector<int> devices;
  std::vector<ncclComm_t> comms;
  std::vector<cudaStream_t> streams;

  ~Impl() {
    DeviceGuard guard;
    for (ncclComm_t comm : comms) {
      if (comm != nullptr) Nccl().CommDestroy(comm);
    }
    for (size_t i = 0; i < streams.size(); ++i) {
      cudaSetDevice(devices[i]);
      cudaStreamDestroy(streams[i]);
    }
  }
};

AllReducer::AllReducer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AllReducer::~AllReducer() = default;

Result<std::unique_ptr<AllReducer>> AllReducer::Create(const std::vector<int>& devices) {
  const int count = CudaDeviceCount();
  if (devices.empty()) return Fail("AllReducer: no devices given");
  for (size_t i = 0; i < devices.size(); ++i) {
    if (devices[i] < 0 || devices[i] >= count) {
      return Fail("AllReducer: CUDA device " + std::to_string(devices[i]) +
                  " does not exist; this machine has " + std::to_string(count));
    }
    if (std::count(devices.begin(), devices.end(), devices[i]) > 1) {
      return Fail("AllReducer: CUDA device " + std::to_string(devices[i]) + " listed twice");
    }
  }
  if (!Nccl().error.empty()) return Fail("AllReducer: " + Nccl().error);
  DeviceGuard guard;
  auto impl = std::make_unique<Impl>();
  impl->devices = devices;
  for (int device : devices) {
    CUDA_CHECK(cudaSetDevice(device));
    cudaStream_t stream = nullptr;
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    impl->streams.push_back(stream);
  }
  impl->comms.assign(devices.size(), nullptr);
  ncclResult_t r = Nccl().CommInitAll(impl->comms.data(), static_cast<int>(devices.size()),
                                   devices.data());
  if (r != ncclSuccess) {
    impl->comms.assign(devices.size(), nullptr);  // nothing to destroy
    return NcclFail("ncclCommInitAll", r);
  }
  return std::unique_ptr<AllReducer>(new AllReducer(std::move(impl)));
}

Status AllReducer::AllReduceMean(const std::vector<float*>& buffers, size_t n) {
  const size_t ndev = impl_->devices.size();
  if (buffers.size() != ndev) {
    return Fail("AllReduceMean: got " + std::to_string(buffers.size()) + " buffers for " +
                std::to_string(ndev) + " devices; pass one per device, in Create() order");
  }
  if (n == 0) return {};
  for (float* b : buffers) {
    if (b == nullptr) return Fail("AllReduceMean: a buffer is null");
  }
  DeviceGuard guard;
  ncclResult_t r = Nccl().GroupStart();
  if (r != ncclSuccess) return NcclFail("ncclGroupStart", r);
  for (size_t i = 0; i < ndev; ++i) {
    // Every early return inside the group must close it first, or the next NCCL call on this
    // thread joins a group that never launches.
    if (cudaError_t e = cudaSetDevice(impl_->devices[i]); e != cudaSuccess) {
      Nccl().GroupEnd();
      return cuda::CudaFail("cudaSetDevice", e);
    }
    r = Nccl().AllReduce(buffers[i], buffers[i], n, ncclFloat, ncclAvg, impl_->comms[i],
                      impl_->streams[i]);
    if (r != ncclSuccess) {
      Nccl().GroupEnd();
      return NcclFail("ncclAllReduce", r);
    }
  }
  r = Nccl().GroupEnd();
  if (r != ncclSuccess) return NcclFail("ncclGroupEnd", r);
  for (size_t i = 0; i < ndev; ++i) {
    CUDA_CHECK(cudaSetDevice(impl_->devices[i]));
    CUDA_CHECK(cudaStreamSynchronize(impl_->streams[i]));
  }
  return {};
}

int AllReducer::size() const { return static_cast<int>(impl_->devices.size()); }

bool BuiltWithNccl() { return true; }

}  // namespace plume::kernels

#else  // CUDA without NCCL (not found, or -DPLUME_NCCL=OFF): the same answers as a CPU build.
#include "../no_cuda_allreduce.cc"
#endif
