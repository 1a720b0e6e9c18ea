// A seeded economic simulation (issue 10): honest providers and cheaters (a wrong output on a
// fraction q of their runs, audit runs included: they cannot tell them apart) through the real
// scheduler core (sim_world.h) and the real ledger rules (sim_money.h), with stake, replay audits
// at a floor rate p_min, the challenge window and slashing. Read from the ledger at the end:
// what each provider was paid and what it lost to slashes; and, for every honest provider,
// whether its pay equals price x FLOPs of its verified runs computed from the job specs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plume/scheduler/limits.h"
#include "plume/scheduler/types.h"

namespace plume::scheduler::testing {

struct EconOptions {
  uint64_t seed = 1;
  int honest = 20;
  int cheaters = 20;
  double q = 0.1;                 // a cheater's wrong outputs, per run
  uint32_t p_min_ppm = 50'000;    // the audit rate's floor
  int tasks_per_agent = 60;       // own results per provider, about
  uint32_t slash_bps = kSlashBpsDefault;  // 0: the pay / p deterrent alone
  MicroPlume price = 100'000'000'000;     // every provider's, per PFLOP (jobs allow 4x)
  int64_t stake_in_tasks = 1000;  // each provider's stake, in one task's pay; min = half of it
};

struct ClassFigures {
  int providers = 0;
  int64_t runs = 0;            // succeeded runs (own results and audit/referee runs)
  int convicted = 0;           // providers convicted at least once
  int under_min_stake = 0;     // providers no longer placed at the end
  MicroPlume paid = 0;         // sum of the ledger's provider:<k> (pay + finder fees)
  MicroPlume slashed = 0;      // sum of stake lost

  // Means, in micro-PLUME: per provider, and per succeeded run.
  double Paid() const { return providers ? static_cast<double>(paid) / providers : 0; }
  double Net() const { return providers ? static_cast<double>(paid - slashed) / providers : 0; }
  double NetPerRun() const { return runs ? static_cast<double>(paid - slashed) / runs : 0; }
};

struct EconFigures {
  EconOptions options;
  MicroPlume task_pay = 0;  // one task's pay at `price`
  ClassFigures honest, cheater;
  // Honest providers whose provider:<k> balance, less the finder fees credited to it, is exactly
  // price x FLOPs of its verified runs (computed from the job specs and its asking price).
  int honest_exact = 0;
  int64_t convictions = 0;
  int64_t false_convictions = 0;
  MicroPlume slashed_total = 0;
  MicroPlume to_teams = 0;   // clawback + compensation legs
  MicroPlume to_finders = 0;
  int64_t virtual_s = 0;
  std::vector<std::string> violations;  // the world's and the ledger's
};

EconFigures RunEconomics(const EconOptions& o);
// Runs of one cell (the same options but the seed) as one: providers and sums added.
EconFigures Merge(const std::vector<EconFigures>& runs);

// One markdown table row (and the header), for bench/RESULTS.md.
std::string EconHeader();
std::string EconRow(const EconFigures& f);

}  // namespace plume::scheduler::testing
