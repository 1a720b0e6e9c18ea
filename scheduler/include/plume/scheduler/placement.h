// Placement: which node runs a task. Pure functions over node records, no clock, no I/O, so
// they are tested directly and the core's indexed fast path can be checked against them.
//
// Two different "no" answers are kept apart (as in Ray's scheduling policies):
//  - kRetryLater: some active node could run the task, just not now (busy, excluded);
//  - kInfeasible: no active node could ever run it (backend, memory, selftest, price), or every
//    one that could is not admitted (stake under the minimum, reputation under the threshold).
// The core keeps an infeasible job queued for a grace period (a suitable agent may join, or a
// node may stake more), then fails it; a retry-later task simply waits.
//
// Admission (the operator's rules, Config): a node is given work only when its free stake covers
// min_stake_per_device x DeviceCount (GPUs; a CPU agent is one device) and its reputation is at
// least min_reputation_ppm. Both can change while it is registered (StakeChanged, results), and
// the core re-indexes the node when they do.
//
// Preference (Prefer): the lowest effective price, price x 1e6 / reputation_ppm, compared exactly
// as fractions (price_a x rep_b < price_b x rep_a, 128-bit integers), so reputation weighs in
// proportion: at equal price a node with twice the reputation wins, and a node at 500,000 (new)
// must ask less than 5/9 of the price of one at 900,000 to win. Then the better reputation (so
// equal fractions prefer the proven node), then the higher claimed speed, then the node id: a
// total order, the same on every machine. Claimed speed only breaks ties: nothing an agent says
// about itself outranks its record or its price.
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

// Static fit: could this node ever run the task (ignores state, load and admission)?
bool CanEverRun(const TaskNeeds& needs, const NodeInfo& info);

// The operator's admission rules (Config::min_stake_per_device_micro_plume, min_reputation_ppm).
struct Admission {
  MicroPlume min_stake_per_device_micro_plume = 0;
  uint32_t min_reputation_ppm = 0;
};

// Devices a node stakes for: the sum of its GPU counts; a CPU agent (or a GPU agent that lists
// none) is one.
uint32_t DeviceCount(const NodeInfo& info);
// min_stake_per_device x DeviceCount, saturated.
MicroPlume RequiredStake(const NodeInfo& info, MicroPlume min_stake_per_device);
bool StakeCovers(const Node& node, const Admission& admission);
bool ReputationAdmits(const Node& node, const Admission& admission);
// Both of the above.
bool Admitted(const Node& node, const Admission& admission);

// Could this node ever be given the task: static fit and admitted (ignores state and load).
bool Eligible(const TaskNeeds& needs, const Node& node, const Admission& admission);

// Fit now: eligible, node active (not draining, lost or gone), a free task slot, not excluded.
bool CanRunNow(const TaskNeeds& needs, const Node& node, const std::set<NodeId>& excluded,
               const Admission& admission = {});

// Reputation in parts per million: the Laplace-smoothed success ratio of the node's finished
// attempts, (succeeded + 1) / (succeeded + failed + lost + refused + 2). A new node starts at
// 500,000; integers so that ordering is exact and the same on every machine.
uint32_t ReputationPpm(const Node& node);

// Preference order (see the top of this file): lower price x 1e6 / reputation, then better
// reputation, then higher claimed speed, then node id. True when `a` is preferred to `b`.
bool Prefer(const Node& a, const Node& b);
// The same order on the fields it reads (the core's free-node index keys on exactly these).
bool PreferKey(MicroPlume price_a, uint32_t reputation_a, uint64_t flops_a, const NodeId& id_a,
               MicroPlume price_b, uint32_t reputation_b, uint64_t flops_b, const NodeId& id_b);

// Picks the preferred node that can run the task now, or says why none can.
Placement Place(const TaskNeeds& needs, std::span<const Node* const> nodes,
                const std::set<NodeId>& excluded, const Admission& admission = {});

}  // namespace plume::scheduler
