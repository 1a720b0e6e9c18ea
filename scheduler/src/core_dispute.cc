// Scheduler core: cheap disputes on commitment chains (verify/dispute.h). When a training audit
// finds two different outputs and both runs sent their chains, the first link where the chains
// part names one segment of the task; both runs agreed on the state before it. A referee (a
// third provider of the class) replays that segment only, from the round's parameters for link 0
// or, for a later link, from the state behind the agreed link, which an export run fetches from
// a disputant that kept it (the original's node first, then the auditor's). The link the referee
// computes convicts the run it does not match (verify::Judge), through the same path as a full
// referee (Conclude). A chain of the wrong length convicts its sender with no recomputation.
// Anything that cannot proceed (no chains, equal chains, no export, a bad exported state) falls
// back to the full referee of core_audit.cc, so a dispute is never left open for want of a state.
// Inference is simpler (below): each completion is committed to on its own and depends on no
// other, so the prompts whose hashes differ are regenerated alone, with no state to fetch.
#include "core_impl.h"
#include "plume/verify/dispute.h"

namespace plume::scheduler {
namespace {

std::vector<verify::Digest> Chain(const std::vector<std::string>& hex) {
  std::vector<verify::Digest> out;
  out.reserve(hex.size());
  for (const std::string& h : hex) out.push_back(DigestOfHex(h));
  return out;
}

verify::Outcome OutcomeOf(verify::DisputeVerdict d) {
  switch (d) {
    case verify::DisputeVerdict::kAFaulty:
      return verify::Outcome::kOriginalFaulty;
    case verify::DisputeVerdict::kBFaulty:
      return verify::Outcome::kAuditorFaulty;
    default:
      return verify::Outcome::kUndecided;
  }
}

}  // namespace

std::vector<std::string> Core::Impl::KeptCommitments(const Job& job, const Task& t,
                                                     const std::vector<std::string>& c) const {
  // One entry past the most a valid list has keeps an over-long list malformed, and bounded.
  size_t max = 0;
  if (job.spec.kind == JobKind::kTrain) {
    max = t.dispute_link >= 0 ? 1 : static_cast<size_t>(verify::kMaxCommitmentLinks);
  } else {
    max = t.dispute_prompts.empty()
              ? PromptsInShard(job.spec.infer.prompt_count, job.spec.infer.shards, t.shard)
              : t.dispute_prompts.size();
  }
  return {c.begin(), c.begin() + static_cast<long>(std::min(c.size(), max + 1))};
}

void Core::Impl::KeepCommitments(const Job& job, Task& t, const TaskSucceeded& e) {
  t.commitments = KeptCommitments(job, t, e.commitments);
  const bool kept = !t.commitments.empty();
  t.receipt = kept ? e.receipt : std::string();
  t.receipt_signature = kept ? e.receipt_signature : std::string();
}

bool Core::Impl::StartDispute(Task& orig, Task& audit) {
  const Job& job = s.jobs.at(orig.job);
  if (job.spec.kind == JobKind::kInfer) return StartInferDispute(orig, audit);
  if (orig.commitments.empty() || audit.commitments.empty()) {
    return false;
  }
  const int64_t H = job.spec.train.local_steps;
  const verify::DisputePlan plan =
      verify::PlanDispute(H, Chain(orig.commitments), Chain(audit.commitments));
  Verdict& v = VerdictOf(orig);
  if (plan.settled) {
    // Equal chains (the outputs differ after the last link) or two malformed ones: the chains
    // cannot tell, the whole task is re-run.
    if (*plan.settled != verify::DisputeVerdict::kAFaulty &&
        *plan.settled != verify::DisputeVerdict::kBFaulty) {
      return false;
    }
    v.policy = verify::kDisputePolicy;
    v.recomputed_fraction = 0;
    Warn("a commitment chain of the wrong length (" + std::to_string(orig.commitments.size()) +
             " and " + std::to_string(audit.commitments.size()) + " links; a task of " +
             std::to_string(H) + " steps has " + std::to_string(verify::CommitmentLinks(H)) +
             "): decided without recomputing",
         job.id, orig.id);
    Conclude(orig, audit, nullptr, OutcomeOf(*plan.settled));
    return true;
  }
  // Without a third provider, nobody can recompute anything: RefereeInFull says undecided.
  if (!HasPeer(job, audit.kernel_class, {orig.node, audit.node})) return false;
  v.policy = verify::kDisputePolicy;
  v.dispute_link = static_cast<int32_t>(plan.link);
  Info("commitment chains part at link " + std::to_string(plan.link) + " (steps " +
           std::to_string(plan.segment.begin) + ".." + std::to_string(plan.segment.end) + " of " +
           std::to_string(H) + "): one segment is recomputed",
       job.id, orig.id);
  if (plan.link == 0) {
    AddSegmentReferee(orig, audit, 0, {});
  } else {
    AskExport(orig, audit, static_cast<uint32_t>(plan.link));
  }
  return true;
}

void Core::Impl::AskExport(Task& orig, Task& audit, uint32_t link) {
  Task& x = AddAuditTask(orig, AuditRole::kExport, {});
  x.flops = 0;  // not paid: handing back a kept file is part of the disputed run's duty
  x.dispute_link = static_cast<int32_t>(link) - 1;
  x.pinned_node = orig.node;
  x.dispute_source = orig.id;
  Touch(x);
  const Node* n = FindNode(orig.node);
  if (n == nullptr || n->state != NodeState::kActive) {
    ExportFailed(x, "the original's provider is not connected");
  }
}

void Core::Impl::ExportFailed(Task& x, const std::string& why) {
  if (x.state == TaskState::kAssigned) Unlink(x);
  if (x.state == TaskState::kQueued) Dequeue(x);
  Task& orig = s.tasks.at(x.audit_of);
  Task& audit = s.tasks.at(orig.id + Suffix(AuditRole::kAudit));
  const Job& job = s.jobs.at(orig.job);
  Warn("export of the state behind link " + std::to_string(x.dispute_link) + " from " +
           x.pinned_node.substr(0, 16) + " failed: " + why,
       job.id, x.id, x.pinned_node);
  x.excluded.insert(x.pinned_node);
  x.last_error = why;
  x.node.clear();
  Touch(x);
  for (const Task* src : {&orig, &audit}) {
    const Node* n = FindNode(src->node);
    if (x.excluded.contains(src->node) || n == nullptr || n->state != NodeState::kActive) continue;
    x.pinned_node = src->node;
    x.dispute_source = src->id;
    ++x.attempt;
    Enqueue(x, now);
    open_audits.insert(x.id);
    return;
  }
  x.state = TaskState::kDropped;
  x.finished_at_ms = now;
  open_audits.erase(x.id);
  Warn("no disputant can hand over the agreed state: a referee re-runs the whole task", job.id,
       orig.id);
  RefereeInFull(orig, audit);
}

void Core::Impl::OnExportSucceeded(Task& orig, Task& x) {
  // Not paid, never settled: an export is no work of the task's, only evidence.
  x.paid_micro_plume = 0;
  x.settle = SettleState::kUnpaid;
  x.settle_deferred = false;
  Touch(x);
  Info("state behind link " + std::to_string(x.dispute_link) + " exported: " +
           x.output_blob.substr(0, 16),
       x.job, x.id, x.node);
  AddSegmentReferee(orig, s.tasks.at(orig.id + Suffix(AuditRole::kAudit)),
                    static_cast<uint32_t>(x.dispute_link + 1), x.output_blob);
}

void Core::Impl::AddSegmentReferee(Task& orig, Task& audit, uint32_t link,
                                   const BlobHash& start) {
  const Job& job = s.jobs.at(orig.job);
  const std::set<NodeId> both{orig.node, audit.node};
  if (!HasPeer(job, audit.kernel_class, both)) return RefereeInFull(orig, audit);
  const int64_t H = job.spec.train.local_steps;
  const verify::Segment seg = verify::LinkSegment(H, link);
  Task& r = AddAuditTask(orig, AuditRole::kReferee, both);
  r.dispute_link = static_cast<int32_t>(link);
  r.start_state_blob = start;
  // Paid for what it recomputes: the task's FLOPs times the segment's share of its steps (the
  // agent bills the same, task_work.cc BilledFlops).
  r.flops = static_cast<uint64_t>(static_cast<unsigned __int128>(orig.flops) *
                                  static_cast<uint64_t>(seg.steps()) / static_cast<uint64_t>(H));
  Touch(r);
}

void Core::Impl::JudgeSegment(Task& orig, Task& audit, Task& referee) {
  const Job& job = s.jobs.at(orig.job);
  if (job.spec.kind == JobKind::kInfer) return JudgeCompletions(orig, audit, referee);
  const int64_t H = job.spec.train.local_steps;
  const auto link = static_cast<size_t>(referee.dispute_link);
  const auto a = Chain(orig.commitments), b = Chain(audit.commitments);
  Verdict& v = VerdictOf(orig);
  v.referee_node = referee.node;
  v.referee_output = referee.output_blob;
  v.dispute_link = referee.dispute_link;
  v.recomputed_fraction = static_cast<double>(verify::LinkSegment(H, link).steps()) /
                          static_cast<double>(H);
  // A referee that sent no single link decides nothing: nobody is convicted on its word.
  const verify::DisputeVerdict d =
      referee.commitments.size() == 1 && link < a.size() && link < b.size()
          ? verify::Judge(DigestOfHex(referee.commitments[0]), a[link], b[link])
          : verify::DisputeVerdict::kBothFaulty;
  Conclude(orig, audit, &referee, OutcomeOf(d));
}

void Core::Impl::SegmentStartFailed(Task& referee, const std::string& why) {
  Unlink(referee);
  referee.state = TaskState::kDropped;
  referee.finished_at_ms = now;
  referee.last_error = why;
  referee.node.clear();
  open_audits.erase(referee.id);
  Touch(referee);
  Task& orig = s.tasks.at(referee.audit_of);
  Task* x = FindTask(orig.id + Suffix(AuditRole::kExport));
  if (x == nullptr) return RefereeInFull(orig, s.tasks.at(orig.id + Suffix(AuditRole::kAudit)));
  // The state came from x's provider: ask the other disputant (or re-run the whole task).
  ExportFailed(*x, "the referee could not replay from it: " + why);
}

// ---- inference ----------------------------------------------------------------------------
// A shard's two runs committed to one hash per completion. Where the lists differ names the
// prompts to regenerate; every other prompt both runs agree on. The referee regenerates only
// those (InferParams.promptIndices), and its hashes convict the run they do not match.

bool Core::Impl::StartInferDispute(Task& orig, Task& audit) {
  const Job& job = s.jobs.at(orig.job);
  // A shard too large to commit to per completion, or a run that sent no list: the whole shard
  // is re-run (a run that leaves its list out only makes its own dispute dearer).
  if (orig.commitments.empty() || audit.commitments.empty()) return false;
  const uint32_t n = PromptsInShard(job.spec.infer.prompt_count, job.spec.infer.shards, orig.shard);
  const verify::InferDisputePlan plan =
      verify::PlanInferDispute(n, Chain(orig.commitments), Chain(audit.commitments));
  Verdict& v = VerdictOf(orig);
  if (plan.settled) {
    if (*plan.settled != verify::DisputeVerdict::kAFaulty &&
        *plan.settled != verify::DisputeVerdict::kBFaulty) {
      return false;  // equal lists (the outputs differ elsewhere) or two malformed ones
    }
    v.policy = verify::kDisputePolicy;
    v.recomputed_fraction = 0;
    Warn("a completion list of the wrong length (" + std::to_string(orig.commitments.size()) +
             " and " + std::to_string(audit.commitments.size()) + " hashes for a shard of " +
             std::to_string(n) + " prompts): decided without recomputing",
         job.id, orig.id);
    Conclude(orig, audit, nullptr, OutcomeOf(*plan.settled));
    return true;
  }
  // Every completion differs: narrowing saves nothing; the full referee decides on the outputs.
  if (plan.prompts.size() >= n) return false;
  const std::set<NodeId> both{orig.node, audit.node};
  if (!HasPeer(job, audit.kernel_class, both)) return false;
  v.policy = verify::kDisputePolicy;
  v.dispute_link = static_cast<int32_t>(plan.prompts.front());
  v.recomputed_fraction = plan.fraction;
  Info("completion hashes differ at " + std::to_string(plan.prompts.size()) + " of " +
           std::to_string(n) + " prompts (first: position " +
           std::to_string(plan.prompts.front()) + "): only those are regenerated",
       job.id, orig.id);
  Task& r = AddAuditTask(orig, AuditRole::kReferee, both);
  r.dispute_link = static_cast<int32_t>(plan.prompts.front());
  r.dispute_prompts = plan.prompts;
  // Paid for what it regenerates (the agent bills the prompts it is sent the same way).
  const uint64_t first = ShardFirstPrompt(job.spec.infer, orig.shard);
  std::vector<uint64_t> global;
  for (uint32_t p : plan.prompts) global.push_back(first + p);
  r.flops = InferPromptsFlops(job.spec, global);
  Touch(r);
  return true;
}

void Core::Impl::JudgeCompletions(Task& orig, Task& audit, Task& referee) {
  const Job& job = s.jobs.at(orig.job);
  const uint32_t n = PromptsInShard(job.spec.infer.prompt_count, job.spec.infer.shards, orig.shard);
  Verdict& v = VerdictOf(orig);
  v.referee_node = referee.node;
  v.referee_output = referee.output_blob;
  v.dispute_link = referee.dispute_link;
  v.recomputed_fraction = n == 0 ? 1
                                 : static_cast<double>(referee.dispute_prompts.size()) /
                                       static_cast<double>(n);
  // A referee whose list is not one hash per regenerated prompt convicts nobody.
  const verify::DisputeVerdict d =
      verify::JudgeCompletions(referee.dispute_prompts, Chain(referee.commitments),
                               Chain(orig.commitments), Chain(audit.commitments));
  Conclude(orig, audit, &referee, OutcomeOf(d));
}

}  // namespace plume::scheduler
