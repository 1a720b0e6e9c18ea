// See task_inputs.h.
#include "task_inputs.h"

#include <memory>
#include <string>
#include <tuple>
#include <utility>

namespace plume::agent {
namespace {

// The bytes of `hash`, or none for no blob.
Result<std::vector<uint8_t>> Read(BlobStore& store, const std::optional<Hash256>& hash,
                                  const char* what) {
  if (!hash) return std::vector<uint8_t>{};
  auto bytes = store.Get(*hash);
  if (!bytes) return Fail(std::string(what) + " blob unreadable: " + bytes.error().message);
  std::vector<uint8_t> out(bytes->begin(), bytes->end());
  return out;
}

}  // namespace

WorkFn TrainWorkReadingInputs(BlobStore* store, TrainBlobs blobs, TrainTask task,
                              std::optional<SegmentTask> segment, DeviceChoice device) {
  auto shared = std::make_shared<TrainTask>(std::move(task));
  auto shape = std::make_shared<std::optional<SegmentTask>>(std::move(segment));
  return [store, blobs, shared, shape, device](
             const ProgressFn& progress, const std::atomic<bool>& stop) -> Result<TaskOutput> {
    TrainTask t = *shared;
    for (auto [hash, out, what] :
         {std::tuple{&blobs.round_params, &t.round_params, "round parameters"},
          std::tuple{&blobs.data, &t.data, "data shard"},
          std::tuple{&blobs.eval, &t.eval, "evaluation tokens"}}) {
      auto bytes = Read(*store, *hash, what);
      if (!bytes) return tl::unexpected(bytes.error());
      *out = std::move(*bytes);
    }
    if (!shape->has_value()) return MakeTrainWork(std::move(t), device)(progress, stop);
    auto start = Read(*store, blobs.start_state, "segment start state");
    if (!start) return tl::unexpected(start.error());
    auto seg = SegmentWithInputs(**shape, std::move(t), std::move(*start));
    if (!seg) return tl::unexpected(seg.error());
    return MakeSegmentWork(std::move(*seg), device)(progress, stop);
  };
}

WorkFn InferWorkReadingCheckpoint(BlobStore* store, Hash256 checkpoint, InferTask task,
                                  DeviceChoice device) {
  auto shared = std::make_shared<InferTask>(std::move(task));
  return [store, checkpoint, shared, device](const ProgressFn& progress,
                                             const std::atomic<bool>& stop) -> Result<TaskOutput> {
    auto bytes = store->Get(checkpoint);
    if (!bytes) return Fail("checkpoint blob unreadable: " + bytes.error().message);
    InferTask loaded = *shared;
    loaded.checkpoint = std::move(*bytes);
    return MakeInferWork(std::move(loaded), device)(progress, stop);
  };
}

}  // namespace plume::agent
