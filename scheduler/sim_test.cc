// Deterministic simulation (FoundationDB-style): 1,000 virtual agents and hundreds of jobs under
// seeded kills, partitions (heartbeat losses that drop messages both ways), task failures,
// drains and cancels. Global invariants: every job ends succeeded/failed/cancelled, no task
// result is accepted (paid) twice, no task is assigned to or left on a lost node, no job pays
// beyond its budget. The same seed gives the same run; another seed a different one.
#include <gtest/gtest.h>

#include "sim_world.h"

namespace plume::scheduler {
namespace {

using testing::World;
using testing::WorldOptions;

TEST(Simulation, ThousandAgentsUnderFaultsKeepTheInvariants) {
  WorldOptions o;
  o.seed = 20261125;
  o.agents = 1000;
  o.cuda_agents = 50;
  o.jobs = 1500;
  o.faults = true;
  o.submit_window_ms = 600'000;
  o.task_ms_max = 60'000;
  World w(o, Config{});
  ASSERT_TRUE(w.Run(4 * 3'600'000)) << "jobs still open after 4 virtual hours";
  for (const auto& v : w.violations) ADD_FAILURE() << v;
  std::map<JobState, int> by_state;
  for (const auto& [id, j] : w.core().state().jobs) ++by_state[j.state];
  EXPECT_GT(w.kills, 500u);
  EXPECT_GT(w.silences, 500u);
  EXPECT_GT(by_state[JobState::kSucceeded], 1000);
  std::printf("virtual %lld s, %llu events, %llu assigns, %llu kills, %llu silences; "
              "succeeded %d failed %d cancelled %d\n",
              static_cast<long long>(w.now_ms / 1000), static_cast<unsigned long long>(w.events),
              static_cast<unsigned long long>(w.assigns), static_cast<unsigned long long>(w.kills),
              static_cast<unsigned long long>(w.silences), by_state[JobState::kSucceeded],
              by_state[JobState::kFailed], by_state[JobState::kCancelled]);
}

TEST(Simulation, SameSeedSameResult) {
  WorldOptions o;
  o.agents = 200;
  o.jobs = 60;
  o.faults = true;
  auto run = [&](uint64_t seed) {
    o.seed = seed;
    World w(o, Config{});
    EXPECT_TRUE(w.Run(4 * 3'600'000));
    EXPECT_TRUE(w.violations.empty());
    return w.Digest();
  };
  const std::string a = run(7);
  EXPECT_EQ(a, run(7));
  EXPECT_NE(a, run(8));
}

}  // namespace
}  // namespace plume::scheduler
