// Data parallelism across the GPUs of one machine: averaging a float buffer (the gradients)
// over every local device with NCCL all-reduce, once per training step.
//
// Contract:
// - Create() takes the CUDA device ids to span (each at most once) and builds one NCCL
//   communicator per device (ncclCommInitAll). It fails with a clear error in a build without
//   CUDA or NCCL, or when a device does not exist.
// - AllReduceMean() takes one device pointer per device, in the order of Create()'s ids, each
//   holding n floats, and replaces every buffer with the element-wise mean over all of them.
//   The caller must have finished writing the buffers (for CudaOps: Synchronize() first); the
//   call returns when the result is in place on every device.
// - Not guaranteed bit-deterministic: NCCL picks its algorithm, protocol and channel count from
//   the size, the topology and the environment, and each can change the summation order. Runs
//   on the same machine with the same NCCL usually repeat, but nothing that decides pay or
//   proves a fault may depend on it: the replay audit compares single-device results only, and
//   train_shard.cc checks that the replicas still agree at the end of a shard.
// - One thread at a time; destroying the object frees the communicators.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "plume/kernels/error.h"

namespace plume::kernels {

class AllReducer {
 public:
  static Result<std::unique_ptr<AllReducer>> Create(const std::vector<int>& devices);
  ~AllReducer();
  AllReducer(const AllReducer&) = delete;
  AllReducer& operator=(const AllReducer&) = delete;

  Status AllReduceMean(const std::vector<float*>& buffers, size_t n);
  int size() const;

  struct Impl;  // NCCL communicators and streams; defined where NCCL is compiled in

 private:
  explicit AllReducer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// True when this build can all-reduce across GPUs (CUDA and NCCL were found at build time).
bool BuiltWithNccl();

}  // namespace plume::kernels
