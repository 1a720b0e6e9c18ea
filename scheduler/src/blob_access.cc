// The blob access rule of blob_access.h.
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

// Everything a granted job of the key is made of or made: what `plume fetch` and `plume audit`
// download.
bool IsOfGrantedJob(const State& s, const Job& j, const BlobHash& blob) {
  if (!j.escrow_held) return false;
  if (IsInputOf(j, blob) || blob == j.spec.initial_params_blob || Contains(j.outputs, blob)) {
    return true;
  }
  for (auto r = s.rounds.lower_bound({j.id, 0}); r != s.rounds.end() && r->first.first == j.id;
       ++r) {
    if (blob == r->second.params_in || blob == r->second.params_out) return true;
  }
  for (auto t = s.tasks.lower_bound(j.id + "/"); t != s.tasks.end() && t->second.job == j.id;
       ++t) {
    if (blob == t->second.output_blob) return true;
  }
  return false;
}

}  // namespace

bool MayUseBlob(const State& s, const ClientId& who, const BlobHash& blob) {
  if (blob.empty() || who.empty()) return false;
  if (auto u = s.blob_uploaders.find(blob); u != s.blob_uploaders.end() && u->second.contains(who)) {
    return true;
  }
  for (const auto& [id, j] : s.jobs) {
    if (j.owner == who && IsOfGrantedJob(s, j, blob)) return true;
  }
  return false;
}

bool MayReadBlob(const State& s, const std::map<BlobHash, JobId>& derived, const ClientId& who,
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
  return MayUseBlob(s, who, blob);
}

}  // namespace plume::scheduler
