// Dispute evidence from the scheduler's state (dispute_evidence.h). Everything it reads is
// persisted (task_dispute rows, the verdict, the job spec), so the bytes rebuilt after a restart
// are the bytes the verdict's hash names.
#include "plume/scheduler/dispute_evidence.h"

#include "core_impl.h"
#include "plume/verify/dispute.h"

namespace plume::scheduler {
namespace {

const Task* Succeeded(const State& s, const TaskId& id) {
  auto it = s.tasks.find(id);
  return it != s.tasks.end() && it->second.state == TaskState::kSucceeded ? &it->second : nullptr;
}

verify::EvidenceRun RunOf(const Task& t) {
  verify::EvidenceRun r;
  r.commitments.reserve(t.commitments.size());
  for (const std::string& hex : t.commitments) r.commitments.push_back(DigestOfHex(hex));
  r.receipt = t.receipt;
  r.receipt_signature = t.receipt_signature;
  return r;
}

}  // namespace

std::optional<verify::DisputeEvidence> DisputeEvidenceOf(const State& s, const TaskId& orig_id) {
  auto v = s.verdicts.find(orig_id);
  if (v == s.verdicts.end() || v->second.policy != verify::kDisputePolicy) return std::nullopt;
  const Task* orig = Succeeded(s, orig_id);
  const Task* audit = Succeeded(s, orig_id + Suffix(AuditRole::kAudit));
  if (orig == nullptr || audit == nullptr || orig->commitments.empty() ||
      audit->commitments.empty()) {
    return std::nullopt;
  }
  auto job = s.jobs.find(orig->job);
  if (job == s.jobs.end()) return std::nullopt;
  const JobSpec& spec = job->second.spec;
  verify::DisputeEvidence e;
  e.task = orig_id;
  if (spec.kind == JobKind::kTrain) {
    e.kind = verify::EvidenceKind::kTrain;
    e.size = static_cast<uint64_t>(spec.train.local_steps);
  } else {
    e.kind = verify::EvidenceKind::kInfer;
    e.size = PromptsInShard(spec.infer.prompt_count, spec.infer.shards, orig->shard);
  }
  e.runs.push_back(RunOf(*orig));
  e.runs.push_back(RunOf(*audit));
  if (const Task* referee = Succeeded(s, orig_id + Suffix(AuditRole::kReferee))) {
    e.runs.push_back(RunOf(*referee));
  }
  return e;
}

}  // namespace plume::scheduler
