// A task's input blobs read on the task's own thread, not the agent's loop. A GPT-2 124M
// checkpoint or round-parameter blob is 475 MiB: reading, hashing and copying it on the loop
// silences the heartbeats for seconds, past the scheduler's lease, and the task is lost. So the
// loop checks what needs no blob (data grants, a segment replay's chains) and fails the task at
// once when that is wrong, and these works read the blobs when they start; a blob that cannot be
// read then fails the task from its thread.
#pragma once

#include <optional>

#include "dispute_work.h"
#include "plume/protocol/blob_store.h"
#include "task_work.h"

namespace plume::agent {

// A training task's blobs; nullopt: none (round 0 has no parameters, evaluation is optional,
// link 0 of a segment replay has no start state).
struct TrainBlobs {
  std::optional<Hash256> round_params, data, eval, start_state;
};

// The training work (with `segment`, the replay of one segment of a disputed task, whose train
// part is `task`): reads `blobs` from `store` into the task, then runs MakeTrainWork or
// MakeSegmentWork. `store` must outlive the work; its Get is thread-safe.
WorkFn TrainWorkReadingInputs(BlobStore* store, TrainBlobs blobs, TrainTask task,
                              std::optional<SegmentTask> segment, DeviceChoice device);

// The inference work: reads the checkpoint blob, then runs MakeInferWork.
WorkFn InferWorkReadingCheckpoint(BlobStore* store, Hash256 checkpoint, InferTask task,
                                  DeviceChoice device);

}  // namespace plume::agent
