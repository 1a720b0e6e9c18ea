// GradientReducer implementations: through the host (any backend) and over NCCL (allreduce.h).
#include "plume/kernels/gradient_reducer.h"

#include <string>
#include <utility>

#include "plume/kernels/allreduce.h"
#include "status_macros.h"

namespace plume::kernels {
namespace {

class HostReducer final : public GradientReducer {
 public:
  explicit HostReducer(std::vector<Ops*> replicas) : replicas_(std::move(replicas)) {}

  Status AllReduceMean(const std::vector<float*>& buffers, size_t n) override {
    const size_t D = replicas_.size();
    if (buffers.size() != D) {
      return Fail("host all-reduce: got " + std::to_string(buffers.size()) + " buffers for " +
                  std::to_string(D) + " replicas; pass one per replica, in creation order");
    }
    if (n == 0 || D == 0) return {};
    sum_.resize(n);
    part_.resize(n);
    // Replica 0 first, then 1, 2, ...: the fixed order that makes the sum repeatable.
    PLUME_RETURN_IF_ERROR(replicas_[0]->Synchronize());
    PLUME_RETURN_IF_ERROR(replicas_[0]->CopyToHost(sum_.data(), buffers[0], n * sizeof(float)));
    for (size_t d = 1; d < D; ++d) {
      PLUME_RETURN_IF_ERROR(replicas_[d]->Synchronize());
      PLUME_RETURN_IF_ERROR(replicas_[d]->CopyToHost(part_.data(), buffers[d], n * sizeof(float)));
      for (size_t i = 0; i < n; ++i) sum_[i] += part_[i];
    }
    // Divide (not multiply by 1/D): exact for D a power of two, and the same rounding as a
    // division by D everywhere else.
    const float count = static_cast<float>(D);
    for (size_t i = 0; i < n; ++i) sum_[i] /= count;
    for (size_t d = 0; d < D; ++d) {
      PLUME_RETURN_IF_ERROR(replicas_[d]->CopyToDevice(buffers[d], sum_.data(), n * sizeof(float)));
    }
    return {};
  }
  int size() const override { return static_cast<int>(replicas_.size()); }

 private:
  std::vector<Ops*> replicas_;
  std::vector<float> sum_, part_;  // kept between steps: the gradient size never changes
};

class NcclReducer final : public GradientReducer {
 public:
  explicit NcclReducer(std::unique_ptr<AllReducer> all) : all_(std::move(all)) {}
  Status AllReduceMean(const std::vector<float*>& buffers, size_t n) override {
    return all_->AllReduceMean(buffers, n);
  }
  int size() const override { return all_->size(); }

 private:
  std::unique_ptr<AllReducer> all_;
};

}  // namespace

std::unique_ptr<GradientReducer> MakeHostReducer(std::vector<Ops*> replicas) {
  return std::make_unique<HostReducer>(std::move(replicas));
}

Result<std::unique_ptr<GradientReducer>> MakeNcclReducer(const std::vector<int>& devices) {
  PLUME_ASSIGN_OR_RETURN(auto all, AllReducer::Create(devices));
  return std::unique_ptr<GradientReducer>(std::make_unique<NcclReducer>(std::move(all)));
}

}  // namespace plume::kernels
