// The blob access rule of blob_access.h, and the index that keeps its cost per check independent
// of the number of jobs.
#include "plume/scheduler/blob_access.h"

#include <algorithm>

namespace plume::scheduler {
namespace {

bool Contains(const std::vector<BlobHash>& v, const BlobHash& blob) {
  return std::find(v.begin(), v.end(), blob) != v.end();
}

// The inputs a task of `job` is given (TaskAssign): round parameters, data, val, checkpoint.
bool IsInputOf(const Job& job, const BlobHash& blob) {
  return Contains(job.spec.data_blobs, blob) || blob == job.spec.infer.checkpoint_blob;
}

// Whether `use` still holds in `s`: the index only ever adds, the state decides.
bool StillUsed(const State& s, const Job& j, const BlobUse& use, const BlobHash& blob) {
  switch (use.where) {
    case BlobUse::Where::kJob:
      return IsInputOf(j, blob) || blob == j.spec.initial_params_blob || Contains(j.outputs, blob);
    case BlobUse::Where::kRound: {
      auto r = s.rounds.find({j.id, use.round});
      return r != s.rounds.end() && (blob == r->second.params_in || blob == r->second.params_out);
    }
    case BlobUse::Where::kTask: {
      auto t = s.tasks.find(use.task);
      return t != s.tasks.end() && t->second.job == j.id && blob == t->second.output_blob;
    }
    case BlobUse::Where::kVerdict: {
      auto v = s.verdicts.find(use.task);
      return v != s.verdicts.end() && v->second.job == j.id && blob == v->second.evidence_blob;
    }
  }
  return false;
}

const std::set<BlobUse> kNoUses;

}  // namespace

void BlobJobIndex::Put(const BlobHash& blob, const ClientId& owner, BlobUse use) {
  if (blob.empty() || owner.empty()) return;
  entries_ += uses_[blob][owner].insert(std::move(use)).second ? 1 : 0;
}

void BlobJobIndex::Add(const Job& j) {
  const BlobUse use{BlobUse::Where::kJob, j.id, 0, {}};
  for (const BlobHash& b : j.spec.data_blobs) Put(b, j.owner, use);
  Put(j.spec.infer.checkpoint_blob, j.owner, use);
  Put(j.spec.initial_params_blob, j.owner, use);
  for (const BlobHash& b : j.outputs) Put(b, j.owner, use);
}

void BlobJobIndex::Add(const State& s, const Round& r) {
  auto j = s.jobs.find(r.job);
  if (j == s.jobs.end()) return;
  const BlobUse use{BlobUse::Where::kRound, r.job, r.round, {}};
  Put(r.params_in, j->second.owner, use);
  Put(r.params_out, j->second.owner, use);
}

void BlobJobIndex::Add(const State& s, const Task& t) {
  auto j = s.jobs.find(t.job);
  if (j == s.jobs.end()) return;
  Put(t.output_blob, j->second.owner, BlobUse{BlobUse::Where::kTask, t.job, 0, t.id});
}

void BlobJobIndex::Add(const State& s, const Verdict& v) {
  auto j = s.jobs.find(v.job);
  if (j == s.jobs.end()) return;
  Put(v.evidence_blob, j->second.owner, BlobUse{BlobUse::Where::kVerdict, v.job, 0, v.task});
}

void BlobJobIndex::AddAll(const State& s) {
  for (const auto& [id, j] : s.jobs) Add(j);
  for (const auto& [key, r] : s.rounds) Add(s, r);
  for (const auto& [id, t] : s.tasks) Add(s, t);
  for (const auto& [id, v] : s.verdicts) Add(s, v);
}

void BlobJobIndex::Note(const State& s, const Dirty& d) {
  for (const Job& j : d.jobs) Add(j);
  for (const Round& r : d.rounds) Add(s, r);
  for (const Task& t : d.tasks) Add(s, t);
  for (const Verdict& v : d.verdicts) Add(s, v);
}

const std::set<BlobUse>& BlobJobIndex::UsesOf(const BlobHash& blob, const ClientId& owner) const {
  auto b = uses_.find(blob);
  if (b == uses_.end()) return kNoUses;
  auto o = b->second.find(owner);
  return o == b->second.end() ? kNoUses : o->second;
}

bool MayUseBlob(const State& s, const BlobJobIndex& index, const ClientId& who,
                const BlobHash& blob) {
  if (blob.empty() || who.empty()) return false;
  if (auto u = s.blob_uploaders.find(blob);
      u != s.blob_uploaders.end() && u->second.contains(who)) {
    return true;
  }
  for (const BlobUse& use : index.UsesOf(blob, who)) {
    auto j = s.jobs.find(use.job);
    if (j != s.jobs.end() && j->second.owner == who && j->second.escrow_held &&
        StillUsed(s, j->second, use, blob)) {
      return true;
    }
  }
  return false;
}

bool MayReadBlob(const State& s, const BlobJobIndex& index,
                 const std::map<BlobHash, JobId>& derived, const ClientId& who,
                 const BlobHash& blob) {
  if (blob.empty() || who.empty()) return false;
  if (auto n = s.nodes.find(who); n != s.nodes.end()) {
    for (const TaskId& id : n->second.tasks) {
      const Task& t = s.tasks.at(id);
      if (blob == t.input_params_blob || blob == t.start_state_blob ||
          IsInputOf(s.jobs.at(t.job), blob)) {
        return true;
      }
    }
  }
  if (auto d = derived.find(blob); d != derived.end()) {
    auto j = s.jobs.find(d->second);
    if (j != s.jobs.end() && j->second.owner == who && j->second.escrow_held) return true;
  }
  return MayUseBlob(s, index, who, blob);
}

}  // namespace plume::scheduler
