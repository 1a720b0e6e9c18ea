// How data-parallel replicas agree on one gradient each step. The trainer (runner.h,
// TrainShard over several Ops) only needs "replace every replica's buffer with the mean of
// all of them"; WHERE that happens is injected:
// - MakeNcclReducer: NCCL all-reduce across local CUDA devices (allreduce.h), the production
//   path for one agent with several GPUs.
// - MakeHostReducer: copies every buffer to the host, sums them in replica order and copies the
//   mean back. It works for any backend (CPU replicas in tests, or CUDA without NCCL) at the
//   cost of two host transfers per replica per step.
//
// Contract of AllReduceMean(buffers, n): buffers[i] holds n floats in the memory of replica i
// (the i-th Ops / device passed at creation); on return every buffer holds the element-wise
// mean, bit-identical across replicas, and the result is visible to later work on each
// replica's Ops. Deterministic for a fixed replica count, size and machine: the host reducer
// sums in index order (0, 1, ..., D-1) then divides by D; NCCL's ring all-reduce reduces
// each chunk in a fixed rank order for a fixed communicator and message size, and all-gathers
// the one reduced copy, so all ranks see identical bits and reruns repeat them. (NCCL may pick a
// different algorithm, e.g. tree, on another topology or NCCL version; results are then
// repeatable on that machine but not bit-equal to this one. Pin NCCL_ALGO=Ring to compare.)
// One thread at a time.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "plume/kernels/error.h"
#include "plume/kernels/ops.h"

namespace plume::kernels {

class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  virtual Status AllReduceMean(const std::vector<float*>& buffers, size_t n) = 0;
  virtual int size() const = 0;  // number of replicas it spans
};

// Borrows the Ops (which must outlive the reducer), one per replica, in replica order.
std::unique_ptr<GradientReducer> MakeHostReducer(std::vector<Ops*> replicas);

// NCCL across the given CUDA device ordinals (each once), in replica order. An error in a build
// without CUDA/NCCL or for a missing device; fall back to MakeHostReducer or one device then.
Result<std::unique_ptr<GradientReducer>> MakeNcclReducer(const std::vector<int>& devices);

}  // namespace plume::kernels
