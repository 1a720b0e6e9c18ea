// Forgetting silent nodes (core_forget.cc), on the pure core with a simulated clock: a node not
// heard from for the forget period and with nothing pending leaves the registry and the store;
// its track record stays keyed by its key, so going away does not wash a bad record; the
// registry and the kept records are bounded; 200 fake registrations do not stay for ever.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core_test_util.h"
#include "plume/scheduler/placement.h"
#include "plume/scheduler/store.h"

namespace plume::scheduler {
namespace {

using testing::Agent;
using testing::Blob;
using testing::Harness;
using testing::Only;

constexpr int64_t kLeaseMs = 10'000;
constexpr int64_t kForgetMs = 30'000;

Config Forgetful() {
  Config c = testing::NoAudits();
  c.lease_ms = kLeaseMs;
  c.node_forget_ms = kForgetMs;
  return c;
}

bool Listed(const Harness& h, const NodeId& id) { return h.core.state().nodes.contains(id); }

// Advances in 1 s ticks, heart-beating `alive` each second.
void RunFor(Harness& h, int64_t ms, const std::vector<NodeId>& alive = {}) {
  for (int64_t t = 0; t < ms; t += 1'000) {
    for (const NodeId& id : alive) h.Do(Heartbeat{id, {}});
    h.Advance(1'000);
  }
}

TEST(CoreForget, ASilentNodeWithNothingPendingIsForgottenAfterThePeriodOnly) {
  Harness h(Forgetful());
  h.Do(AgentRegistered{Agent("a")});
  h.Do(AgentRegistered{Agent("alive")});
  (void)h.core.TakeDirty();
  RunFor(h, kForgetMs - 2'000, {"alive"});
  ASSERT_EQ(h.core.state().nodes.at("a").state, NodeState::kLost);
  EXPECT_TRUE(Listed(h, "a")) << "lost, but not silent for the forget period yet";
  RunFor(h, 3'000, {"alive"});
  EXPECT_FALSE(Listed(h, "a"));
  EXPECT_TRUE(Listed(h, "alive")) << "a node that heartbeats is never forgotten";
  EXPECT_FALSE(h.core.state().records.contains("a")) << "nothing worth keeping: no record";
  const Dirty d = h.core.TakeDirty();
  EXPECT_EQ(d.forgotten_nodes, std::vector<NodeId>{"a"});
  for (const Node& n : d.nodes) EXPECT_NE(n.info.id, "a");
}

TEST(CoreForget, TwoHundredFakeRegistrationsAreGoneAfterTheForgetPeriod) {
  Harness h(Forgetful());
  for (int i = 0; i < 200; ++i) h.Do(AgentRegistered{Agent("fake" + std::to_string(i))});
  ASSERT_EQ(h.core.state().nodes.size(), 200u);
  RunFor(h, kLeaseMs + kForgetMs + 1'000);
  EXPECT_TRUE(h.core.state().nodes.empty());
  EXPECT_TRUE(h.core.state().records.empty());
}

TEST(CoreForget, ANodeWithAResultInItsChallengeWindowStaysUntilItIsSettled) {
  Config c = Forgetful();
  c.challenge_window_ms = 2 * kForgetMs;
  Harness h(c);
  h.Do(AgentRegistered{Agent("a")});
  h.Do(JobSubmitted{"g", "team", testing::InferSpec(1, 1)});
  ASSERT_EQ(h.TaskAt("g/s0").node, "a");
  h.Do(TaskSucceeded{"g/s0", 1, "a", Blob("out"), {}});
  ASSERT_EQ(h.JobAt("g").state, JobState::kSucceeded);
  RunFor(h, kLeaseMs + kForgetMs + 1'000);
  EXPECT_TRUE(Listed(h, "a")) << "its pay is still in the challenge window";
  RunFor(h, c.challenge_window_ms);
  EXPECT_FALSE(Listed(h, "a"));
  ASSERT_TRUE(h.core.state().records.contains("a")) << "a record with history is kept";
  EXPECT_EQ(h.core.state().records.at("a").tasks_succeeded, 1u);
  // The key registers again: its record is back and the kept copy gone.
  h.Do(AgentRegistered{Agent("a")});
  EXPECT_EQ(h.core.state().nodes.at("a").tasks_succeeded, 1u);
  EXPECT_FALSE(h.core.state().records.contains("a"));
}

// A provider with a refused result leaves and comes back: its record (and so its reputation and
// audit trust run) is what it was, not a fresh one's.
TEST(CoreForget, GoingAwayDoesNotWashABadRecord) {
  Harness h(Forgetful());
  h.Do(AgentRegistered{Agent("cheat")});
  h.Do(JobSubmitted{"g", "team", testing::InferSpec(1, 1)});
  h.Do(TaskRefused{"g/s0", 1, "cheat", Blob("junk"), "malformed", "not JSON"});
  h.Do(CancelJob{"g", "team"});
  const Node before = h.core.state().nodes.at("cheat");
  ASSERT_EQ(before.tasks_refused, 1u);
  const uint32_t reputation = ReputationPpm(before);
  ASSERT_LT(reputation, ReputationPpm(Node{}));
  RunFor(h, kLeaseMs + kForgetMs + 1'000);
  ASSERT_FALSE(Listed(h, "cheat"));
  h.Do(AgentRegistered{Agent("cheat")});
  const Node& after = h.core.state().nodes.at("cheat");
  EXPECT_EQ(after.tasks_refused, 1u);
  EXPECT_EQ(after.consecutive_valid, before.consecutive_valid);
  EXPECT_EQ(ReputationPpm(after), reputation);
}

TEST(CoreForget, TheRegistryIsCappedAndMakesRoomFromLostNodesOnly) {
  Config c = Forgetful();
  c.nodes_max = 3;
  Harness h(c);
  for (const char* id : {"a", "b", "c"}) h.Do(AgentRegistered{Agent(id)});
  auto refused = Only<Rejected>(h.Do(AgentRegistered{Agent("d")}));
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_NE(refused[0].reason.find("registry is full"), std::string::npos) << refused[0].reason;
  EXPECT_FALSE(Listed(h, "d"));
  // A known key may always register again (a price change, a restart).
  EXPECT_TRUE(Only<Rejected>(h.Do(AgentRegistered{Agent("b", 200)})).empty());
  // "a" stops heart-beating and is lost: a new key takes its place before the forget period.
  RunFor(h, kLeaseMs + 1'000, {"b", "c"});
  ASSERT_EQ(h.core.state().nodes.at("a").state, NodeState::kLost);
  EXPECT_TRUE(Only<Rejected>(h.Do(AgentRegistered{Agent("d")})).empty());
  EXPECT_TRUE(Listed(h, "d"));
  EXPECT_FALSE(Listed(h, "a"));
  EXPECT_EQ(h.core.state().nodes.size(), 3u);
}

TEST(CoreForget, KeptRecordsAreBoundedAndABadOneIsNeverDropped) {
  Config c = Forgetful();
  c.node_records_max = 1;
  Harness h(c);
  // "good" has a clean history (one paid result); "bad" a refused one; "worse" too.
  h.Do(AgentRegistered{Agent("good")});
  h.Do(JobSubmitted{"g", "team", testing::InferSpec(1, 1)});
  h.Do(TaskSucceeded{"g/s0", 1, "good", Blob("out"), {}});
  RunFor(h, kLeaseMs + kForgetMs + kChallengeWindowMsDefault);
  ASSERT_TRUE(h.core.state().records.contains("good"));
  for (const char* id : {"bad", "worse"}) {
    const std::string job = std::string("j-") + id;
    h.Do(AgentRegistered{Agent(id)});
    h.Do(JobSubmitted{job, "team", testing::InferSpec(1, 1)});
    h.Do(TaskRefused{job + "/s0", 1, id, Blob("junk"), "malformed", "not JSON"});
    h.Do(CancelJob{job, "team"});
    RunFor(h, kLeaseMs + kForgetMs + 1'000);
  }
  EXPECT_FALSE(h.core.state().records.contains("good")) << "the clean record made room";
  EXPECT_TRUE(h.core.state().records.contains("bad"));
  EXPECT_EQ(h.core.state().records.size(), 1u);
  EXPECT_TRUE(Listed(h, "worse")) << "no room without dropping a bad record: stays listed";
}

TEST(CoreForget, ForgottenNodesAndKeptRecordsSurviveARestart) {
  const auto db = std::filesystem::temp_directory_path() /
                  ("plume-forget-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(db);
  Harness h(Forgetful());
  h.Do(AgentRegistered{Agent("cheat")});
  h.Do(AgentRegistered{Agent("fake")});
  h.Do(JobSubmitted{"g", "team", testing::InferSpec(1, 1)});
  const NodeId cheat = h.TaskAt("g/s0").node;
  const NodeId fake = cheat == "cheat" ? "fake" : "cheat";
  h.Do(TaskRefused{"g/s0", 1, cheat, Blob("junk"), "malformed", "not JSON"});
  h.Do(CancelJob{"g", "team"});
  {
    auto store = Store::Open(db);
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(store->Save(h.core.TakeDirty()));  // both saved as registered nodes
    RunFor(h, kLeaseMs + kForgetMs + 1'000);
    ASSERT_TRUE(h.core.state().nodes.empty());
    ASSERT_TRUE(store->Save(h.core.TakeDirty()));
  }
  auto store = Store::Open(db);
  ASSERT_TRUE(store) << store.error().message;
  auto loaded = store->Load();
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_TRUE(loaded->nodes.empty());
  ASSERT_EQ(loaded->records.size(), 1u);
  EXPECT_EQ(loaded->records.at(cheat).tasks_refused, 1u);
  EXPECT_FALSE(loaded->records.contains(fake));
  Core again(Forgetful(), std::move(*loaded));
  again.Handle(h.now_ms + 1, AgentRegistered{Agent(cheat)});
  EXPECT_EQ(again.state().nodes.at(cheat).tasks_refused, 1u);
  // Registered again and saved: its rows are back, the kept record is gone, also after a reload.
  ASSERT_TRUE(store->Save(again.TakeDirty()));
  auto reloaded = store->Load();
  ASSERT_TRUE(reloaded) << reloaded.error().message;
  EXPECT_EQ(reloaded->nodes.at(cheat).tasks_refused, 1u);
  EXPECT_TRUE(reloaded->records.empty());
  std::filesystem::remove(db);
}

}  // namespace
}  // namespace plume::scheduler
