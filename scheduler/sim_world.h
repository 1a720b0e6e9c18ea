// A deterministic simulated world around the scheduler core, for tests: virtual agents that
// run tasks for a random time, a ledger, an aggregator, and a network with per-sender FIFO
// delays. Faults (agent kills and revivals, heartbeat silences that drop messages both ways,
// task failures, drains, cancels) come from one seeded RNG, so a seed replays the same run.
// Optionally persists through a Store each step, and can "crash" the scheduler: drop the
// actions of the step it was in, reload the state from the store and continue.
//
// Invariants are checked while it runs and recorded in `violations` (empty when all held).
//
// The ledger is three maps by default; a SimLedger (sim_money.h: the real ledger::State) can
// stand in for them, and then also reports each agent's stake to the core (StakeChanged, after
// every registration and every slash), as the reactor does.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core_test_util.h"
#include "plume/scheduler/core.h"
#include "plume/scheduler/store.h"

namespace plume::scheduler::testing {

// The ledger side of a world: applies each ledger request the core makes (once per id; a repeat
// is answered with the first outcome) and knows each node's stake.
class SimLedger {
 public:
  virtual ~SimLedger() = default;
  // false: refused, with the reason (the world reports LedgerFailed). `core` is the state that
  // made the request (the receipt's price and fee come from its task and job, as in the reactor).
  virtual bool Apply(const LedgerOp& op, const State& core, std::string& refusal) = 0;
  // (free stake, unbonding) of a node.
  virtual std::pair<MicroPlume, MicroPlume> StakeOf(const NodeId& node) const = 0;
};

struct WorldOptions {
  uint64_t seed = 1;
  int agents = 10;
  int cuda_agents = 0;
  int jobs = 5;
  bool faults = false;
  int64_t step_ms = 500;
  int64_t heartbeat_ms = 3000;
  int64_t submit_window_ms = 60'000;
  int64_t task_ms_min = 1000;
  int64_t task_ms_max = 20'000;
  // Byzantine providers: the last `cheaters` agents return a wrong output hash on a fraction
  // `cheat_q` of their tasks. They cannot tell an audit run from any other task; with
  // `cheat_on_audits` false the world peeks at the core to spare audit runs (it isolates the
  // detection of a provider's own results, the path the analytic curve describes).
  int cheaters = 0;
  double cheat_q = 0;
  bool cheat_on_audits = true;
  // 0: all jobs are submitted within submit_window_ms. Otherwise only inference jobs of
  // `feed_shards` shards, submitted as others finish so that this many are open at a time.
  int open_jobs_max = 0;
  uint32_t feed_shards = 16;
  // Economics: every agent asks `price` (0: a random price, a few above any job's maximum), fed
  // jobs allow `max_price` (0: the spec's default), and a `ledger` replaces the maps.
  MicroPlume price = 0;
  MicroPlume max_price = 0;
  SimLedger* ledger = nullptr;
};

class World {
 public:
  World(WorldOptions o, Config c, Store* store = nullptr);

  // Runs until every job is terminal or max_ms of virtual time passed. True when all done.
  bool Run(int64_t max_ms);
  // Runs `steps` steps, then crashes the scheduler mid-step and restarts it from the store.
  void RunThenCrash(int steps);

  const Core& core() const { return *core_; }
  std::string Digest() const;

  std::vector<std::string> violations;
  int64_t now_ms = 0;
  uint64_t events = 0;
  uint64_t assigns = 0;
  uint64_t kills = 0;
  uint64_t silences = 0;
  std::map<JobId, MicroPlume> settled;  // per job, as applied by the ledger (once per op id)
  std::set<NodeId> cheating;           // the byzantine providers
  // The output an honest provider gives for a task's inputs (the sim's stand-in for a replay).
  static BlobHash HonestOutput(const JobId& job, TaskKind kind, uint32_t round, uint32_t shard,
                               const BlobHash& input);

 private:
  struct Held {
    uint32_t attempt = 0;
    int64_t done_at_ms = 0;
    bool fail = false;
    std::string honest_output;  // what every honest provider returns for this task
  };
  struct Agent {
    NodeInfo info;
    bool up = false;
    bool draining = false;
    int64_t down_until_ms = 0;
    int64_t silent_until_ms = 0;
    int64_t next_heartbeat_ms = 0;
    int64_t last_delivery_ms = 0;  // FIFO per sender
    std::map<TaskId, Held> held;
    double cheat_q = 0;
  };
  struct Pending {
    int64_t at_ms;
    uint64_t seq;
    bool operator<(const Pending& o) const { return at_ms != o.at_ms ? at_ms < o.at_ms : seq < o.seq; }
  };

  void Step(bool crash_after_save);
  void Send(Agent* from, Event e, int64_t delay_ms);
  void Register(Agent& a, int64_t delay_ms);  // AgentRegistered, then its stake
  void ApplyLedger(const LedgerOp& op);
  void Deliver(const Event& e, bool crash_after_save);
  void Act(const std::vector<Action>& actions, bool from_recover);
  void AgentsStep();
  void Faults();
  void CheckState();
  void Feed();  // open_jobs_max: keeps that many jobs open
  BlobHash Output(const Agent& a, const TaskId& task, const Held& h);
  int64_t Rand(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  WorldOptions o_;
  Config config_;
  Store* store_;
  std::unique_ptr<Core> core_;
  std::mt19937_64 rng_;
  std::vector<Agent> agents_;
  std::map<NodeId, size_t> agent_index_;
  std::map<Pending, Event> pending_;
  uint64_t seq_ = 0;
  std::set<std::string> ledger_applied_;
  std::map<std::string, std::string> ledger_refused_;  // op id -> reason (SimLedger only)
  std::map<std::string, int> settle_decisions_;  // settle op id -> times newly decided
  std::map<JobId, MicroPlume> held_;
  bool crashed_this_step_ = false;
  int submitted_ = 0;
  int finished_ = 0;
};

}  // namespace plume::scheduler::testing
