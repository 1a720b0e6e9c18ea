// Who may read a blob, and who may name one in a submit: the scheduler's data confidentiality
// rule, as pure functions of its state (no I/O; the reactor asks them before it serves a chunk
// or accepts a spec). Knowing a blob's hash grants nothing: hashes travel in task assignments
// and ledger receipts, so they are not secrets.
//
// A key may USE a blob (name it in a submit or a quote) when
//   - it sent the blob's bytes itself (State::blob_uploaders, recorded by BlobUploaded), or
//   - the blob belongs to one of its own jobs whose escrow hold was granted (Job::escrow_held):
//     the job's inputs, its initial and per-round parameters, its task outputs and final outputs.
//     A job whose hold was refused grants nothing.
// A key may READ a blob when it may use it, or when
//   - it is an input of a task assigned to it now (an agent reads its task's inputs), or
//   - `derived` maps the blob to one of its own granted jobs (outputs the scheduler assembled
//     for `plume fetch`).
#pragma once

#include <map>

#include "plume/scheduler/types.h"

namespace plume::scheduler {

bool MayUseBlob(const State& s, const ClientId& who, const BlobHash& blob);
bool MayReadBlob(const State& s, const std::map<BlobHash, JobId>& derived, const ClientId& who,
                 const BlobHash& blob);

}  // namespace plume::scheduler
