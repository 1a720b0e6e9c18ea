// Blob retention: which blobs of the scheduler's store may be deleted, as pure functions of its
// state (no I/O, no clock: the reactor passes the time and does the deleting).
//
// Without it every dataset, round checkpoint, delta, output and evidence blob stays for ever and
// the disk fills until the scheduler cannot save a turn. The rule ties a blob to the jobs that use
// it, and a blob no job uses to the time it was stored:
//
//   - a blob a job uses is kept while the job runs, while any task of the job is not finished
//     (audits and referees outlive their job), and for `finished_job_ms` after the job finished
//     (its owner's time to `plume fetch` and `plume audit` it) and after its last verdict;
//   - a blob no job uses (an upload not named in a submit yet, a result of a task that was
//     replaced) is kept for `unused_blob_ms` after it was last stored, so a team that uploads its
//     data and then submits, and an agent whose result is in flight, never lose it.
//
// What goes is gone: `plume fetch` and `plume audit` of a job past its retention say which blob
// is missing. An operator who must let third parties recompute pay for longer raises
// finished_job_ms (docs/operators.md).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "plume/scheduler/limits.h"
#include "plume/scheduler/types.h"

namespace plume::scheduler {

struct RetentionPolicy {
  int64_t finished_job_ms = kBlobRetentionFinishedJobMsDefault;
  int64_t unused_blob_ms = kBlobRetentionUnusedMsDefault;
};

// Every blob the state still needs at `now_ms` (the core's clock, as Job::finished_at_ms) under
// `policy`: the blobs of each job kept by the
// rule above (inputs, initial and current parameters, outputs, each round's parameters, each
// task's input, output and dispute start state, each verdict's runs and evidence blob), plus `derived` blobs (the
// outputs the scheduler joined for `plume fetch`) of those jobs. O(jobs + rounds + tasks +
// verdicts).
std::unordered_set<BlobHash> BlobsInUse(const State& s, int64_t now_ms,
                                        const RetentionPolicy& policy,
                                        const std::map<BlobHash, JobId>& derived);

struct StoredBlob {
  BlobHash hash;
  int64_t stored_at_ms = 0;  // Unix ms of the last store of these bytes
};

// Of `stored`, the blobs to delete at `now_unix_ms` (the store's clock: Unix time, as
// StoredBlob::stored_at_ms): not in use, and stored at least unused_blob_ms
// ago. At most `max` of them, oldest first, so that one sweep's unlinks stay short.
std::vector<BlobHash> BlobsToDelete(std::span<const StoredBlob> stored,
                                    const std::unordered_set<BlobHash>& in_use,
                                    int64_t now_unix_ms, const RetentionPolicy& policy,
                                    size_t max);

// Momentum files (momentum/<job>.r<round>.hf, and the older layout without ".hf") to delete, by
// file name: those of jobs the state no longer has or that finished (no outer step will read
// them again), and of rounds before job.round - 1 (the round in progress reads only the one
// before it; re-aggregating it after a crash reads the same one). Names of another form are
// never chosen.
std::vector<std::string> MomentumToDelete(const State& s, std::span<const std::string> names);

}  // namespace plume::scheduler
