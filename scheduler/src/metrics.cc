// The scheduler's metrics: families as docs/metrics.md lists them (names, help texts, label
// names, buckets), filled from the core's state after each turn. See metrics.h.
#include "plume/scheduler/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <map>
#include <set>

#include "plume/scheduler/work.h"
#include "plume/verify/screen.h"

namespace plume::scheduler {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

const char* OutcomeOfRequeue(const std::string& why) {
  // core_jobs.cc: a failure the agent reported, or a result without a blob, is the task's
  // fault; every other requeue (lease expired, agent restarted or left) lost the agent.
  if (why.rfind("failed on agent", 0) == 0 || why.rfind("result has no valid blob", 0) == 0) {
    return "failed";
  }
  return "lost";
}

const char* OutcomeOfState(TaskState s) {
  switch (s) {
    case TaskState::kSucceeded: return "succeeded";
    case TaskState::kFailed: return "failed";
    case TaskState::kDropped: return "lost";  // a worker dropped from its round
    default: return "cancelled";
  }
}

const char* KindName(TaskKind k) { return k == TaskKind::kTrainWorker ? "train" : "infer"; }

double Seconds(int64_t ms) { return ms > 0 ? static_cast<double>(ms) / 1000.0 : 0.0; }

struct TaskSeen {
  uint32_t attempt = 0;
  TaskState state = TaskState::kQueued;
  bool settled = false;
};

}  // namespace

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
  std::map<std::string, Gauge*> gpu_gauges;  // modelName -> series (kept at 0 when gone)
  LedgerView ledger;
  uint64_t ledger_scanned = 0;  // entries already counted
  TransportStats last_transport;
  uint64_t last_blob_in = 0;
  uint64_t last_screened = 0;
  std::map<std::string, uint64_t> last_refused;
  uint64_t last_blob_out = 0;

  void ObserveTask(const State& s, const Task& t, int64_t now_ms);
  void ObserveGauges(const State& s);
};

SchedulerMetrics::SchedulerMetrics(const SchedulerMetricsInfo& info)
    : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  BuildGauge().Name("plume_scheduler_info").Help(
      "Constant 1; labels carry the scheduler build version and public key (hex).")
      .Register(*m.reg).Add({{"version", info.version}, {"scheduler_id", info.scheduler_id}})
      .Set(1);
  // Every label value of a state gauge or a closed-set counter exists from the start, so that
  // sum() and alert expressions never see a missing series (docs/metrics.md, conventions).
  for (const char* s : {"idle", "busy", "draining", "lost"}) m.agents.Add({{"state", s}});
  for (const char* r : {"not_allowed", "bad_key", "bad_version"}) m.rejected.Add({{"reason", r}});
  for (const char* r : {"decode", "oversized", "unexpected", "bad_signature"}) {
    m.malformed.Add({{"reason", r}});
  }
  for (const char* s : {"queued", "running", "succeeded", "failed", "cancelled"}) {
    m.jobs.Add({{"state", s}});
  }
  for (const char* k : {"train", "infer"}) {
    m.jobs_submitted.Add({{"kind", k}});
    for (const char* o : {"succeeded", "failed", "lost", "cancelled"}) {
      m.tasks_finished.Add({{"kind", k}, {"outcome", o}});
    }
    m.duration.Add({{"kind", k}}, Impl::LongBuckets());
  }
  for (const char* s : {"queued", "running"}) m.tasks.Add({{"state", s}});
  for (const char* d : {"in", "out"}) m.blob_bytes.Add({{"direction", d}});
  for (const char* o : {"match", "mismatch", "error"}) m.verifications.Add({{"outcome", o}});
  for (const char* leg : {"clawback", "compensation", "finder", "treasury"}) m.slashed.Add({{"leg", leg}});
  // Every refusal reason from the start, so a rate() over it has a series before the first one.
  for (int r = 1; r <= static_cast<int>(verify::kLastReason); ++r) {
    m.refused.Add({{"reason", verify::Name(static_cast<verify::Reason>(r))}});
  }
  for (const char* t : {"open", "mint", "transfer", "hold", "settle", "release", "stake", "slash",
                        "receipt"}) {
    m.ledger_entries.Add({{"type", t}});
  }
}

SchedulerMetrics::~SchedulerMetrics() = default;

std::shared_ptr<prometheus::Registry> SchedulerMetrics::registry() const { return impl_->reg; }

std::string SchedulerMetrics::Serialize() const {
  return prometheus::TextSerializer().Serialize(impl_->reg->Collect());
}

void SchedulerMetrics::Observe(const State& s, int64_t now_ms) {
  auto& m = *impl_;
  m.ObserveGauges(s);
  for (const auto& [id, job] : s.jobs) {
    if (!m.jobs_seen.insert(id).second || m.first) continue;
    m.jobs_submitted.Add({{"kind", job.spec.kind == JobKind::kTrain ? "train" : "infer"}})
        .Increment();
  }
  for (const auto& [id, t] : s.tasks) m.ObserveTask(s, t, now_ms);
  const AuditTotals a = CountAudits(s);
  auto advance = [](Counter& c, uint64_t now, uint64_t& last) {
    if (now > last) c.Increment(static_cast<double>(now - last));
    last = now;
  };
  advance(m.audited, a.audited, m.last_audits.audited);
  advance(m.matched, a.matched, m.last_audits.matched);
  advance(m.mismatched, a.mismatched, m.last_audits.mismatched);
  advance(m.disputes, a.disputes, m.last_audits.disputes);
  advance(m.proven_faulty, a.proven_faulty, m.last_audits.proven_faulty);
  advance(m.recomputed_flops, a.recomputed_flops, m.last_audits.recomputed_flops);
  advance(m.segment_disputes, a.segment_disputes, m.last_audits.segment_disputes);
  for (const auto& [id, n] : s.nodes) {
    auto [it, fresh] = m.nodes_seen.emplace(id, n.state);
    if (!fresh && it->second != NodeState::kLost && n.state == NodeState::kLost) {
      m.leases_expired.Increment();
    }
    it->second = n.state;
  }
  for (const auto& [key, r] : s.rounds) {
    auto [it, fresh] = m.rounds_seen.emplace(key, r.state);
    // A round seen running and now past its averaging: it ended during the last turn, so
    // now_ms is its end to within one observation period.
    if (!m.first && (fresh || it->second != RoundState::kDone) && r.state == RoundState::kDone) {
      m.round_duration.Observe(Seconds(now_ms - r.started_at_ms));
    }
    it->second = r.state;
  }
  // Escrow: each held job's hold less what has been settled from it; a finished job's rest
  // is released once its release request has been applied.
  double held = 0;
  for (const auto& [id, job] : s.jobs) {
    if (!job.escrow_held) continue;
    if (IsTerminal(job.state) && s.outbox.count("release:" + id) == 0) continue;
    const auto it = m.settled_per_job.find(id);
    held += static_cast<double>(job.spec.escrow_micro_plume -
                                (it == m.settled_per_job.end() ? 0 : it->second));
  }
  m.escrow.Set(held);
  if (m.ledger.size && m.ledger.scan && m.ledger.size() > m.ledger_scanned) {
    m.ledger.scan(m.ledger_scanned, [&](const LedgerEntrySeen& e) {
      m.ledger_entries.Add({{"type", e.type}}).Increment();
      for (const auto& [leg, amount] : e.slash_legs) {
        m.slashed.Add({{"leg", leg}}).Increment(static_cast<double>(amount));
      }
      ++m.ledger_scanned;
    });
  }
  m.first = false;
}

void SchedulerMetrics::Impl::ObserveTask(const State& s, const Task& t, int64_t now_ms) {
  auto [it, fresh] = tasks_seen.emplace(t.id, TaskSeen{t.attempt, t.state, false});
  TaskSeen& seen = it->second;
  const char* kind = KindName(t.kind);
  if (first) {
    seen.settled = t.state == TaskState::kSucceeded;
    return;
  }
  const bool new_attempt = fresh || seen.attempt != t.attempt;
  // An attempt that was running and came back for another try ended without a result.
  if (!fresh && seen.attempt != t.attempt && seen.state == TaskState::kAssigned) {
    tasks_finished.Add({{"kind", kind}, {"outcome", OutcomeOfRequeue(t.last_error)}}).Increment();
  }
  if (t.state == TaskState::kAssigned && (new_attempt || seen.state != TaskState::kAssigned)) {
    int64_t ready_ms = std::max(t.not_before_ms, s.jobs.count(t.job) ? s.jobs.at(t.job).submitted_at_ms : 0);
    if (auto r = s.rounds.find({t.job, t.round}); t.kind == TaskKind::kTrainWorker &&
                                                  r != s.rounds.end()) {
      ready_ms = std::max(ready_ms, r->second.started_at_ms);
    }
    dispatch.Observe(Seconds(t.assigned_at_ms - ready_ms));
  }
  if (IsTerminal(t.state) && (new_attempt || !IsTerminal(seen.state))) {
    tasks_finished.Add({{"kind", kind}, {"outcome", OutcomeOfState(t.state)}}).Increment();
    if (t.state == TaskState::kSucceeded) {
      duration.Add({{"kind", kind}}, LongBuckets())
          .Observe(Seconds(t.finished_at_ms - t.assigned_at_ms));
    }
  }
  // Settled: the ledger applied the task's settle (or, without a ledger, the reactor counted it
  // as applied). A refused or unpaid settle is never counted as credits.
  if (t.state == TaskState::kSucceeded && !seen.settled && t.settle == SettleState::kApplied) {
    seen.settled = true;
    if (t.paid_micro_plume > 0) {
      credits.Add({{"provider", t.node}}).Increment(static_cast<double>(t.paid_micro_plume));
      settled_per_job[t.job] += t.paid_micro_plume;
    }
    payout.Observe(Seconds(now_ms - t.finished_at_ms));
  }
  seen.attempt = t.attempt;
  seen.state = t.state;
}

void SchedulerMetrics::Impl::ObserveGauges(const State& s) {
  std::map<std::string, double> agent_states{{"idle", 0}, {"busy", 0}, {"draining", 0},
                                             {"lost", 0}};
  std::map<std::string, double> gpu_count;
  for (const auto& [id, n] : s.nodes) {
    switch (n.state) {
      case NodeState::kActive: agent_states[n.tasks.empty() ? "idle" : "busy"] += 1; break;
      case NodeState::kDraining: agent_states["draining"] += 1; break;
      case NodeState::kLost: agent_states["lost"] += 1; break;
      case NodeState::kGone: break;
    }
    if (n.state != NodeState::kActive && n.state != NodeState::kDraining) continue;
    for (const auto& g : n.info.gpus) gpu_count[g.name] += g.count;
  }
  for (const auto& [state, v] : agent_states) agents.Add({{"state", state}}).Set(v);
  for (auto& [model, gauge] : gpu_gauges) gauge->Set(0);
  for (const auto& [model, v] : gpu_count) {
    auto [it, fresh] = gpu_gauges.emplace(model, nullptr);
    if (fresh) it->second = &gpus.Add({{"modelName", model}});
    it->second->Set(v);
  }
  std::map<std::string, double> job_states{{"queued", 0}, {"running", 0}, {"succeeded", 0},
                                           {"failed", 0}, {"cancelled", 0}};
  for (const auto& [id, j] : s.jobs) job_states[Name(j.state)] += 1;
  for (const auto& [state, v] : job_states) jobs.Add({{"state", state}}).Set(v);
  double queued = 0, running = 0;
  for (const auto& [id, t] : s.tasks) {
    queued += t.state == TaskState::kQueued ? 1 : 0;
    running += t.state == TaskState::kAssigned ? 1 : 0;
  }
  tasks.Add({{"state", "queued"}}).Set(queued);
  tasks.Add({{"state", "running"}}).Set(running);
  double staked = 0, unbonding = 0, waiting = 0;
  for (const auto& [id, n] : s.nodes) {
    staked += static_cast<double>(n.stake_micro_plume);
    unbonding += static_cast<double>(n.unbonding_micro_plume);
  }
  for (const auto& [id, t] : s.tasks) {
    if (PendingVerification(t)) waiting += static_cast<double>(t.paid_micro_plume);
  }
  stake.Add({{"state", "staked"}}).Set(staked);
  stake.Add({{"state", "unbonding"}}).Set(unbonding);
  pending.Set(waiting);
}

void SchedulerMetrics::ObserveTransport(const TransportStats& t, uint64_t blob_in,
                                        uint64_t blob_out) {
  auto& m = *impl_;
  auto advance = [](Counter& c, uint64_t now, uint64_t& last) {
    if (now > last) c.Increment(static_cast<double>(now - last));
    last = now;
  };
  auto& p = m.last_transport;
  advance(m.rejected.Add({{"reason", "not_allowed"}}), t.refused_unlisted_agent,
          p.refused_unlisted_agent);
  advance(m.rejected.Add({{"reason", "bad_key"}}), t.handshakes_failed, p.handshakes_failed);
  // The transport counts wrong-version frames among the undecodable ones (transport.h).
  advance(m.malformed.Add({{"reason", "decode"}}), t.messages_malformed, p.messages_malformed);
  advance(m.malformed.Add({{"reason", "bad_signature"}}), t.refused_sender_mismatch,
          p.refused_sender_mismatch);
  advance(m.blob_bytes.Add({{"direction", "in"}}), blob_in, m.last_blob_in);
  advance(m.blob_bytes.Add({{"direction", "out"}}), blob_out, m.last_blob_out);
}

void SchedulerMetrics::ObserveScreens(uint64_t screened,
                                      const std::map<std::string, uint64_t>& refused) {
  auto& m = *impl_;
  if (screened > m.last_screened) m.screened.Increment(double(screened - m.last_screened));
  m.last_screened = screened;
  for (const auto& [reason, n] : refused) {
    uint64_t& last = m.last_refused[reason];
    if (n > last) m.refused.Add({{"reason", reason}}).Increment(double(n - last));
    last = n;
  }
}

LedgerHook SchedulerMetrics::Instrument(LedgerHook inner) {
  if (!inner) return [](const LedgerOp&, std::string&) -> Result<bool> { return true; };
  Impl* m = impl_.get();
  return [m, inner = std::move(inner)](const LedgerOp& op, std::string& refusal) -> Result<bool> {
    const uint64_t before = m->ledger.size ? m->ledger.size() : 0;
    const auto t0 = std::chrono::steady_clock::now();
    auto applied = inner(op, refusal);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // One call, one group commit: the ledger writes a call's entries with one fdatasync and
    // answers only after it, so the call's duration bounds the fsync latency from above.
    if (m->ledger.size) {
      if (const uint64_t after = m->ledger.size(); after > before) {
        m->group_commit.Observe(static_cast<double>(after - before));
        m->fsync.Observe(seconds);
      }
    } else if (applied && *applied) {
      m->ledger_entries.Add({{"type", Name(op.kind)}}).Increment();
      m->group_commit.Observe(1);
      m->fsync.Observe(seconds);
    }
    return applied;
  };
}

void SchedulerMetrics::ObserveCommit(std::chrono::duration<double> latency) {
  impl_->sqlite_commit.Observe(latency.count());
}

void SchedulerMetrics::AttachLedger(LedgerView view) {
  impl_->ledger = std::move(view);
  // Entries already in the ledger at start are history, not this process's appends.
  impl_->ledger_scanned = impl_->ledger.size ? impl_->ledger.size() : 0;
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, int port, std::shared_ptr<prometheus::Registry> reg) {
  if (port < 0 || port > 65535) {
    return Fail("metrics port " + std::to_string(port) + " is out of range (0..65535)");
  }
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->registry_ = std::move(reg);
  std::shared_ptr<prometheus::Registry> r = s->registry_;
  auto http = MetricsHttpServer::Start(
      address, port, [r] { return prometheus::TextSerializer().Serialize(r->Collect()); });
  if (!http) return tl::unexpected(http.error());
  s->http_ = std::move(*http);
  s->port_ = s->http_->port();
  return s;
}

MetricsServer::~MetricsServer() = default;

}  // namespace plume::scheduler
