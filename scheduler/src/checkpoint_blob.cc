// Parameters stored as checkpoint blobs, streamed; see checkpoint_blob.h.
#include "checkpoint_blob.h"

#include "plume/kernels/checkpoint.h"
#include "plume/kernels/gpt.h"

namespace plume::scheduler {

Result<BlobHash> StoreCheckpoint(BlobStore& blobs, const kernels::ModelConfig& model,
                                 std::span<const float> params) {
  auto writer = BlobWriter::Start(blobs);
  if (!writer) return tl::unexpected(writer.error());
  auto written = kernels::WriteCheckpoint(
      model, params, [&](std::span<const uint8_t> piece) -> kernels::Status {
        if (auto st = (*writer)->Append(piece); !st) return kernels::Fail(st.error().message);
        return {};
      });
  if (!written) return Fail(written.error().message);
  auto hash = (*writer)->Commit();
  if (!hash) return tl::unexpected(hash.error());
  return ToHex(*hash);
}

Result<BlobHash> StoreInitialParams(BlobStore& blobs, const kernels::ModelConfig& model,
                                    uint64_t seed) {
  auto params = kernels::InitialParams(model, seed);
  if (!params) return Fail("model: " + params.error().message);
  return StoreCheckpoint(blobs, model, *params);
}

}  // namespace plume::scheduler
