// Private: the reactor's state and handlers. reactor.cc has the loop, dispatch and the acting on
// core actions; reactor_agents.cc agent messages; reactor_jobs.cc client messages and job specs;
// reactor_fetch.cc the node listing and fetch; reactor_tasks.cc task assignment messages, results
// and the blob access policy; reactor_aggregate.cc the DiLoCo outer step; reactor_pay.cc the
// ledger requests in per-job order and the result acks that wait for their settle;
// reactor_ledger.cc the ledger messages; reactor_stake.cc stake between the ledger and the core.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "plume/kernels/job_spec.h"
#include "plume/protocol/blob_service.h"
#include "plume/protocol/blob_store.h"
#include "plume/protocol/message.h"
#include "plume/protocol/transport.h"
#include "plume/scheduler/blob_access.h"
#include "plume/scheduler/limits.h"
#include "plume/scheduler/reactor.h"
#include "reactor_offload.h"
#include "receipt_pool.h"
#include "upload_quota.h"

namespace plume::scheduler {

// A peer's floating-point FLOP count as an integer: NaN, negative and infinite values would make
// the cast undefined, so they become 0 and the largest count the ledger's arithmetic takes.
inline uint64_t FlopsFromPeer(double flops) {
  constexpr double kMax = 1e18;  // far above any task; well inside uint64_t
  if (!(flops > 0)) return 0;
  return flops >= kMax ? static_cast<uint64_t>(kMax) : static_cast<uint64_t>(flops);
}

inline wire::JobState WireState(JobState s) {
  switch (s) {
    case JobState::kQueued: return wire::JobState::QUEUED;
    case JobState::kRunning: return wire::JobState::RUNNING;
    case JobState::kSucceeded: return wire::JobState::SUCCEEDED;
    case JobState::kFailed: return wire::JobState::FAILED;
    case JobState::kCancelled: return wire::JobState::CANCELLED;
  }
  return wire::JobState::QUEUED;
}

// What the reactor keeps per job beside the core's record: the parsed spec (the runner's
// hyper-parameters) and the prompts. Rebuilt from the stored spec text after a restart.
struct JobExtra {
  kernels::JobSpec spec;
  std::vector<std::string> prompts;
  Hash256 spec_hash{};
  BlobHash val_blob;
  std::vector<BlobHash> tokenizer_blobs;  // infer: infer_tokenizer.h, in spec order
  // infer jobs stored before InferParams::token_bytes_max was kept: found on the offload worker
  // after a restart (reactor_screen.cc LearnTokenBytesMax).
  std::optional<uint64_t> token_bytes_max;
  bool token_bytes_pending = false;
};

// A TaskResultAck waiting for its settle: the ack reports pay only once the ledger applied it.
struct PendingAck {
  PeerId peer;
  uint64_t request_id = 0;
  uint64_t task_wire_id = 0;
  uint32_t attempt = 0;
};

// What an agent may still upload outside its quota for one assigned (task, attempt).
struct ResultAllowance {
  NodeId node;
  uint64_t bound_bytes = 0;  // the most the task can produce (the screens' bound)
  uint64_t used_bytes = 0;   // completed uploads charged to it
  uint32_t blobs = 0;        // of kResultBlobsPerAttemptMax
};

// A client waiting for offloaded work: its reply is sent when the work is done.
struct Waiter {
  PeerId peer;
  uint64_t request_id = 0;
};
// Clients that may wait on one job's submit or fetch; past this they are told to retry.
inline constexpr size_t kWaitersPerJobMax = 16;

struct Reactor::Impl {
  Impl(Identity id, ReactorOptions o, Store s, Core c)
      : identity(std::move(id)), opt(std::move(o)), store(std::move(s)), core(std::move(c)),
        upload_quota(opt.upload_quota_bytes_per_day, 24 * 3'600'000, kUploadChargeBytesMin),
        offload(std::make_unique<Offload>(opt.before_offloaded_work)),
        receipts(std::make_unique<ReceiptPool>(DefaultVerifierThreads())) {}

  Identity identity;
  ReactorOptions opt;
  Store store;
  Core core;
  std::unique_ptr<BlobStore> blobs;
  std::unique_ptr<BlobService> blob_service;
  int64_t next_upload_sweep_ms = 0;  // CloseIdleUploads once a minute
  int64_t next_retention_sweep_ms = 0;
  std::unique_ptr<TransportServer> server;
  std::chrono::steady_clock::time_point started;
  int64_t clock_base_ms = 0;
  int64_t next_tick_ms = 0;

  std::map<NodeId, PeerId> peers;             // latest connection of each agent
  std::map<JobId, JobExtra> extras;           // cache; see JobExtra
  std::map<BlobHash, JobId> joined_outputs;   // infer outputs.jsonl blobs served to owners
  std::map<JobId, BlobHash> joined_by_job;    // the same, by job: joined once per job
  std::map<JobId, std::vector<Waiter>> fetch_waiters;   // joins under way (reactor_fetch.cc)
  std::map<JobId, std::vector<Waiter>> submit_waiters;  // initial parameters under way
  BlobJobIndex blob_index;                    // blob -> owner -> uses (blob_access.h)
  std::vector<Action> actions;                // decided this turn, acted on after the save
  std::vector<std::pair<PeerId, std::string>> replies;  // sent after the save
  std::map<PeerId, uint64_t> pending_reply_bytes;        // of `replies`, per peer
  uint64_t pending_reply_total = 0;
  std::deque<Event> internal;                 // results of acting, fed in the next turn
  std::set<NodeId> reregister;                // agents the core did not know this turn
  std::vector<LedgerOp> ledger_retry;         // the ledger hook failed: tried again next tick
  // Result acks held until their settle is applied or refused (reactor_pay.cc), by settle id.
  // At most one per task; a resent result replaces its entry.
  std::map<std::string, PendingAck> pay_acks;
  UploadQuota upload_quota;                   // blob bytes per key per day (CanWrite)
  // Result uploads outside the quota, per assigned (task, attempt); dropped once a minute for
  // attempts that ended, so bounded by the tasks assigned in that time.
  std::map<std::pair<TaskId, uint32_t>, ResultAllowance> result_allowances;
  // Heavy work off this thread (reactor_offload.h); then receipt checks (hardware threads - 1
  // workers, at least 1). Declared last: destroyed first, so no worker outlives what it uses.
  std::unique_ptr<Offload> offload;
  std::unique_ptr<ReceiptPool> receipts;

  int64_t NowMs() const;
  std::vector<Action> Feed(const Event& e);  // Handle + keep the actions for this turn
  void Reply(const PeerId& peer, const MessageBuilder& m);
  void ReplyError(const PeerId& peer, uint64_t rid, wire::ErrorCode code, const std::string& why);
  MessageBuilder NewMessage(uint64_t rid) { return MessageBuilder(rid, identity.public_key()); }
  void Dispatch(Incoming& in);
  Status Persist();
  void Act();
  // Stores a dispute/1 verdict's evidence blob when missing (reactor_dispute.cc).
  void WriteEvidence(const Verdict& v);

  // ---- agent messages (reactor_agents.cc) ----
  void OnRegister(Incoming& in);
  void OnHeartbeat(Incoming& in);
  void OnDrain(Incoming& in);
  void OnDeregister(Incoming& in);
  void OnTaskResult(Incoming& in);
  void OnTaskFailed(Incoming& in);
  void OnResultVerified(const ResultToVerify& r);  // reactor_tasks.cc
  // TaskResultAck; `paid` only for a result accepted now (a re-ack carries 0).
  void ReplyResultAck(const PeerId& peer, uint64_t rid, uint64_t task_wire_id, uint32_t attempt,
                      bool accepted, const std::string& why, MicroPlume paid = 0);
  Result<bool> KeepSettleReceipt(const Task& t, const ResultToVerify& r);  // reactor_tasks.cc
  ScreenFn ScreenFor(const Task& t, const Hash256& output);          // reactor_screen.cc
  // Results screened and refused since start, by reason (the metrics read them).
  uint64_t results_screened = 0;
  std::map<std::string, uint64_t> results_refused;

  // ---- pay (reactor_pay.cc) ----
  // Acks an accepted result: now when nothing is to be paid, else once its settle is decided.
  void AckAccepted(const ResultToVerify& r, const Task& t);
  // Passes a ledger request to the hook, behind any deferred request of the same job.
  void ApplyLedger(const LedgerOp& op);
  void AckSettled(const LedgerOp& op, bool applied, const std::string& refusal);

  // ---- client messages (reactor_jobs.cc) ----
  void OnSubmitJob(Incoming& in);
  void OnQuoteJob(Incoming& in);
  static constexpr std::string_view kDatasetRefPrefix = "dataset:";
  // A blob ref naming a published dataset ("dataset:<id>"; reactor_data.cc): the dataset's
  // blob and rate when the terms let `owner` train on it, else why not (for the client).
  struct UsedDataset {
    BlobHash blob;
    std::string id;
    uint64_t royalty_micro_plume_per_mtoken = 0;
  };
  Result<UsedDataset> ResolveDataset(const ClientId& owner, const std::string& ref_name,
                                     const Hash256& ref_hash, bool train);
  Result<std::pair<JobSpec, JobExtra>> PrepareSpec(const ClientId& owner, const std::string& toml,
                                                   capnp::List<wire::BlobRef>::Reader refs);
  // An infer spec's BPE prompt count (infer_tokenizer.h CountsOnWorker) on the offload worker,
  // then `next` on this thread with the counted spec or the submitter's error; other specs go to
  // `next` at once. False (nothing queued) when the worker holds too much client work.
  using Counted = std::function<void(Result<std::pair<JobSpec, JobExtra>>)>;
  bool CountThen(JobSpec spec, JobExtra x, Counted next);
  void ReplyQuote(const Waiter& w, const JobSpec& spec);
  // The checks of a submit that need its counted spec, then its model's initialisation (train)
  // or FinishSubmit; every waiter is answered (reactor_submit.cc).
  struct HeldEscrow {
    uint64_t micro_plume = 0;
    std::vector<uint8_t> signature;
  };
  void AdmitSubmit(const JobId& id, const ClientId& owner, JobSpec spec, JobExtra x,
                   const HeldEscrow& hold, std::vector<Waiter> waiters);
  void OnJobStatus(Incoming& in);
  void OnListJobs(Incoming& in);
  void OnCancelJob(Incoming& in);
  void OnListNodes(Incoming& in);
  void OnFetchJob(Incoming& in);
  // The FetchJobReply of a job; `joined`: the infer outputs.jsonl blob (empty for train).
  void ReplyFetch(const Waiter& w, const JobId& id, const BlobHash& joined);
  void FillProvenance(const Job& job, wire::FetchJobReply::Builder reply);

  // ---- jobs, tasks, blobs ----
  Result<JobExtra*> Extra(const Job& job);
  Result<JobSpec> ToCoreSpec(const kernels::JobSpec& k, const JobExtra& x,
                             const std::map<std::string, BlobHash>& named);
  // The second half of a submit, once its initial parameters (train) are stored: the core
  // takes the job, and every client waiting on it is answered (reactor_submit.cc).
  void FinishSubmit(const JobId& id, const ClientId& owner, const JobSpec& spec, JobExtra x,
                    const std::vector<Waiter>& waiters);
  void ReplySubmitAck(const Waiter& w, const JobId& id, MicroPlume escrow);
  void SendAssign(const SendTaskAssign& a);
  void SendCancel(const SendTaskCancel& c);
  bool CanRead(const PublicKey& principal, const Hash256& hash);
  bool CanWrite(const PublicKey& principal, const Hash256& hash, uint64_t size_bytes);
  void OnBlobStored(const PublicKey& principal, const Hash256& hash, uint64_t size_bytes);
  ResultAllowance* ResultAllowanceFor(const std::string& principal_hex, uint64_t size_bytes);
  void DropSpentAllowances();
  // Blob retention (retention.h): deletes what no job keeps, and momentum no round reads again.
  void SweepRetention();
  // reactor_screen.cc; nullopt while a stored job's tokenizer bound is still being found.
  std::optional<uint64_t> ResultBytesMax(const Task& t);
  void LearnTokenBytesMax(const JobId& id, JobExtra& x);
  void FillBlobRef(wire::BlobRef::Builder ref, const BlobHash& hex, const std::string& name);
  // The export or segment members of a dispute's run (reactor_dispute.cc); false: not one.
  bool FillDisputeAssign(wire::TaskAssign::Builder t, const Task& task);
  // The data-key grant of a train task on an encrypted dataset (reactor_grant.cc); false: the
  // task must not be sent (no grant can be made, and its agent could not read the data).
  bool FillDataGrant(wire::TaskAssign::Builder t, const Job& job, const SendTaskAssign& a,
                     uint64_t deadline_ms);

  // ---- ledger messages (reactor_ledger.cc): access rules, then the ledger_service hook ----
  void OnLedgerQuery(Incoming& in);
  void OnLedgerSubmit(Incoming& in);  // LedgerSubmit and LedgerMint
  // What `account` (provider:/team:<key>) is owed or owes for results not settled yet.
  MicroPlume PendingPay(const std::string& account) const;
  bool MayReadHistory(const PublicKey& principal, const std::string& account) const;

  // ---- stake (reactor_stake.cc) ----
  // Tells the core `node`'s stake as the ledger has it, when it differs from the core's record.
  void ReportStake(const NodeId& node);
  // Every turn: the nodes whose stake the ledger changed; on a tick, the ledger's tick first.
  void PollStake(bool tick);
  void OnGovRequest(Incoming& in);  // reactor_gov.cc
  void PollGov();

  // ---- DiLoCo outer step (reactor_aggregate.cc) ----
  // Runs the outer step on the offload worker; RoundAggregated (or ...Failed) follows.
  void StartAggregate(const AggregateRound& a);
};

}  // namespace plume::scheduler
