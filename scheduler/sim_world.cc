// The simulated world of sim_world.h: agents, network, ledger and aggregator around a Core.
#include "sim_world.h"

#include <algorithm>
#include <functional>

namespace plume::scheduler::testing {
namespace {

bool ActsOnTheWorld(const std::vector<Action>& acts) {
  return std::any_of(acts.begin(), acts.end(),
                     [](const Action& a) { return !std::holds_alternative<Log>(a); });
}

JobSpec RandomSpec(std::mt19937_64& rng, bool cuda) {
  auto r = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  JobSpec s;
  if (r(0, 1) == 0) {
    s = TrainSpec(static_cast<uint32_t>(r(1, 8)), static_cast<uint32_t>(r(1, 3)),
                  r(30'000, 90'000));
  } else {
    const auto prompts = static_cast<uint32_t>(r(1, 100));
    s = InferSpec(prompts, static_cast<uint32_t>(r(1, std::min<int64_t>(16, prompts))));
  }
  if (cuda) {
    s.backend = Backend::kCuda;
    s.budget_micro_plume = MaxJobCostMicroPlume(s);
  }
  return s;
}

}  // namespace

World::World(WorldOptions o, Config c, Store* store)
    : o_(o), config_(c), store_(store), core_(std::make_unique<Core>(c)), rng_(o.seed) {
  for (int i = 0; i < o_.agents; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "agent-%05d", i);
    const bool cuda = i < o_.cuda_agents;
    // A few agents ask more than any job pays: they must never be given work.
    const MicroPlume price = o_.price > 0 ? o_.price : Chance(0.05) ? 5000 : Rand(50, 500);
    Agent a;
    a.info = testing::Agent(id, price, static_cast<uint64_t>(Rand(1, 100)) * 1'000'000'000,
                            cuda ? Backend::kCuda : Backend::kCpu);
    a.up = true;
    a.next_heartbeat_ms = Rand(0, o_.heartbeat_ms);
    if (i >= o_.agents - o_.cheaters) {
      a.cheat_q = o_.cheat_q;
      cheating.insert(a.info.id);
    }
    agent_index_[a.info.id] = agents_.size();
    agents_.push_back(std::move(a));
  }
  for (Agent& a : agents_) Register(a, Rand(0, 2000));
  if (o_.open_jobs_max > 0) return;  // Feed() submits them
  for (int j = 0; j < o_.jobs; ++j) {
    const JobId id = "job-" + std::to_string(j);
    const bool cuda = Chance(0.05);
    Send(nullptr, JobSubmitted{id, "client-" + std::to_string(j % 7), RandomSpec(rng_, cuda)},
         Rand(0, o_.submit_window_ms));
  }
}

void World::Send(Agent* from, Event e, int64_t delay_ms) {
  int64_t at = now_ms + delay_ms;
  if (from != nullptr) {
    at = std::max(at, from->last_delivery_ms);  // one connection: first sent, first delivered
    from->last_delivery_ms = at;
  }
  pending_.emplace(Pending{at, seq_++}, std::move(e));
}

void World::Register(Agent& a, int64_t delay_ms) {
  Send(&a, AgentRegistered{a.info}, delay_ms);
  if (o_.ledger == nullptr) return;
  const auto [staked, unbonding] = o_.ledger->StakeOf(a.info.id);
  Send(&a, StakeChanged{a.info.id, staked, unbonding}, 0);  // FIFO: right after the register
}

void World::ApplyLedger(const LedgerOp& op) {
  // Once per id, as the ledger does; a re-sent request gets the first answer again.
  if (ledger_applied_.insert(op.id).second) {
    std::string refusal;
    if (!o_.ledger->Apply(op, core_->state(), refusal)) ledger_refused_[op.id] = refusal;
    if (op.kind == LedgerOpKind::kSlash && !ledger_refused_.contains(op.id)) {
      auto it = agent_index_.find(op.node);
      if (it != agent_index_.end()) {  // the reactor reports a slashed node's stake
        const auto [staked, unbonding] = o_.ledger->StakeOf(op.node);
        Send(nullptr, StakeChanged{op.node, staked, unbonding}, Rand(0, 50));
      }
    }
  }
  if (auto refused = ledger_refused_.find(op.id); refused != ledger_refused_.end()) {
    Send(nullptr, LedgerFailed{op.id, refused->second}, Rand(0, 50));
  } else {
    Send(nullptr, LedgerApplied{op.id}, Rand(0, 50));
  }
}

void World::Deliver(const Event& e, bool crash_after_save) {
  std::vector<Action> acts = core_->Handle(now_ms, e);
  ++events;
  if (store_ != nullptr) {
    if (auto st = store_->Save(core_->TakeDirty()); !st) violations.push_back(st.error().message);
  }
  if (crash_after_save && !crashed_this_step_ &&
      (ActsOnTheWorld(acts) || std::holds_alternative<Tick>(e))) {
    // Killed after the commit, before acting: these actions are lost with the process.
    crashed_this_step_ = true;
    auto loaded = store_->Load();
    if (!loaded) {
      violations.push_back("reload failed: " + loaded.error().message);
      return;
    }
    core_ = std::make_unique<Core>(config_, std::move(*loaded));
    acts = core_->Recover(now_ms);
    if (auto st = store_->Save(core_->TakeDirty()); !st) violations.push_back(st.error().message);
    Act(acts, true);
    return;
  }
  Act(acts, false);
}

void World::Act(const std::vector<Action>& actions, bool from_recover) {
  const State& s = core_->state();
  for (const Action& action : actions) {
    if (const auto* a = std::get_if<SendTaskAssign>(&action)) {
      ++assigns;
      const NodeState ns = s.nodes.at(a->node).state;
      if (ns != NodeState::kActive && !(from_recover && ns == NodeState::kDraining)) {
        violations.push_back("task " + a->task + " assigned to " + Name(ns) + " node " + a->node);
      }
      auto it = agent_index_.find(a->node);
      if (it == agent_index_.end()) continue;
      Agent& ag = agents_[it->second];
      if (!ag.up || now_ms < ag.silent_until_ms) continue;  // the message is lost
      auto held = ag.held.find(a->task);
      if (held != ag.held.end() && held->second.attempt == a->attempt) continue;  // duplicate
      ag.held[a->task] = Held{a->attempt, now_ms + Rand(o_.task_ms_min, o_.task_ms_max),
                              o_.faults && Chance(0.05),
                              HonestOutput(a->job, a->kind, a->round, a->shard,
                                           a->input_params_blob)};
    } else if (const auto* c = std::get_if<SendTaskCancel>(&action)) {
      auto it = agent_index_.find(c->node);
      if (it == agent_index_.end()) continue;
      auto& held = agents_[it->second].held;
      if (auto h = held.find(c->task); h != held.end() && h->second.attempt == c->attempt) {
        held.erase(h);
      }
    } else if (const auto* g = std::get_if<AggregateRound>(&action)) {
      std::string all = g->job + "/" + std::to_string(g->round) + g->input_params_blob;
      for (const BlobHash& d : g->deltas) all += d;
      Send(nullptr, RoundAggregated{g->job, g->round, Blob(all)}, Rand(50, 500));
    } else if (const auto* l = std::get_if<LedgerRequest>(&action)) {
      const LedgerOp& op = l->op;
      if (op.kind == LedgerOpKind::kSettle && !from_recover && ++settle_decisions_[op.id] > 1) {
        violations.push_back("result accepted twice: " + op.task);
      }
      const bool first = !ledger_applied_.contains(op.id);
      if (o_.ledger != nullptr) {
        ApplyLedger(op);
        if (ledger_refused_.contains(op.id)) continue;
      } else {
        ledger_applied_.insert(op.id);
        Send(nullptr, LedgerApplied{op.id}, Rand(0, 50));
      }
      if (first) {
        if (op.kind == LedgerOpKind::kHold) held_[op.job] = op.amount_micro_plume;
        if (op.kind == LedgerOpKind::kSettle) {
          settled[op.job] += op.amount_micro_plume;
          if (settled[op.job] > held_[op.job]) violations.push_back("overspent escrow: " + op.job);
        }
      }
    } else if (std::holds_alternative<JobFinished>(action)) {
      ++finished_;
    } else if (const auto* r = std::get_if<Rejected>(&action)) {
      // An agent the scheduler does not know (or forgot) registers again.
      if (auto it = agent_index_.find(r->to); it != agent_index_.end() && agents_[it->second].up) {
        Register(agents_[it->second], 0);
      }
    }
  }
}

void World::AgentsStep() {
  for (Agent& a : agents_) {
    if (!a.up) {
      if (a.down_until_ms != 0 && now_ms >= a.down_until_ms) {  // restarted agent
        a.up = true;
        a.draining = false;
        a.down_until_ms = 0;
        a.next_heartbeat_ms = now_ms + o_.heartbeat_ms;
        Register(a, Rand(0, 200));
      }
      continue;
    }
    if (now_ms < a.silent_until_ms) continue;  // partitioned: nothing gets out
    for (auto it = a.held.begin(); it != a.held.end();) {
      if (it->second.done_at_ms > now_ms) {
        ++it;
        continue;
      }
      if (it->second.fail) {
        Send(&a, TaskFailed{it->first, it->second.attempt, a.info.id, "simulated fault"},
             Rand(1, 300));
      } else {
        Send(&a, TaskSucceeded{it->first, it->second.attempt, a.info.id,
                               Output(a, it->first, it->second), TaskMetrics{2.0, 100, 100}},
             Rand(1, 300));
      }
      it = a.held.erase(it);
    }
    if (now_ms >= a.next_heartbeat_ms) {
      Heartbeat hb{a.info.id, {}};
      for (const auto& [task, h] : a.held) hb.held.push_back(TaskProgress{task, h.attempt, 1, 3.0});
      Send(&a, std::move(hb), Rand(1, 300));
      a.next_heartbeat_ms = now_ms + o_.heartbeat_ms;
    }
    if (a.draining && a.held.empty()) {
      Send(&a, AgentGone{a.info.id}, Rand(1, 300));
      a.up = false;
      a.down_until_ms = now_ms + Rand(30'000, 120'000);
    }
  }
}

void World::Faults() {
  if (agents_.empty()) return;
  auto pick = [this]() -> Agent& {
    return agents_[static_cast<size_t>(Rand(0, static_cast<int64_t>(agents_.size()) - 1))];
  };
  // Fault rates scale with the fleet: about one trial per hundred agents per step.
  const size_t trials = std::max<size_t>(1, agents_.size() / 100);
  for (size_t i = 0; i < trials; ++i) {
    Agent& victim = pick();
    if (victim.up && Chance(0.3)) {  // SIGKILL: running tasks and unsent results are gone
      victim.up = false;
      victim.held.clear();
      victim.down_until_ms = now_ms + Rand(5'000, 120'000);
      ++kills;
    }
    Agent& quiet = pick();
    if (quiet.up && Chance(0.3)) {  // a partition, shorter or longer than a lease
      quiet.silent_until_ms = now_ms + Rand(2'000, 20'000);
      ++silences;
    }
    Agent& leaving = pick();
    if (leaving.up && !leaving.draining && Chance(0.02)) {
      leaving.draining = true;
      Send(&leaving, AgentDraining{leaving.info.id}, Rand(1, 300));
    }
  }
  if (Chance(0.01) && !core_->state().jobs.empty()) {
    auto it = core_->state().jobs.begin();
    std::advance(it, Rand(0, static_cast<int64_t>(core_->state().jobs.size()) - 1));
    Send(nullptr, CancelJob{it->first, it->second.owner}, Rand(0, 1000));
  }
}

namespace {

// A 256-bit stand-in for an output hash: distinct tags give distinct values (testing::Blob
// repeats after 16 digits, so two wrong outputs could agree and look like a majority).
BlobHash OutputHash(const std::string& tag) {
  static const char* kHex = "0123456789abcdef";
  std::string h;
  uint64_t x = std::hash<std::string>{}(tag);
  for (int word = 0; word < 4; ++word) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);  // splitmix64
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    for (int i = 0; i < 16; ++i, z >>= 4) h.push_back(kHex[z & 15]);
  }
  return h;
}

}  // namespace

BlobHash World::HonestOutput(const JobId& job, TaskKind kind, uint32_t round, uint32_t shard,
                              const BlobHash& input) {
  return OutputHash("out:" + job + "/" + Name(kind) + "/" + std::to_string(round) + "/" +
              std::to_string(shard) + "/" + input);
}

BlobHash World::Output(const Agent& a, const TaskId& task, const Held& h) {
  if (a.cheat_q <= 0 || !Chance(a.cheat_q)) return h.honest_output;
  if (!o_.cheat_on_audits) {
    const auto& tasks = core_->state().tasks;
    if (auto t = tasks.find(task); t != tasks.end() && t->second.audit_role != AuditRole::kNone) {
      return h.honest_output;
    }
  }
  // A wrong output that differs from every other run (cheaters do not collude here).
  return OutputHash("cheat:" + a.info.id + "/" + task + "/" + std::to_string(h.attempt) + "/" +
              std::to_string(now_ms));
}

void World::Feed() {
  while (submitted_ < o_.jobs && submitted_ - finished_ < o_.open_jobs_max) {
    const JobId id = "job-" + std::to_string(submitted_);
    JobSpec spec = InferSpec(o_.feed_shards, o_.feed_shards);
    if (o_.max_price > 0) {
      spec.max_price_micro_plume_per_pflop = o_.max_price;
      spec.budget_micro_plume = MaxJobCostMicroPlume(spec);
    }
    Send(nullptr, JobSubmitted{id, "client-" + std::to_string(submitted_ % 7), std::move(spec)}, 0);
    ++submitted_;
  }
}

void World::CheckState() {
  const State& s = core_->state();
  for (const auto& [id, t] : s.tasks) {
    if (t.state != TaskState::kAssigned) continue;
    const NodeState ns = s.nodes.at(t.node).state;
    if (ns != NodeState::kActive && ns != NodeState::kDraining) {
      violations.push_back("task " + id + " still assigned to " + Name(ns) + " node " + t.node);
    }
  }
}

void World::Step(bool crash_after_save) {
  now_ms += o_.step_ms;
  crashed_this_step_ = false;
  AgentsStep();
  if (o_.open_jobs_max > 0) Feed();
  if (o_.faults) Faults();
  while (!pending_.empty() && pending_.begin()->first.at_ms <= now_ms) {
    const Event e = std::move(pending_.begin()->second);
    pending_.erase(pending_.begin());
    Deliver(e, crash_after_save);
  }
  Deliver(Tick{}, crash_after_save);
  if ((now_ms / o_.step_ms) % 20 == 0) CheckState();
}

void World::RunThenCrash(int steps) {
  for (int i = 0; i < steps; ++i) Step(false);
  Step(true);
}

bool World::Run(int64_t max_ms) {
  const int64_t end_ms = now_ms + max_ms;
  auto done = [this] {
    if (now_ms <= o_.submit_window_ms) return false;
    if (core_->state().jobs.size() != static_cast<size_t>(o_.jobs)) return false;
    for (const auto& [id, j] : core_->state().jobs) {
      if (!IsTerminal(j.state)) return false;
    }
    // Audits outlive their jobs: done when the last verdict is in, and every result's pay has
    // been decided (its challenge window passed) and carried out by the ledger.
    if (core_->open_audits() != 0 || !core_->state().outbox.empty()) return false;
    for (const auto& [id, t] : core_->state().tasks) {
      if (t.state == TaskState::kSucceeded && t.settle == SettleState::kNone) return false;
    }
    return true;
  };
  while (now_ms < end_ms && !done()) Step(false);
  CheckState();
  // No honest provider is ever convicted, and no run proven faulty is ever settled.
  for (const auto& [id, v] : core_->state().verdicts) {
    if (v.faulty.empty()) continue;
    if (!cheating.contains(v.faulty)) {
      violations.push_back("honest provider convicted: " + id + " original " + v.original_node +
                           " " + v.original_output.substr(0, 8) + ", audit " + v.audit_node +
                           " " + v.audit_output.substr(0, 8) + ", referee " + v.referee_node +
                           " " + v.referee_output.substr(0, 8));
    }
    const TaskId run = v.faulty == v.original_node ? id : id + "/audit";
    if (ledger_applied_.contains("settle:" + run)) violations.push_back("faulty run paid: " + run);
  }
  for (const auto& [id, j] : core_->state().jobs) {
    if (j.paid_micro_plume > j.spec.budget_micro_plume) violations.push_back("over budget: " + id);
    if (settled[id] != j.paid_micro_plume) violations.push_back("ledger differs from job: " + id);
    if (j.state != JobState::kSucceeded) continue;
    const size_t want = j.spec.kind == JobKind::kTrain ? 1 : j.spec.infer.shards;
    if (j.outputs.size() != want ||
        std::any_of(j.outputs.begin(), j.outputs.end(), [](auto& b) { return b.empty(); })) {
      violations.push_back("succeeded job without all outputs: " + id);
    }
  }
  return done();
}

std::string World::Digest() const {
  std::string all;
  for (const auto& [id, j] : core_->state().jobs) {
    all += id + ":" + Name(j.state) + ":" + std::to_string(j.paid_micro_plume) + ":";
    for (const BlobHash& b : j.outputs) all += b;
    all += ";";
  }
  all += std::to_string(events) + "/" + std::to_string(assigns) + "/" + std::to_string(now_ms);
  return std::to_string(std::hash<std::string>{}(all));
}

}  // namespace plume::scheduler::testing
