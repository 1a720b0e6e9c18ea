// Who may read a blob, and who may name one in a submit: the scheduler's data confidentiality
// rule, as pure functions of its state (no I/O; the reactor asks them before it serves a chunk
// or accepts a spec). Knowing a blob's hash grants nothing: hashes travel in task assignments
// and ledger receipts, so they are not secrets.
//
// A key may USE a blob (name it in a submit or a quote) when
//   - it sent the blob's bytes itself (State::blob_uploaders, recorded by BlobUploaded), or
//   - the blob belongs to one of its own jobs whose escrow hold was granted (Job::escrow_held):
//     the job's inputs, its initial and per-round parameters, its task outputs and final outputs,
//     and the evidence blobs of its dispute verdicts (Verdict::evidence_blob, `plume audit`).
//     A job whose hold was refused grants nothing.
// A key may READ a blob when it may use it, or when
//   - it is an input of a task assigned to it now (an agent reads its task's inputs), or
//   - `derived` maps the blob to one of its own granted jobs (outputs the scheduler assembled
//     for `plume fetch`).
//
// Cost: every blobGet chunk asks MayReadBlob, and keys cost nothing, so a check must not grow
// with the number of jobs. BlobJobIndex says which jobs (and where in them) each blob is used,
// by owner; a check looks only at the asker's own uses of that blob and confirms each against
// the state, so an index entry that went stale (a task's output replaced) grants nothing.
#pragma once

#include <map>
#include <set>
#include <string>
#include <unordered_map>

#include "plume/scheduler/core.h"
#include "plume/scheduler/types.h"

namespace plume::scheduler {

// Where a blob is used within a job: the job record itself (inputs, initial parameters, final
// outputs), one round's parameters, one task's output, or the evidence of one task's verdict.
struct BlobUse {
  enum class Where { kJob, kRound, kTask, kVerdict };
  Where where = Where::kJob;
  JobId job;
  uint32_t round = 0;  // kRound
  TaskId task;         // kTask, kVerdict (the original task)
  auto operator<=>(const BlobUse&) const = default;
};

// blob -> owner -> uses. Built from the whole state at start-up (AddAll) and kept in step with
// every saved turn (Note, from the rows the turn changed); entries are only added, and the
// check confirms them against the state. Size: one entry per (blob, job row) in the state.
// Not thread-safe (the reactor thread owns it).
class BlobJobIndex {
 public:
  void AddAll(const State& s);
  void Note(const State& s, const Dirty& d);
  void Add(const Job& j);
  void Add(const State& s, const Round& r);
  void Add(const State& s, const Task& t);
  void Add(const State& s, const Verdict& v);
  // The uses of `blob` in `owner`'s jobs (empty when none).
  const std::set<BlobUse>& UsesOf(const BlobHash& blob, const ClientId& owner) const;
  size_t size() const { return entries_; }

 private:
  void Put(const BlobHash& blob, const ClientId& owner, BlobUse use);
  std::unordered_map<BlobHash, std::map<ClientId, std::set<BlobUse>>> uses_;
  size_t entries_ = 0;
};

bool MayUseBlob(const State& s, const BlobJobIndex& index, const ClientId& who,
                const BlobHash& blob);
bool MayReadBlob(const State& s, const BlobJobIndex& index,
                 const std::map<BlobHash, JobId>& derived, const ClientId& who,
                 const BlobHash& blob);

}  // namespace plume::scheduler
