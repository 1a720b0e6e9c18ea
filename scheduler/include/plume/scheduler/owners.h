// Independent providers, counted by owner. Keys cost nothing, so one owner may run many agent
// keys; an owner that declares its machines (Register.ownerAttestation, protocol/owner.h) is held
// to that: none of its machines judges another's run, and its machines together count as one
// voice when they call a task hopeless (retryable=false). A node without an attestation is its
// own owner. Pure functions of the node records, tested apart from the core (owners_test.cc);
// docs/verification.md "Owners" says what this does and does not protect against.
#pragma once

#include <map>
#include <set>
#include <string>

#include "plume/scheduler/types.h"

namespace plume::scheduler {

using OwnerId = std::string;  // hex ed25519 public key

// The owner a node is counted under: its declared owner, or itself.
inline const OwnerId& OwnerOf(const NodeInfo& n) { return n.owner.empty() ? n.id : n.owner; }

// The owners of `nodes`; a node the records do not hold counts as its own owner.
std::set<OwnerId> OwnersOf(const std::set<NodeId>& nodes, const std::map<NodeId, Node>& records);

// Whether a provider of owner `candidate` may audit or referee runs made by providers of the
// owners `judged`: only when it shares an owner with none of them.
bool IndependentOf(const OwnerId& candidate, const std::set<OwnerId>& judged);

// retryable=false is a provider's claim that a task cannot succeed anywhere. The job fails only
// when providers of this many different owners have made it.
inline constexpr size_t kNonRetryableOwnersToFail = 2;
// Whether the claims of providers of `reporter_owners` (distinct) fail the task's job.
bool NonRetryableFailsJob(const std::set<OwnerId>& reporter_owners);

}  // namespace plume::scheduler
