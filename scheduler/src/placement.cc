// Placement as pure functions; see placement.h for the contract.
#include "plume/scheduler/placement.h"

#include <algorithm>
#include <limits>

#include "plume/scheduler/limits.h"

namespace plume::scheduler {

uint64_t UsableMemoryBytes(const NodeInfo& info) {
  if (info.backend == Backend::kCpu) return info.host_memory_bytes;
  uint64_t smallest = std::numeric_limits<uint64_t>::max();
  bool any = false;
  for (const GpuInfo& g : info.gpus) {
    if (g.count == 0) continue;
    smallest = std::min(smallest, g.memory_bytes);
    any = true;
  }
  return any ? smallest : 0;
}

bool CanEverRun(const TaskNeeds& needs, const NodeInfo& info) {
  if (!info.selftest_passed) return false;
  if (needs.backend && *needs.backend != info.backend) return false;
  if (UsableMemoryBytes(info) < needs.memory_bytes) return false;
  return info.price_micro_plume_per_pflop <= needs.max_price_micro_plume_per_pflop;
}

bool CanRunNow(const TaskNeeds& needs, const Node& node, const std::set<NodeId>& excluded) {
  return node.state == NodeState::kActive && node.tasks.size() < kTasksPerNodeMax &&
         !excluded.contains(node.info.id) && CanEverRun(needs, node.info);
}

bool Prefer(const NodeInfo& a, const NodeInfo& b) {
  if (a.price_micro_plume_per_pflop != b.price_micro_plume_per_pflop) {
    return a.price_micro_plume_per_pflop < b.price_micro_plume_per_pflop;
  }
  if (a.flops_per_s != b.flops_per_s) return a.flops_per_s > b.flops_per_s;
  return a.id < b.id;
}

Placement Place(const TaskNeeds& needs, std::span<const Node* const> nodes,
                const std::set<NodeId>& excluded) {
  const Node* best = nullptr;
  bool feasible = false;
  for (const Node* n : nodes) {
    // Only active nodes make a task feasible: a draining node is leaving, a lost one may not
    // come back. Registered-but-failed-selftest nodes never count.
    if (n->state == NodeState::kActive && CanEverRun(needs, n->info)) feasible = true;
    if (!CanRunNow(needs, *n, excluded)) continue;
    if (best == nullptr || Prefer(n->info, best->info)) best = n;
  }
  if (best != nullptr) return Placement{PlacementOutcome::kPlaced, best->info.id, ""};
  if (feasible) {
    return Placement{PlacementOutcome::kRetryLater, "", "every node that fits is busy"};
  }
  return Placement{PlacementOutcome::kInfeasible, "",
                   "no active node passes selftest with the backend, memory and price needed"};
}

}  // namespace plume::scheduler
