// Private: model parameters stored as checkpoint blobs without holding the encoded checkpoint
// (security review F5): the encoder's pieces (kernels WriteCheckpoint) go straight into a
// BlobWriter, hashed as written. A train submit's round-0 parameters (StoreInitialParams) and
// each round's outer step (reactor_aggregate.cc) store their parameters this way. Both run on the
// offload worker; they touch only the blob store.
#pragma once

#include <cstdint>
#include <span>

#include "plume/kernels/config.h"
#include "plume/protocol/blob_store.h"
#include "plume/scheduler/types.h"

namespace plume::scheduler {

// `params` encoded as kernels SaveCheckpointBytes would, stored; the blob's hash.
Result<BlobHash> StoreCheckpoint(BlobStore& blobs, const kernels::ModelConfig& model,
                                 std::span<const float> params);

// The seed's GPT-2 initialisation (kernels InitialParams, what agents and auditors derive too),
// stored. Peak memory: the parameters once (4 bytes each) plus one encoder piece
// (kernels kCheckpointPieceFloats); before, it was four model-sized buffers.
Result<BlobHash> StoreInitialParams(BlobStore& blobs, const kernels::ModelConfig& model,
                                    uint64_t seed);

}  // namespace plume::scheduler
