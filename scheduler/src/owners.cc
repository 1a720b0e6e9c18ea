// Independent providers by owner (owners.h).
#include "plume/scheduler/owners.h"

namespace plume::scheduler {

std::set<OwnerId> OwnersOf(const std::set<NodeId>& nodes, const std::map<NodeId, Node>& records) {
  std::set<OwnerId> out;
  for (const NodeId& id : nodes) {
    auto it = records.find(id);
    out.insert(it == records.end() ? id : OwnerOf(it->second.info));
  }
  return out;
}

bool IndependentOf(const OwnerId& candidate, const std::set<OwnerId>& judged) {
  return !judged.contains(candidate);
}

bool NonRetryableFailsJob(const std::set<OwnerId>& reporter_owners) {
  return reporter_owners.size() >= kNonRetryableOwnersToFail;
}

}  // namespace plume::scheduler
