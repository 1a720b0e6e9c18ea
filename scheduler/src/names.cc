// Names of the scheduler's enums, as written to logs, the database and status replies.
#include "plume/scheduler/types.h"

namespace plume::scheduler {

const char* Name(Backend b) { return b == Backend::kCuda ? "cuda" : "cpu"; }

const char* Name(NodeState s) {
  switch (s) {
    case NodeState::kActive: return "active";
    case NodeState::kDraining: return "draining";
    case NodeState::kLost: return "lost";
    case NodeState::kGone: return "gone";
  }
  return "?";
}

const char* Name(JobKind k) { return k == JobKind::kInfer ? "infer" : "train"; }

const char* Name(JobState s) {
  switch (s) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kSucceeded: return "succeeded";
    case JobState::kFailed: return "failed";
    case JobState::kCancelled: return "cancelled";
  }
  return "?";
}

const char* Name(TaskKind k) { return k == TaskKind::kInferShard ? "infer_shard" : "train_worker"; }

const char* Name(TaskState s) {
  switch (s) {
    case TaskState::kQueued: return "queued";
    case TaskState::kAssigned: return "assigned";
    case TaskState::kSucceeded: return "succeeded";
    case TaskState::kFailed: return "failed";
    case TaskState::kCancelled: return "cancelled";
    case TaskState::kDropped: return "dropped";
  }
  return "?";
}

const char* Name(RoundState s) {
  switch (s) {
    case RoundState::kRunning: return "running";
    case RoundState::kAggregating: return "aggregating";
    case RoundState::kDone: return "done";
  }
  return "?";
}

const char* Name(LedgerOpKind k) {
  switch (k) {
    case LedgerOpKind::kHold: return "hold";
    case LedgerOpKind::kSettle: return "settle";
    case LedgerOpKind::kRelease: return "release";
    case LedgerOpKind::kSlash: return "slash";
    case LedgerOpKind::kCheckpoint: return "checkpoint";
    case LedgerOpKind::kVerdict: return "verdict";
    case LedgerOpKind::kReceipt: return "receipt";
  }
  return "?";
}

const char* Name(SettleState s) {
  switch (s) {
    case SettleState::kNone: return "none";
    case SettleState::kUnpaid: return "unpaid";
    case SettleState::kKept: return "kept";
    case SettleState::kApplied: return "applied";
    case SettleState::kRefused: return "refused";
  }
  return "?";
}

const char* Name(AuditRole r) {
  switch (r) {
    case AuditRole::kNone: return "task";
    case AuditRole::kAudit: return "audit";
    case AuditRole::kReferee: return "referee";
    case AuditRole::kExport: return "export";
  }
  return "?";
}

const char* Name(AuditStatus s) {
  switch (s) {
    case AuditStatus::kNone: return "not audited";
    case AuditStatus::kPending: return "audit pending";
    case AuditStatus::kMatched: return "matched";
    case AuditStatus::kDisputed: return "disputed";
    case AuditStatus::kOriginalFaulty: return "original proven faulty";
    case AuditStatus::kAuditorFaulty: return "auditor proven faulty";
    case AuditStatus::kUndecided: return "undecided";
    case AuditStatus::kNoPeer: return "unaudited: no peer";
    case AuditStatus::kNoReserve: return "unaudited: verification reserve spent";
  }
  return "?";
}

}  // namespace plume::scheduler
