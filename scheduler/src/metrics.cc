// The scheduler's metrics: families as docs/metrics.md lists them (names, help texts, label
// names, buckets), filled from the core's state after each turn; what the reactor, transport
// and ledger report is in metrics_hooks.cc. See metrics.h.
#include "plume/scheduler/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "plume/scheduler/limits.h"
#include "plume/scheduler/work.h"
#include "plume/verify/screen.h"
#include "metrics_impl.h"

namespace plume::scheduler {
namespace {

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
}  // namespace


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
  for (const char* r : {"not_allowed", "bad_key", "bad_version", "connections_max",
                        "per_address_max"}) {
    m.rejected.Add({{"reason", r}});
  }
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
  // Forgotten nodes (core_forget.cc) leave the registry; their last state goes with them.
  if (m.nodes_seen.size() > s.nodes.size()) {
    std::erase_if(m.nodes_seen, [&](const auto& kv) { return !s.nodes.contains(kv.first); });
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

// A name no live agent reports loses its series, so the label set is bounded by what is live
// now (kGpuModelSeriesMax names), not by every name a key ever registered.
void SchedulerMetrics::Impl::ObserveGpuModels(const std::map<std::string, double>& count) {
  std::vector<std::pair<double, std::string>> ranked;
  for (const auto& [model, v] : count) ranked.emplace_back(-v, model);
  std::sort(ranked.begin(), ranked.end());  // most devices first, then by name
  std::map<std::string, double> shown;
  for (size_t i = 0; i < ranked.size(); ++i) {
    const bool own = i < kGpuModelSeriesMax && ranked[i].second != "other";
    shown[own ? ranked[i].second : "other"] -= ranked[i].first;
  }
  for (auto it = gpu_gauges.begin(); it != gpu_gauges.end();) {
    if (shown.count(it->first)) {
      ++it;
      continue;
    }
    gpus.Remove(it->second);
    it = gpu_gauges.erase(it);
  }
  for (const auto& [model, v] : shown) {
    auto [it, fresh] = gpu_gauges.emplace(model, nullptr);
    if (fresh) it->second = &gpus.Add({{"modelName", model}});
    it->second->Set(v);
  }
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
  ObserveGpuModels(gpu_count);
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

}  // namespace plume::scheduler
