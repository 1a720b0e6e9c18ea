// The DiLoCo outer step as the scheduler ran it before it was streamed (reactor_aggregate.cc
// then), rebuilt from public pieces: every blob read whole (BlobStore::Get) and decoded whole
// (LoadCheckpointBytes), OuterStep on the whole model, m_{r-1} read whole from a file in the
// kernels' parameter layout, StoreCheckpoint. Kept as the reference the memory test
// (outer_step_alloc_test.cc) and bench/scheduler/outer_step_bench.cc measure the streamed step
// against; both check the two give the same blob.
#pragma once

#include <cstring>
#include <filesystem>
#include <vector>

#include "checkpoint_blob.h"
#include "outer_step_stream.h"
#include "plume/kernels/checkpoint.h"
#include "plume/protocol/file_util.h"
#include "plume/scheduler/outer_step.h"

namespace plume::scheduler {

inline std::vector<float> DecodeParams(BlobStore& store, const BlobHash& hex) {
  auto bytes = store.Get(*HashFromHex(hex));
  if (!bytes) return {};
  auto ck = kernels::LoadCheckpointBytes(
      std::span(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()));
  return ck ? std::move(ck->params) : std::vector<float>{};
}

// r.momentum_prev is not read: `flat_momentum_prev` is m_{r-1} in the parameter layout.
inline Result<BlobHash> WholeModelStep(BlobStore& store, const StreamedRound& r,
                                       const std::filesystem::path& flat_momentum_prev) {
  auto theta = DecodeParams(store, r.params);
  OuterStep step(theta.size());
  for (size_t w = 0; w < r.deltas.size(); ++w) {
    if (auto st = step.AddDelta(DecodeParams(store, r.deltas[w]), r.weights[w]); !st) {
      return tl::unexpected(st.error());
    }
  }
  auto bytes = ReadFileBytes(flat_momentum_prev);
  if (!bytes) return tl::unexpected(bytes.error());
  std::vector<float> m_prev(theta.size());
  if (bytes->size() != m_prev.size() * sizeof(float)) return Fail("momentum size");
  std::memcpy(m_prev.data(), bytes->data(), bytes->size());
  auto next = step.Finish(theta, m_prev, r.outer_lr, r.outer_momentum);
  if (!next) return tl::unexpected(next.error());
  return StoreCheckpoint(store, r.model, next->params);
}

}  // namespace plume::scheduler
