// The economic simulation; see sim_econ.h.
#include "sim_econ.h"

#include <cstdio>
#include <map>
#include <set>

#include "plume/scheduler/work.h"
#include "plume/verify/slash.h"
#include "sim_money.h"

namespace plume::scheduler::testing {
namespace {

constexpr uint32_t kShards = 16;
constexpr int kTeams = 7;  // sim_world.cc names owners client-0..6

std::string AgentName(int i) {
  char id[32];
  std::snprintf(id, sizeof id, "agent-%05d", i);
  return id;
}

}  // namespace

EconFigures RunEconomics(const EconOptions& o) {
  EconFigures f;
  f.options = o;
  const int agents = o.honest + o.cheaters;
  JobSpec spec = InferSpec(kShards, kShards);
  spec.max_price_micro_plume_per_pflop = 4 * o.price;  // room for audit and referee runs
  spec.budget_micro_plume = MaxJobCostMicroPlume(spec);
  f.task_pay = PayMicroPlume(TaskFlops(spec, 0), o.price);
  const MicroPlume stake = o.stake_in_tasks * f.task_pay;

  WorldOptions w;
  w.seed = o.seed;
  w.agents = agents;
  w.cheaters = o.cheaters;
  w.cheat_q = o.q;
  w.cheat_on_audits = true;
  w.feed_shards = kShards;
  w.jobs = agents * o.tasks_per_agent / static_cast<int>(kShards) + 1;
  w.open_jobs_max = std::max(2, agents / 8);
  w.task_ms_min = 1000;
  w.task_ms_max = 3000;
  w.step_ms = 1000;
  w.submit_window_ms = 0;
  w.price = o.price;
  w.max_price = spec.max_price_micro_plume_per_pflop;

  MoneyLedger money;
  for (int t = 0; t < kTeams; ++t) {
    money.OpenTeam("client-" + std::to_string(t), (w.jobs / kTeams + 1) * spec.budget_micro_plume);
  }
  for (int i = 0; i < agents; ++i) money.OpenProvider(AgentName(i), stake);
  w.ledger = &money;

  Config c;
  c.audit.p_min_ppm = o.p_min_ppm;
  c.audit_seed.fill(static_cast<uint8_t>(o.seed));
  c.min_stake_per_device_micro_plume = stake / 2;
  c.slash_bps = o.slash_bps;
  World world(w, c);
  if (!world.Run(int64_t{200} * 24 * 3'600'000)) f.violations.push_back("world did not finish");
  f.violations.insert(f.violations.end(), world.violations.begin(), world.violations.end());
  f.violations.insert(f.violations.end(), money.violations.begin(), money.violations.end());
  f.virtual_s = world.now_ms / 1000;

  const State& s = world.core().state();
  std::map<NodeId, int64_t> runs;
  std::map<NodeId, MicroPlume> expected;  // price x FLOPs of verified runs, from the specs
  std::set<NodeId> convicted;
  for (const auto& [id, v] : s.verdicts) {
    if (v.faulty.empty()) continue;
    ++f.convictions;
    convicted.insert(v.faulty);
    f.false_convictions += !world.cheating.contains(v.faulty);
  }
  for (const auto& [id, t] : s.tasks) {
    if (t.state != TaskState::kSucceeded) continue;
    ++runs[t.node];
    // Every run but one proven faulty is verified work (and the core settles it).
    const auto v = s.verdicts.find(t.audit_role == AuditRole::kNone ? t.id : t.audit_of);
    if (v != s.verdicts.end() && v->second.faulty == t.node) continue;
    const JobSpec& js = s.jobs.at(t.job).spec;
    expected[t.node] +=
        PayMicroPlume(TaskFlops(js, t.shard), std::min(o.price, js.max_price_micro_plume_per_pflop));
  }
  for (int i = 0; i < agents; ++i) {
    const NodeId id = AgentName(i);
    const bool cheats = world.cheating.contains(id);
    ClassFigures& k = cheats ? f.cheater : f.honest;
    // What it earned: its provider account, less the finder fees it was given for faults it
    // helped prove (those are not pay for work, and are counted apart).
    const MicroPlume fees = money.FinderFees(id);
    const MicroPlume paid = money.Earned(id) - fees, lost = stake - money.Staked(id);
    ++k.providers;
    k.runs += runs[id];
    k.paid += paid + fees;
    k.slashed += lost;
    k.convicted += convicted.contains(id);
    k.under_min_stake += money.Staked(id) < c.min_stake_per_device_micro_plume;
    if (!cheats) {
      if (paid == expected[id]) {
        ++f.honest_exact;
      } else {
        f.violations.push_back("honest " + id + " paid " + std::to_string(paid) + ", verified work " +
                               std::to_string(expected[id]));
      }
      if (lost != 0) f.violations.push_back("honest " + id + " slashed");
    }
    f.slashed_total += lost;
  }
  using verify::SlashLegKind;
  for (const auto& [kind, amount] : money.legs()) {
    if (kind == static_cast<uint8_t>(SlashLegKind::kClawback) ||
        kind == static_cast<uint8_t>(SlashLegKind::kCompensation)) {
      f.to_teams += amount;
    }
    if (kind == static_cast<uint8_t>(SlashLegKind::kFinder)) f.to_finders += amount;
  }
  return f;
}

EconFigures Merge(const std::vector<EconFigures>& runs) {
  EconFigures all;
  if (runs.empty()) return all;
  all.options = runs.front().options;
  all.task_pay = runs.front().task_pay;
  for (const EconFigures& f : runs) {
    for (auto [into, from] : {std::pair{&all.honest, &f.honest}, std::pair{&all.cheater, &f.cheater}}) {
      into->providers += from->providers;
      into->runs += from->runs;
      into->convicted += from->convicted;
      into->under_min_stake += from->under_min_stake;
      into->paid += from->paid;
      into->slashed += from->slashed;
    }
    all.honest_exact += f.honest_exact;
    all.convictions += f.convictions;
    all.false_convictions += f.false_convictions;
    all.slashed_total += f.slashed_total;
    all.to_teams += f.to_teams;
    all.to_finders += f.to_finders;
    all.virtual_s += f.virtual_s;
    all.violations.insert(all.violations.end(), f.violations.begin(), f.violations.end());
  }
  return all;
}

std::string EconHeader() {
  return "| q | p_min | slash | honest net / provider | cheater net / provider | honest net / run | "
         "cheater net / run | cheaters convicted | cheaters under min stake | slashed | to teams | "
         "to finders | honest paid = price x FLOPs |\n"
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
}

std::string EconRow(const EconFigures& f) {
  char buf[512];
  // Money in units of one task's pay, so rows of different runs compare.
  const double unit = static_cast<double>(std::max<MicroPlume>(f.task_pay, 1));
  const char* policy = f.options.stake_in_tasks == 0 ? "no stake"
                       : f.options.slash_bps != 0     ? "max(10%, pay/p)"
                                                      : "pay/p only";
  std::snprintf(buf, sizeof buf,
                "| %.2f | %.0f%% | %s | %.1f | %.1f | %.3f | %.3f | %d/%d | %d | %.0f | %.0f | %.0f | "
                "%d/%d |\n",
                f.options.q, f.options.p_min_ppm / 1e4, policy, f.honest.Net() / unit,
                f.cheater.Net() / unit, f.honest.NetPerRun() / unit, f.cheater.NetPerRun() / unit,
                f.cheater.convicted, f.cheater.providers, f.cheater.under_min_stake,
                static_cast<double>(f.slashed_total) / unit, static_cast<double>(f.to_teams) / unit,
                static_cast<double>(f.to_finders) / unit, f.honest_exact, f.honest.providers);
  return buf;
}

}  // namespace plume::scheduler::testing
