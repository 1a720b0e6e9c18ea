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

uint32_t DeviceCount(const NodeInfo& info) {
  if (info.backend == Backend::kCpu) return 1;
  uint64_t count = 0;
  for (const GpuInfo& g : info.gpus) count += g.count;
  // At most kNodeDevicesMax entries of u32 counts: fits a u64; clamp to a sane u32.
  return static_cast<uint32_t>(std::clamp<uint64_t>(count, 1, UINT32_MAX));
}

MicroPlume RequiredStake(const NodeInfo& info, MicroPlume min_stake_per_device) {
  if (min_stake_per_device <= 0) return 0;
  const __int128 need = static_cast<__int128>(min_stake_per_device) * DeviceCount(info);
  return need > std::numeric_limits<MicroPlume>::max() ? std::numeric_limits<MicroPlume>::max()
                                                       : static_cast<MicroPlume>(need);
}

bool StakeCovers(const Node& node, const Admission& admission) {
  return node.stake_micro_plume >=
         RequiredStake(node.info, admission.min_stake_per_device_micro_plume);
}

bool ReputationAdmits(const Node& node, const Admission& admission) {
  return ReputationPpm(node) >= admission.min_reputation_ppm;
}

bool Admitted(const Node& node, const Admission& admission) {
  return StakeCovers(node, admission) && ReputationAdmits(node, admission);
}

bool Eligible(const TaskNeeds& needs, const Node& node, const Admission& admission) {
  return CanEverRun(needs, node.info) && Admitted(node, admission);
}

bool CanRunNow(const TaskNeeds& needs, const Node& node, const std::set<NodeId>& excluded,
               const Admission& admission) {
  return node.state == NodeState::kActive && node.tasks.size() < kTasksPerNodeMax &&
         !excluded.contains(node.info.id) && Eligible(needs, node, admission);
}

uint32_t ReputationPpm(const Node& node) {
  const uint64_t ok = node.tasks_succeeded;
  const uint64_t all = ok + node.tasks_failed + node.tasks_lost + node.tasks_refused;
  // 128-bit: the counts are unbounded and the product must not wrap.
  const unsigned __int128 ppm = (static_cast<unsigned __int128>(ok) + 1) * 1'000'000 / (all + 2);
  return static_cast<uint32_t>(ppm);
}

bool PreferKey(MicroPlume price_a, uint32_t reputation_a, uint64_t flops_a, const NodeId& id_a,
               MicroPlume price_b, uint32_t reputation_b, uint64_t flops_b, const NodeId& id_b) {
  // price_a / rep_a < price_b / rep_b as exact fractions (reputations are > 0 but guard 0, which
  // only absurd counts reach); 63 + 20 bits fit in 128.
  const __int128 ra = std::max<uint32_t>(reputation_a, 1), rb = std::max<uint32_t>(reputation_b, 1);
  const __int128 lhs = static_cast<__int128>(price_a) * rb, rhs = static_cast<__int128>(price_b) * ra;
  if (lhs != rhs) return lhs < rhs;
  if (reputation_a != reputation_b) return reputation_a > reputation_b;
  if (flops_a != flops_b) return flops_a > flops_b;
  return id_a < id_b;
}

bool Prefer(const Node& a, const Node& b) {
  return PreferKey(a.info.price_micro_plume_per_pflop, ReputationPpm(a), a.info.flops_per_s,
                   a.info.id, b.info.price_micro_plume_per_pflop, ReputationPpm(b),
                   b.info.flops_per_s, b.info.id);
}

Placement Place(const TaskNeeds& needs, std::span<const Node* const> nodes,
                const std::set<NodeId>& excluded, const Admission& admission) {
  const Node* best = nullptr;
  bool feasible = false;
  bool under_stake = false, under_reputation = false;  // fitting active nodes kept out
  for (const Node* n : nodes) {
    // Only active nodes make a task feasible: a draining node is leaving, a lost one may not
    // come back. Registered-but-failed-selftest nodes never count.
    if (n->state == NodeState::kActive && CanEverRun(needs, n->info)) {
      if (Admitted(*n, admission)) feasible = true;
      under_stake |= !StakeCovers(*n, admission);
      under_reputation |= !ReputationAdmits(*n, admission);
    }
    if (!CanRunNow(needs, *n, excluded, admission)) continue;
    if (best == nullptr || Prefer(*n, *best)) best = n;
  }
  if (best != nullptr) return Placement{PlacementOutcome::kPlaced, best->info.id, ""};
  if (feasible) {
    return Placement{PlacementOutcome::kRetryLater, "", "every node that fits is busy"};
  }
  std::string reason =
      "no active node passes selftest with the backend, memory and price needed";
  if (under_stake || under_reputation) {
    reason += std::string(" and is admitted: fitting nodes have") +
              (under_stake ? " stake under the minimum per device" : "") +
              (under_stake && under_reputation ? " or" : "") +
              (under_reputation ? " reputation under the threshold" : "");
  }
  return Placement{PlacementOutcome::kInfeasible, "", std::move(reason)};
}

}  // namespace plume::scheduler
