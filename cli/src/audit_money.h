// `plume audit JOB`'s money per task, recomputed from the job's ledger entries alone: what each
// task's settle paid (final), its fee, and what a slash of it took from the provider's stake and
// where it went (clawback and compensation to the team, the finder's fee, the treasury). Pay that
// waits for verification is not in the ledger yet: `plume balance` shows it (scheduler state).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "plume/ledger/ledger.h"

namespace plume::cli {

struct TaskMoney {
  std::string provider;     // the agent key (hex) of the settled or slashed run
  int64_t paid = 0;         // settle: price x FLOPs
  int64_t fee = 0;          // settle: the network fee
  int64_t slashed = 0;      // slash: total taken from stake:/unbond:
  int64_t clawback = 0;     // slash legs, by kind
  int64_t compensation = 0;
  int64_t finder = 0;
  int64_t treasury = 0;
};

// By the receipt's task id (audit runs are tasks of their own, "<task>/audit").
std::map<std::string, TaskMoney> MoneyByTask(const std::vector<ledger::LoggedEntry>& entries);

}  // namespace plume::cli
