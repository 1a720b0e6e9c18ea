// Placement: which node runs a task. Pure functions over node records, no clock, no I/O, so
// they are tested directly and the core's indexed fast path can be checked against them.
//
// Two different "no" answers are kept apart (as in Ray's scheduling policies):
//  - kRetryLater: some active node could run the task, just not now (busy, excluded);
//  - kInfeasible: no active node could ever run it (backend, memory, selftest, price).
// The core keeps an infeasible job queued for a grace period (a suitable agent may join), then
// fails it; a retry-later task simply waits.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>

#include "plume/scheduler/types.h"

namespace plume::scheduler {

struct TaskNeeds {
  uint64_t memory_bytes = 0;  // per device: each GPU holds a full replica
  std::optional<Backend> backend;  // none: any
  MicroPlume max_price_micro_plume_per_pflop = 0;
};

enum class PlacementOutcome : uint8_t { kPlaced = 0, kRetryLater = 1, kInfeasible = 2 };

struct Placement {
  PlacementOutcome outcome = PlacementOutcome::kInfeasible;
  NodeId node;         // set when kPlaced
  std::string reason;  // why not, when not placed
};

// Memory one task may use on this node: the smallest GPU (each holds a replica) or, for a
// CPU-backend agent, its host memory.
uint64_t UsableMemoryBytes(const NodeInfo& info);

// Static fit: could this node ever run the task (ignores state and load)?
bool CanEverRun(const TaskNeeds& needs, const NodeInfo& info);

// Fit now: static fit, node active (not draining, lost or gone), a free task slot, not excluded.
bool CanRunNow(const TaskNeeds& needs, const Node& node, const std::set<NodeId>& excluded);

// Reputation in parts per million: the Laplace-smoothed success ratio of the node's finished
// attempts, (succeeded + 1) / (succeeded + failed + lost + refused + 2). A new node starts at
// 500,000; integers so that ordering is exact and the same on every machine.
uint32_t ReputationPpm(const Node& node);

// Preference order: lower price, then better reputation, then higher measured speed, then node
// id (deterministic ties). Price first: the client's money is the binding promise; reputation
// then steers work away from nodes that fail or vanish.
bool Prefer(const Node& a, const Node& b);

// Picks the preferred node that can run the task now, or says why none can.
Placement Place(const TaskNeeds& needs, std::span<const Node* const> nodes,
                const std::set<NodeId>& excluded);

}  // namespace plume::scheduler
