// The economics of cheating under stake, replay audits and slashing (issue 10), through the real
// scheduler core and the real ledger rules (scheduler/sim_econ.h). For each cheating fraction q
// and audit floor p_min it runs `--seeds` seeded worlds of honest and cheating providers and
// prints one markdown row: mean net earnings (pay minus slashes) per provider and per succeeded
// run, in units of one task's pay, for honest providers and cheaters; how many cheaters were
// convicted and pushed under the minimum stake; where the slashed stake went; and how many honest
// providers were paid exactly price x FLOPs of their verified runs (from the specs). Exits 1 if
// any cell breaks an invariant or a cheater comes out ahead.
//
//   plume_econ_bench [--honest 100] [--cheaters 100] [--tasks 100] [--seeds 3]
#include <CLI/CLI.hpp>

#include <cstdio>

#include "sim_econ.h"

using plume::scheduler::testing::EconFigures;
using plume::scheduler::testing::EconOptions;

int main(int argc, char** argv) {
  CLI::App app("economic simulation of stake and slashing");
  int honest = 100, cheaters = 100, tasks = 100, seeds = 3;
  app.add_option("--honest", honest, "honest providers per world");
  app.add_option("--cheaters", cheaters, "cheating providers per world");
  app.add_option("--tasks", tasks, "own results per provider, about");
  app.add_option("--seeds", seeds, "worlds per cell (seeds 1..N)");
  CLI11_PARSE(app, argc, argv);

  bool ok = true;
  {
    EconOptions o;  // what every cell shares
    const EconFigures probe = plume::scheduler::testing::RunEconomics(
        EconOptions{1, 1, 0, 0, o.p_min_ppm, 1, o.slash_bps, o.price, o.stake_in_tasks});
    std::printf(
        "%d honest + %d cheating providers per world, about %d own results each, %d seeds per "
        "row; one task's pay = %lld micro-PLUME (price %lld per PFLOP, jobs allow 4x); stake = "
        "%lld task pays, minimum = half of it; money columns in task pays\n\n",
        honest, cheaters, tasks, seeds, static_cast<long long>(probe.task_pay),
        static_cast<long long>(o.price), static_cast<long long>(o.stake_in_tasks));
  }
  std::printf("%s", plume::scheduler::testing::EconHeader().c_str());
  for (uint32_t slash_bps : {1000u, 0u}) {
    for (uint32_t p_min_ppm : {10'000u, 50'000u, 100'000u}) {
      for (double q : {0.01, 0.1, 0.5}) {
        std::vector<EconFigures> runs;
        for (int seed = 1; seed <= seeds; ++seed) {
          EconOptions o;
          o.seed = static_cast<uint64_t>(seed);
          o.honest = honest;
          o.cheaters = cheaters;
          o.q = q;
          o.p_min_ppm = p_min_ppm;
          o.tasks_per_agent = tasks;
          o.slash_bps = slash_bps;
          runs.push_back(plume::scheduler::testing::RunEconomics(o));
        }
        const EconFigures f = plume::scheduler::testing::Merge(runs);
        std::printf("%s", plume::scheduler::testing::EconRow(f).c_str());
        std::fflush(stdout);
        for (const std::string& v : f.violations) std::fprintf(stderr, "violation: %s\n", v.c_str());
        ok &= f.violations.empty() && f.false_convictions == 0 &&
              f.honest_exact == f.honest.providers && f.cheater.Net() < f.honest.Net();
      }
    }
  }
  return ok ? 0 : 1;
}
