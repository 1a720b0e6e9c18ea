// Private: the DiLoCo outer step streamed over checkpoint blobs, so that finishing a round holds
// no model-sized buffer (security review F14). The math is OuterStep's: the same out-of-line
// AccumulateDelta and ApplyOuterStep (plume/scheduler/outer_step.h), run on pieces of at most
// kernels::kCheckpointPieceFloats parameters instead of the whole model.
//
// Pieces are taken in the checkpoint's data order (kernels::CheckpointTensors: Hugging Face
// names and shapes, Conv1D weights transposed), not in the kernels' parameter layout: the step is
// elementwise, so the order changes no bit, and in this order each piece of every input is one
// contiguous read and each piece of the output is the next bytes of its checkpoint. The stored
// checkpoint is therefore byte for byte SaveCheckpointBytes(model, OuterStep::Finish(...).params).
// The momentum file is kept in the same order: raw little-endian floats, NumRealParams() of them
// (wte's padding rows, always zero, are left out).
//
// Memory: one piece of the weighted sum (8 bytes a parameter), one input piece, the round's
// parameters and m_{r-1} for the piece, the two output pieces, and one header per input: about
// 7 MiB whatever the model's size. The code it replaced held the round's parameters, the sum, each
// delta twice while decoding it, m_{r-1} and both results: about 24 bytes a parameter.
//
// Inputs are F32 checkpoints holding exactly the model's tensors (what the scheduler writes and
// what the result screen admits), each read at the offsets its own header gives, so a delta whose
// tensors are stored in another order is read correctly. Every input blob is hashed before it is
// used (as BlobStore::Get would), streamed. Thread: the offload worker; touches only the blob
// store (thread-safe) and the two momentum paths it is given.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "plume/kernels/config.h"
#include "plume/protocol/blob_store.h"
#include "plume/scheduler/types.h"

namespace plume::scheduler {

struct StreamedRound {
  kernels::ModelConfig model;
  BlobHash params;                // theta_r, the round's starting parameters
  std::vector<BlobHash> deltas;   // in worker order: the sum is accumulated in this order
  std::vector<uint64_t> weights;  // one per delta (tokens trained)
  std::filesystem::path momentum_prev;  // m_{r-1} in checkpoint order; empty: round 0 (zeros)
  std::filesystem::path momentum_out;   // m_r, written durably before this returns
  double outer_lr = 0;
  double outer_momentum = 0;
};

// theta_{r+1} stored as a checkpoint blob; its hash. Any unreadable, corrupt or misshapen input
// is an error naming it, and then neither the blob nor momentum_out is written.
Result<BlobHash> StreamOuterStep(BlobStore& blobs, const StreamedRound& round);

// Writes `flat` (a momentum in the kernels' parameter layout, NumParams() floats: what rounds
// stored before momentum was streamed) to `path` in checkpoint order, durably.
Status WriteMomentumInCheckpointOrder(const kernels::ModelConfig& model,
                                      const std::vector<float>& flat,
                                      const std::filesystem::path& path);

}  // namespace plume::scheduler
