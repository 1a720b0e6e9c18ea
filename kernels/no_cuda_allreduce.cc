// AllReducer for a build without CUDA: every call reports that multi-GPU averaging is not
// available, so a caller can fall back to one device instead of crashing.
#include "plume/kernels/allreduce.h"

#include <utility>

namespace plume::kernels {

struct AllReducer::Impl {};

AllReducer::AllReducer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AllReducer::~AllReducer() = default;

Result<std::unique_ptr<AllReducer>> AllReducer::Create(const std::vector<int>& /*devices*/) {
  return Fail("multi-GPU all-reduce needs a build with CUDA and NCCL (rebuild with "
              "-DPLUME_CUDA=ON where nvcc and NCCL are installed)");
}

Status AllReducer::AllReduceMean(const std::vector<float*>& /*buffers*/, size_t /*n*/) {
  return Fail("multi-GPU all-reduce is not built into this binary");
}

int AllReducer::size() const { return 0; }

bool BuiltWithNccl() { return false; }

}  // namespace plume::kernels
