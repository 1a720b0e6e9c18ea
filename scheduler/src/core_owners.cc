// Scheduler core: who may judge whom. An audit or referee run goes to a provider of the
// original's kernel class whose owner made none of the runs it judges (owners.h): the placement
// pass (core_schedule.cc) and every "is there a peer at all" question of the audit and dispute
// code ask the same two functions here.
#include <algorithm>

#include "core_impl.h"

namespace plume::scheduler {

bool Core::Impl::HasPeer(const Job& job, const std::string& kernel_class,
                         const std::set<NodeId>& judged, const std::set<NodeId>& also_not) const {
  const TaskNeeds needs = NeedsOf(job.spec);
  const Admission rules = admission();
  const std::set<OwnerId> owners = OwnersOf(judged, s.nodes);
  return std::any_of(s.nodes.begin(), s.nodes.end(), [&](const auto& kv) {
    const Node& n = kv.second;
    return n.state == NodeState::kActive && n.info.kernel_class == kernel_class &&
           !judged.contains(kv.first) && !also_not.contains(kv.first) &&
           IndependentOf(OwnerOf(n.info), owners) && Eligible(needs, n, rules);
  });
}

std::set<NodeId> Core::Impl::JudgedNodes(const Task& a) const {
  if (a.audit_role != AuditRole::kAudit && a.audit_role != AuditRole::kReferee) return {};
  auto orig = s.tasks.find(a.audit_of);
  if (orig == s.tasks.end()) return {};
  std::set<NodeId> out{orig->second.node};
  if (a.audit_role == AuditRole::kReferee) {
    auto audit = s.tasks.find(a.audit_of + Suffix(AuditRole::kAudit));
    if (audit != s.tasks.end() && !audit->second.node.empty()) out.insert(audit->second.node);
  }
  out.erase(NodeId{});
  return out;
}

}  // namespace plume::scheduler
