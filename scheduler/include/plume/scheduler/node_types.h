// Scheduler records of nodes (types.h): what an agent says about itself, what the core keeps
// about it while it is registered, and the track record kept once the registry forgets it.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "plume/scheduler/ids.h"

namespace plume::scheduler {

struct GpuInfo {
  std::string name;
  uint64_t memory_bytes = 0;
  uint32_t count = 0;

  bool operator==(const GpuInfo&) const = default;
};

// What an agent says about itself when it registers.
struct NodeInfo {
  NodeId id;
  std::string name;
  std::vector<GpuInfo> gpus;  // empty for a CPU-only agent
  uint64_t host_memory_bytes = 0;  // what a CPU-backend agent may use
  Backend backend = Backend::kCpu;
  bool selftest_passed = false;
  uint64_t flops_per_s = 0;  // measured by the agent's selftest
  MicroPlume price_micro_plume_per_pflop = 0;
  // Register.kernelBuild: the kernel class of the devices its tasks run on (kernel_class.h in
  // kernels). Replay audits compare bits only between providers of one class; any other text
  // (an older agent) is kept as sent and matches no other provider.
  std::string kernel_class;
  // Who operates the node: the hex key of the owner whose attestation the agent registered with
  // (protocol/owner.h, checked by the reactor), or empty: the node is its own owner. Audits,
  // referees and the retryable=false rule count providers by owner (owners.h).
  NodeId owner;

  bool operator==(const NodeInfo&) const = default;
};

enum class NodeState : uint8_t { kActive = 0, kDraining = 1, kLost = 2, kGone = 3 };

// A node's track record, for placement (ReputationPpm in placement.h) and audit rates. Kept
// across re-registrations, and in a NodeRecord once the registry forgets the node.
struct NodeHistory {
  uint64_t tasks_succeeded = 0;
  uint64_t tasks_failed = 0;  // failure reports, invalid results, task deadlines missed
  uint64_t tasks_lost = 0;    // assigned when the node's lease expired
  uint64_t tasks_refused = 0;  // results refused by the screens (never paid)
  // Replay audits (verify/audit.h ProviderRecord, less `refused`, which is tasks_refused): the
  // run of committed results since the last refusal or proven fault sets the audit rate.
  int64_t consecutive_valid = 0;
  int64_t results_valid = 0;    // committed results not proven wrong
  int64_t results_audited = 0;  // of its results, how many another provider re-ran
  int64_t proven_faulty = 0;    // its results (or audit runs) a referee proved wrong
  int64_t unaudited_no_peer = 0;  // drawn for an audit, but no other provider of its class
  uint64_t slashes = 0;           // proven faults a slash was decided for

  bool operator==(const NodeHistory&) const = default;
};

struct Node : NodeHistory {
  NodeInfo info;
  NodeState state = NodeState::kActive;
  int64_t registered_at_ms = 0;
  int64_t lease_expires_ms = 0;
  std::set<TaskId> tasks;  // assigned tasks; derived from Task::node, not stored separately
  // Stake (the ledger's stake:<k> and unbond:<k>), as the shell last reported it (StakeChanged).
  // Placement needs min stake per device of free stake; slashes reach both.
  MicroPlume stake_micro_plume = 0;      // free stake (stake:<k>)
  MicroPlume unbonding_micro_plume = 0;  // unbond:<k>: leaving, still slashable

  bool operator==(const Node&) const = default;
};

// What is kept of a node the registry forgot (Core: silent for Config::node_forget_ms, holding
// nothing): its track record, keyed by its agent key, so that going away and registering again
// never washes a record (docs/operators.md "Forgotten nodes"). The registry entry (name, GPUs,
// price, state) is what goes; an all-zero record is not kept, since re-registering gives the same.
struct NodeRecord : NodeHistory {
  int64_t forgotten_at_ms = 0;

  bool operator==(const NodeRecord&) const = default;
};

}  // namespace plume::scheduler
