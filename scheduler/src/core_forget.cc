// Core: forgetting silent nodes and bounding the registry (limits.h kNodeForgetMsDefault,
// kNodesMax, kNodeRecordsMax). Keys are free: without this, every key that ever registered
// stayed listed and in the store for ever. What is forgotten is the registry entry; the track
// record stays, keyed by the agent key (NodeRecord), and comes back on the next registration.
#include <algorithm>

#include "core_impl.h"

namespace plume::scheduler {
namespace {

constexpr int64_t kForgetCheckMsMax = 60'000;
constexpr size_t kRoomCandidatesMax = 16;

NodeRecord RecordOf(const Node& n, int64_t now_ms) {
  return NodeRecord{n, now_ms};
}

// Anything in it that a fresh registration would not have.
bool HasHistory(const NodeRecord& r) {
  return !(static_cast<const NodeHistory&>(r) == NodeHistory{});
}

// What a cheater would like to lose: never dropped to make room.
bool BadHistory(const NodeRecord& r) {
  return r.tasks_failed > 0 || r.tasks_lost > 0 || r.tasks_refused > 0 || r.proven_faulty > 0 ||
         r.slashes > 0;
}

}  // namespace

bool Core::Impl::HasPendingWork(const NodeId& id) const {
  for (const auto& [tid, t] : s.tasks) {
    if (t.node == id && (active_jobs.contains(t.job) || window_tasks.contains(tid))) return true;
  }
  for (const TaskId& a : open_audits) {
    auto run = s.tasks.find(a);
    if (run == s.tasks.end()) continue;
    if (run->second.node == id) return true;
    auto orig = s.tasks.find(run->second.audit_of);
    if (orig != s.tasks.end() && orig->second.node == id) return true;
  }
  return false;
}

int64_t Core::Impl::HeardAt(const Node& n) const { return n.lease_expires_ms - config.lease_ms; }

bool Core::Impl::Forgettable(const Node& n) const {
  return (n.state == NodeState::kLost || n.state == NodeState::kGone) && n.tasks.empty() &&
         !HasPendingWork(n.info.id);
}

bool Core::Impl::Forget(const NodeId& id, const std::string& why) {
  const Node& n = s.nodes.at(id);
  const NodeRecord record = RecordOf(n, now);
  if (HasHistory(record) && !s.records.contains(id) && s.records.size() >= config.node_records_max) {
    // Room for one more: the oldest clean record goes; bad ones never do.
    auto victim = s.records.end();
    for (auto it = s.records.begin(); it != s.records.end(); ++it) {
      if (BadHistory(it->second)) continue;
      if (victim == s.records.end() || it->second.forgotten_at_ms < victim->second.forgotten_at_ms) {
        victim = it;
      }
    }
    if (victim == s.records.end()) return false;  // all bad: keep the node, listed as it is
    dirty_records.insert(victim->first);
    s.records.erase(victim);
  }
  if (HasHistory(record)) {
    s.records[id] = record;
    dirty_records.insert(id);
  }
  Unfree(n);
  Info("agent forgotten: " + why + (HasHistory(record) ? " (its record is kept)" : ""), "", "",
       id);
  s.nodes.erase(id);
  dirty_nodes.erase(id);
  dirty_forgotten.insert(id);
  return true;
}

void Core::Impl::ForgetSilentNodes() {
  // HasPendingWork walks the tasks, so the walk over the nodes runs every tenth of the forget
  // period (at most a minute apart), not on every tick.
  if (now < next_forget_check_ms) return;
  next_forget_check_ms =
      now + std::clamp<int64_t>(config.node_forget_ms / 10, 1'000, kForgetCheckMsMax);
  std::vector<NodeId> silent;
  for (const auto& [id, n] : s.nodes) {
    if (now - HeardAt(n) >= config.node_forget_ms && Forgettable(n)) silent.push_back(id);
  }
  for (const NodeId& id : silent) {
    (void)Forget(id, "not heard from for " + std::to_string(config.node_forget_ms / 1000) + " s");
  }
}

bool Core::Impl::MakeRoomForNode() {
  // The lost nodes silent for longest first; only a few are checked for pending work, so a
  // flood of registrations at a full registry costs one pass over the nodes each.
  std::vector<std::pair<int64_t, NodeId>> lost;
  for (const auto& [id, n] : s.nodes) {
    if ((n.state == NodeState::kLost || n.state == NodeState::kGone) && n.tasks.empty()) {
      lost.emplace_back(HeardAt(n), id);
    }
  }
  const size_t checked = std::min<size_t>(lost.size(), kRoomCandidatesMax);
  std::partial_sort(lost.begin(), lost.begin() + static_cast<ptrdiff_t>(checked), lost.end());
  for (size_t i = 0; i < checked; ++i) {
    if (!HasPendingWork(lost[i].second) && Forget(lost[i].second, "the registry is full")) {
      return true;
    }
  }
  return false;
}

bool Core::Impl::RoomForNode(const NodeId& id) {
  if (s.nodes.size() < config.nodes_max || MakeRoomForNode()) return true;
  const std::string why = "the scheduler's registry is full (" + std::to_string(s.nodes.size()) +
                          " nodes, none silent long enough to forget): try again later";
  Warn("agent registration refused: " + why, "", "", id);
  Emit(Rejected{id, "", why});
  return false;
}

void Core::Impl::RestoreRecord(Node& n) {
  auto it = s.records.find(n.info.id);
  if (it == s.records.end()) return;
  static_cast<NodeHistory&>(n) = it->second;
  s.records.erase(it);
  dirty_records.insert(n.info.id);
}

}  // namespace plume::scheduler
