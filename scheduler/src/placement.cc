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

uint32_t ReputationPpm(const Node& node) {
  const uint64_t ok = node.tasks_succeeded;
  const uint64_t all = ok + node.tasks_failed + node.tasks_lost + node.tasks_refused;
  // 128-bit: the counts are unbounded and the product must not wrap.
  const unsigned __int128 ppm = (static_cast<unsigned __int128>(ok) + 1) * 1'000'000 / (all + 2);
  return static_cast<uint32_t>(ppm);
}

bool Prefer(const Node& a, const Node& b) {
  if (a.info.price_micro_plume_per_pflop != b.info.price_micro_plume_per_pflop) {
    return a.info.price_micro_plume_per_pflop < b.info.price_micro_plume_per_pflop;
  }
  const uint32_t ra = ReputationPpm(a), rb = ReputationPpm(b);
  if (ra != rb) return ra > rb;
  if (a.info.flops_per_s != b.info.flops_per_s) return a.info.flops_per_s > b.info.flops_per_s;
  return a.info.id < b.info.id;
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
    if (best == nullptr || Prefer(*n, *best)) best = n;
  }
  if (best != nullptr) return Placement{PlacementOutcome::kPlaced, best->info.id, ""};
  if (feasible) {
    return Placement{PlacementOutcome::kRetryLater, "", "every node that fits is busy"};
  }
  return Placement{PlacementOutcome::kInfeasible, "",
                   "no active node passes selftest with the backend, memory and price needed"};
}

}  // namespace plume::scheduler
