// The memory a train submit's initialisation takes on the scheduler (security review F5): every
// operator new of this binary is counted (counting_alloc.h), and StoreInitialParams of a model of
// N parameters may hold at most its parameters (4N bytes), one encoder piece and 256 KiB for the
// checkpoint's header and bookkeeping at any moment. The path it replaced held the parameters
// four times (a model buffer, the copy out of it, the checkpoint's per-tensor copies and the
// encoded bytes), three of them through operator new: this bound fails for it by more than 8N
// bytes. The stored blob is also checked to be the bytes of
// SaveCheckpointBytes(InitialParams), i.e. the answer did not change.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "checkpoint_blob.h"
#include "counting_alloc.h"
#include "plume/kernels/checkpoint.h"
#include "plume/kernels/gpt.h"

namespace plume::scheduler {
namespace {

TEST(InitialParamsAlloc, HoldsTheParametersOnceWhileStoringThem) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("plume-init-alloc-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto store = BlobStore::Open(dir);
  ASSERT_TRUE(store);
  // 4 layers, 512 wide, an 8192-token vocabulary: about 17 M parameters, 68 MB.
  const kernels::ModelConfig model{4, 8, 512, 256, 8192};
  const int64_t params_bytes = model.NumParams() * int64_t{sizeof(float)};
  const int64_t piece_bytes = kernels::kCheckpointPieceFloats * int64_t{sizeof(float)};

  PeakCounter counter;
  auto hash = StoreInitialParams(**store, model, 7);
  const int64_t peak = counter.Stop();
  ASSERT_TRUE(hash) << hash.error().message;
  RecordProperty("peak_bytes", std::to_string(peak));
  RecordProperty("params_bytes", std::to_string(params_bytes));
  EXPECT_GT(peak, params_bytes);  // the count sees the parameters: the hook works
  EXPECT_LE(peak, params_bytes + piece_bytes + (256 << 10))
      << "peak " << peak << " bytes for " << params_bytes << " bytes of parameters";

  // The same blob as the whole-buffer encoding of the same initialisation.
  const auto whole = kernels::SaveCheckpointBytes(model, *kernels::InitialParams(model, 7));
  ASSERT_TRUE(whole);
  EXPECT_EQ(*hash, ToHex(Blake2b256(std::span<const uint8_t>(*whole))));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace plume::scheduler
