// Private: the scheduler metrics' families and what the last Observe saw (SchedulerMetrics::Impl),
// shared by metrics.cc (the families' creation and what is derived from the core's state) and
// metrics_hooks.cc (what the reactor, transport and ledger report). See metrics.h.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "plume/scheduler/metrics.h"
#include "plume/scheduler/types.h"
#include "plume/scheduler/work.h"

namespace plume::scheduler {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

struct TaskSeen {
  uint32_t attempt = 0;
  TaskState state = TaskState::kQueued;
  bool settled = false;
};

struct SchedulerMetrics::Impl {
  std::shared_ptr<prometheus::Registry> reg = std::make_shared<prometheus::Registry>();

  Family<Gauge>& agents = BuildGauge().Name("plume_agents").Help(
      "Registered agents by state; lost agents missed their lease and are not yet forgotten.")
      .Register(*reg);
  Family<Gauge>& gpus = BuildGauge().Name("plume_gpus").Help(
      "GPUs on agents that hold a live lease, by model.").Register(*reg);
  Counter& leases_expired = BuildCounter().Name("plume_leases_expired_total").Help(
      "Agent leases that expired because heartbeats stopped.").Register(*reg).Add({});
  Family<Counter>& rejected = BuildCounter().Name("plume_connections_rejected_total").Help(
      "Connections refused by the ZAP handler or the version check, by reason.").Register(*reg);
  Gauge& connections = BuildGauge().Name("plume_connections").Help(
      "Live protocol connections (accepted, handshaking or authenticated).").Register(*reg).Add({});
  Gauge& send_queue = BuildGauge().Name("plume_send_queue_bytes").Help(
      "Bytes queued to peers and not yet taken by the network (bounded per connection and in "
      "total).").Register(*reg).Add({});
  Counter& replies_dropped = BuildCounter().Name("plume_replies_dropped_total").Help(
      "Messages to peers dropped because the peer's send queue was at its byte bound (it does "
      "not read its replies).").Register(*reg).Add({});
  Family<Counter>& malformed = BuildCounter().Name("plume_messages_malformed_total").Help(
      "Messages dropped because they could not be decoded or were not valid in this state, by "
      "reason.").Register(*reg);
  Family<Gauge>& jobs = BuildGauge().Name("plume_jobs").Help(
      "Jobs known to the scheduler by state.").Register(*reg);
  Family<Counter>& jobs_submitted = BuildCounter().Name("plume_jobs_submitted_total").Help(
      "Jobs accepted (escrow held) since start.").Register(*reg);
  Family<Gauge>& tasks = BuildGauge().Name("plume_tasks").Help(
      "Tasks waiting for an agent or running on one.").Register(*reg);
  Family<Counter>& tasks_finished = BuildCounter().Name("plume_tasks_finished_total").Help(
      "Tasks that reached a final state, by kind and outcome.").Register(*reg);
  Histogram& dispatch = BuildHistogram().Name("plume_task_dispatch_latency_seconds").Help(
      "Time from a task becoming runnable to its assignment reaching an agent.").Register(*reg)
      .Add({}, Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300});
  Family<Histogram>& duration = BuildHistogram().Name("plume_task_duration_seconds").Help(
      "Time from assignment to the agent's signed receipt, for finished tasks.").Register(*reg);
  Histogram& round_duration = BuildHistogram().Name("plume_training_round_duration_seconds")
      .Help("Wall time of one DiLoCo round, from the round's start to its averaged update.")
      .Register(*reg).Add({}, LongBuckets());
  Family<Counter>& blob_bytes = BuildCounter().Name("plume_blob_bytes_total").Help(
      "Blob bytes received from or sent to peers.").Register(*reg);
  Histogram& sqlite_commit = BuildHistogram().Name("plume_sqlite_commit_duration_seconds")
      .Help("Latency of one SQLite state commit (WAL).").Register(*reg).Add({}, FsyncBuckets());
  Family<Counter>& verifications = BuildCounter().Name("plume_verifications_total").Help(
      "Results re-computed by a second agent, by outcome. Export 0 until verification exists.")
      .Register(*reg);
  Counter& screened = BuildCounter().Name("plume_verification_screened_total").Help(
      "Results screened (shape, finiteness, bounds, well-formed output) before acceptance.")
      .Register(*reg).Add({});
  Family<Counter>& refused = BuildCounter().Name("plume_verification_refused_total").Help(
      "Results refused by the screens, never paid, by reason.").Register(*reg);
  // Replay audits (docs/verification.md), advanced from CountAudits over the core's state.
  Counter& audited = AuditCounter("audited", "Committed results re-run by another provider.");
  Counter& matched = AuditCounter("matched", "Audits whose output hash matched the result.");
  Counter& mismatched = AuditCounter("mismatched", "Audits whose output hash differed.");
  Counter& disputes = AuditCounter("disputes", "Mismatches sent to a referee run.");
  Counter& proven_faulty = AuditCounter("proven_faulty", "Runs a referee proved wrong.");
  Counter& recomputed_flops = AuditCounter(
      "recomputed_flops", "FLOPs referees recomputed to decide disputes (one segment each when "
                          "commitment chains narrowed it, the whole task otherwise).");
  Counter& segment_disputes = AuditCounter(
      "segment_disputes", "Disputes decided on commitment chains: one segment or none recomputed.");
  AuditTotals last_audits;
  Counter& AuditCounter(const std::string& what, const std::string& help) {
    return BuildCounter().Name("plume_verification_" + what + "_total").Help(help)
        .Register(*reg).Add({});
  }
  Family<Counter>& ledger_entries = BuildCounter().Name("plume_ledger_entries_appended_total")
      .Help("Ledger entries durably appended, by entry type.").Register(*reg);
  Histogram& group_commit = BuildHistogram().Name("plume_ledger_group_commit_entries").Help(
      "Entries written per group commit (one fsync).").Register(*reg)
      .Add({}, Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256});
  Histogram& fsync = BuildHistogram().Name("plume_ledger_fsync_duration_seconds").Help(
      "Latency of the ledger's fsync per group commit.").Register(*reg).Add({}, FsyncBuckets());
  Gauge& escrow = BuildGauge().Name("plume_escrow_held_micro_plume").Help(
      "Credits currently held in escrow for accepted jobs.").Register(*reg).Add({});
  Family<Counter>& credits = BuildCounter().Name("plume_credits_settled_micro_plume_total")
      .Help("Credits settled to each provider for verified work.").Register(*reg);
  Counter& fees = BuildCounter().Name("plume_fees_micro_plume_total").Help(
      "Network fees taken at settlement.").Register(*reg).Add({});
  Family<Gauge>& stake = BuildGauge().Name("plume_stake_micro_plume").Help(
      "Providers' stake as the ledger last reported it: staked (placeable) and unbonding (still "
      "slashable).").Register(*reg);
  Gauge& pending = BuildGauge().Name("plume_pending_verification_micro_plume").Help(
      "Pay of accepted results that wait for their audit or challenge window.").Register(*reg)
      .Add({});
  Family<Counter>& slashed = BuildCounter().Name("plume_slashed_micro_plume_total").Help(
      "Stake slashed for proven faults, by where it went (clawback and compensation to the team, "
      "finder's fee, treasury).").Register(*reg);
  Histogram& payout = BuildHistogram().Name("plume_payout_delay_seconds").Help(
      "Time from a task's receipt to the ledger entry that settles its payment.").Register(*reg)
      .Add({}, Histogram::BucketBoundaries{0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600});

  static Histogram::BucketBoundaries LongBuckets() {
    return {1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200};
  }
  static Histogram::BucketBoundaries FsyncBuckets() {
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
  }

  // What the previous Observe saw, to turn state changes into counter increments.
  bool first = true;
  std::set<JobId> jobs_seen;
  std::map<TaskId, TaskSeen> tasks_seen;
  std::map<NodeId, NodeState> nodes_seen;
  std::map<RoundKey, RoundState> rounds_seen;
  std::map<JobId, MicroPlume> settled_per_job;
  // modelName -> series: live devices' names only, at most kGpuModelSeriesMax + "other".
  std::map<std::string, Gauge*> gpu_gauges;
  LedgerView ledger;
  uint64_t ledger_scanned = 0;  // entries already counted
  TransportStats last_transport;
  uint64_t last_blob_in = 0;
  uint64_t last_screened = 0;
  std::map<std::string, uint64_t> last_refused;
  uint64_t last_blob_out = 0;

  void ObserveTask(const State& s, const Task& t, int64_t now_ms);
  void ObserveGauges(const State& s);
  void ObserveGpuModels(const std::map<std::string, double>& count);
};

}  // namespace plume::scheduler
