// Replay-audit figures of a simulated world; see sim_audit.h.
#include "sim_audit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

namespace plume::scheduler::testing {

AuditFigures MeasureAudits(const World& w, double q, const verify::AuditParams& params,
                           const std::vector<int64_t>& within) {
  const State& s = w.core().state();
  AuditFigures f;
  // Each provider's own results in commit order, and where the first was proven faulty.
  std::map<NodeId, std::vector<const Task*>> own;
  uint64_t flops_all = 0, flops_audit = 0, steady_all = 0, steady_audit = 0;
  const int64_t half_ms = w.now_ms / 2;
  for (const auto& [id, t] : s.tasks) {
    if (t.state != TaskState::kSucceeded) continue;
    const bool audit = t.audit_role != AuditRole::kNone;
    flops_all += t.flops;
    flops_audit += audit ? t.flops : 0;
    if (t.finished_at_ms >= half_ms) {
      steady_all += t.flops;
      steady_audit += audit ? t.flops : 0;
    }
    if (audit) {
      ++f.audit_runs;
    } else {
      ++f.tasks;
      own[t.node].push_back(&t);
    }
  }
  f.overhead = flops_all ? static_cast<double>(flops_audit) / flops_all : 0;
  f.overhead_steady = steady_all ? static_cast<double>(steady_audit) / steady_all : 0;
  for (const auto& [id, v] : s.verdicts) {
    ++f.verdicts;
    if (v.faulty.empty()) continue;
    ++f.convictions;
    f.false_accusations += !w.cheating.contains(v.faulty);
  }
  for (const auto& [id, n] : s.nodes) f.unaudited_no_peer += n.unaudited_no_peer;
  // The rate path of a provider that is never caught: rate_i at its i-th result.
  std::vector<double> path;
  const int64_t n_max = within.empty() ? 0 : *std::max_element(within.begin(), within.end());
  for (int64_t i = 0; i < n_max; ++i) {
    verify::ProviderRecord r;
    r.consecutive_valid = i;
    path.push_back(verify::AuditRatePpm(r, params) / 1e6);
  }
  for (int64_t n : within) {
    Detection d;
    d.within_tasks = n;
    d.analytic = verify::DetectionProbability(std::span(path).first(static_cast<size_t>(n)), q);
    for (const NodeId& cheater : w.cheating) {
      auto it = own.find(cheater);
      if (it == own.end()) continue;
      std::vector<const Task*>& tasks = it->second;
      std::sort(tasks.begin(), tasks.end(), [](const Task* a, const Task* b) {
        return a->finished_at_ms != b->finished_at_ms ? a->finished_at_ms < b->finished_at_ms
                                                      : a->wire_id < b->wire_id;
      });
      int64_t first = -1;
      for (size_t i = 0; i < tasks.size(); ++i) {
        if (tasks[i]->audit == AuditStatus::kOriginalFaulty) {
          first = static_cast<int64_t>(i);
          break;
        }
      }
      const bool caught = first >= 0 && first < n;
      if (!caught && static_cast<int64_t>(tasks.size()) < n) continue;  // too few results
      ++d.cheaters;
      d.caught += caught;
    }
    d.measured = d.cheaters ? static_cast<double>(d.caught) / d.cheaters : 0;
    d.sigma = d.cheaters ? std::sqrt(d.analytic * (1 - d.analytic) / d.cheaters) : 1;
    f.detection.push_back(d);
  }
  return f;
}

std::string Format(const AuditFigures& f) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "own results %lld, audit+referee runs %lld, mismatches %lld, convictions %lld, "
                "false accusations %lld, unaudited (no peer) %lld, overhead %.2f%% (steady "
                "state %.2f%%)\n",
                static_cast<long long>(f.tasks), static_cast<long long>(f.audit_runs),
                static_cast<long long>(f.verdicts), static_cast<long long>(f.convictions),
                static_cast<long long>(f.false_accusations),
                static_cast<long long>(f.unaudited_no_peer), 100 * f.overhead,
                100 * f.overhead_steady);
  std::string out = buf;
  for (const Detection& d : f.detection) {
    std::snprintf(buf, sizeof buf,
                  "  caught within %lld own results: %d/%d = %.3f (analytic %.3f, sigma %.3f)\n",
                  static_cast<long long>(d.within_tasks), d.caught, d.cheaters, d.measured,
                  d.analytic, d.sigma);
    out += buf;
  }
  return out;
}

}  // namespace plume::scheduler::testing
