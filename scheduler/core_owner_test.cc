// Owners in the scheduler core (owners.h): an audit or a referee is never placed on a machine
// of an owner whose run it judges, even when that machine is preferred (cheaper) and free, and
// it is placed on another owner's; an owner's machines alone are no peer for an audit. A
// retryable=false claim from several machines of one owner is one owner's claim: the job does
// not fail, the task runs on another owner's machine. Each test with an owner check has a twin
// where the same machines declare no owner, so the test fails if the check is taken out.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "core_test_util.h"
#include "plume/scheduler/store.h"

namespace plume::scheduler {
namespace {

using testing::Agent;
using testing::Blob;
using testing::Harness;
using testing::InferSpec;
using testing::Only;

NodeInfo Owned(const std::string& id, const std::string& owner, MicroPlume price) {
  NodeInfo n = Agent(id, price);
  n.owner = owner;
  return n;
}

TaskSucceeded Result(const SendTaskAssign& a, const std::string& output) {
  return TaskSucceeded{a.task, a.attempt, a.node, Blob(output), TaskMetrics{1.0, 10, 10}};
}

std::string Honest(const SendTaskAssign& a) {
  return "out:" + a.job + "/" + std::to_string(a.shard) + a.input_params_blob;
}

// The original runs on "a"; "a2" (cheaper than "c") and "c" join; returns where the audit went.
std::vector<SendTaskAssign> AuditOfA(Harness& h, const std::string& a2_owner) {
  h.Do(AgentRegistered{Owned("a", "alice", 10)});
  auto first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "team", InferSpec(4, 1)}));
  EXPECT_EQ(first.at(0).node, "a");
  h.Do(AgentRegistered{Owned("a2", a2_owner, 20)});
  h.Do(AgentRegistered{Owned("c", "carol", 50)});
  return Only<SendTaskAssign>(h.Do(Result(first[0], Honest(first[0]))));
}

TEST(CoreOwner, AnAuditGoesToAnotherOwnerNotToTheOriginalOwnersCheaperMachine) {
  Harness h(Config{});
  auto audit = AuditOfA(h, "alice");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].node, "c");
  h.Do(Result(audit[0], Honest(audit[0])));
  EXPECT_EQ(h.TaskAt("j/s0").audit, AuditStatus::kMatched);
}

TEST(CoreOwner, TwinWithoutTheOwnerTheCheaperMachineAudits) {
  Harness h(Config{});
  auto audit = AuditOfA(h, "");  // a2 declares no owner: its own, so independent of alice
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].node, "a2");
}

TEST(CoreOwner, AnOwnersOtherMachinesAreNoPeerForAnAudit) {
  Harness h(Config{});
  h.Do(AgentRegistered{Owned("a", "alice", 10)});
  auto first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "team", InferSpec(4, 1)}));
  h.Do(AgentRegistered{Owned("a2", "alice", 20)});
  h.Do(AgentRegistered{Owned("a3", "alice", 30)});
  EXPECT_TRUE(Only<SendTaskAssign>(h.Do(Result(first.at(0), Honest(first[0])))).empty());
  EXPECT_EQ(h.TaskAt("j/s0").audit, AuditStatus::kNoPeer);
  EXPECT_EQ(h.core.state().nodes.at("a").unaudited_no_peer, 1);
  // Stands unaudited: final when its challenge window has passed, as with no peer at all.
  h.Advance(kChallengeWindowMsDefault);
  EXPECT_TRUE(std::any_of(h.ledger.begin(), h.ledger.end(), [](const LedgerOp& op) {
    return op.kind == LedgerOpKind::kSettle && op.task == "j/s0";
  }));
}

TEST(CoreOwner, ARefereeIsOfNeitherDisputantsOwner) {
  Harness h(Config{});
  h.Do(AgentRegistered{Owned("a", "alice", 10)});
  auto first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "team", InferSpec(4, 1)}));
  h.Do(AgentRegistered{Owned("c", "carol", 30)});
  auto audit = Only<SendTaskAssign>(h.Do(Result(first.at(0), "junk")));
  ASSERT_EQ(audit.at(0).node, "c");
  // Free and cheaper than dave: a machine of each disputant's owner.
  h.Do(AgentRegistered{Owned("a2", "alice", 20)});
  h.Do(AgentRegistered{Owned("c2", "carol", 35)});
  h.Do(AgentRegistered{Owned("d", "dave", 60)});
  auto referee = Only<SendTaskAssign>(h.Do(Result(audit[0], Honest(audit[0]))));
  ASSERT_EQ(referee.size(), 1u);
  EXPECT_EQ(referee[0].node, "d");
  h.Do(Result(referee[0], Honest(referee[0])));
  EXPECT_EQ(h.TaskAt("j/s0").audit, AuditStatus::kOriginalFaulty);
  EXPECT_EQ(h.core.state().verdicts.at("j/s0").faulty, "a");
}

TEST(CoreOwner, WithOnlyTheDisputantsOwnersLeftTheDisputeIsUndecided) {
  Harness h(Config{});
  h.Do(AgentRegistered{Owned("a", "alice", 10)});
  auto first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "team", InferSpec(4, 1)}));
  h.Do(AgentRegistered{Owned("c", "carol", 30)});
  auto audit = Only<SendTaskAssign>(h.Do(Result(first.at(0), "junk")));
  h.Do(AgentRegistered{Owned("a2", "alice", 20)});
  h.Do(AgentRegistered{Owned("c2", "carol", 35)});
  EXPECT_TRUE(Only<SendTaskAssign>(h.Do(Result(audit.at(0), Honest(audit[0])))).empty());
  EXPECT_EQ(h.TaskAt("j/s0").audit, AuditStatus::kUndecided);
  EXPECT_EQ(h.core.state().nodes.at("a").proven_faulty, 0);  // nobody convicted by a friend
}

// k1 and k2 are one owner's; c another's, dearer. Both of the owner's machines claim the task
// cannot succeed: one voice, so the task goes on to c and the job succeeds.
TEST(CoreOwner, RetryableFalseFromTwoMachinesOfOneOwnerDoesNotFailTheJob) {
  Harness h;
  h.Do(AgentRegistered{Owned("k1", "mallory", 10)});
  h.Do(AgentRegistered{Owned("k2", "mallory", 20)});
  h.Do(AgentRegistered{Owned("c", "carol", 30)});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "team", InferSpec(4, 1)}));
  ASSERT_EQ(a.at(0).node, "k1");
  auto b = Only<SendTaskAssign>(h.Do(TaskFailed{a[0].task, a[0].attempt, "k1", "bad data", false}));
  ASSERT_EQ(b.at(0).node, "k2");
  auto c = Only<SendTaskAssign>(h.Do(TaskFailed{b[0].task, b[0].attempt, "k2", "bad data", false}));
  EXPECT_EQ(h.JobAt("j").state, JobState::kRunning);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].node, "c");
  EXPECT_EQ(h.TaskAt("j/s0").nonretryable_from, (std::set<NodeId>{"k1", "k2"}));
  h.Do(Result(c[0], Honest(c[0])));
  EXPECT_EQ(h.JobAt("j").state, JobState::kSucceeded);
}

TEST(CoreOwner, TwinWithoutTheOwnerTheSecondMachinesClaimFailsTheJob) {
  Harness h;
  h.Do(AgentRegistered{Owned("k1", "mallory", 10)});
  h.Do(AgentRegistered{Owned("k2", "", 20)});
  h.Do(AgentRegistered{Owned("c", "carol", 30)});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "team", InferSpec(4, 1)}));
  auto b = Only<SendTaskAssign>(h.Do(TaskFailed{a.at(0).task, a[0].attempt, "k1", "bad", false}));
  h.Do(TaskFailed{b.at(0).task, b[0].attempt, "k2", "bad", false});
  EXPECT_EQ(h.JobAt("j").state, JobState::kFailed);
  EXPECT_NE(h.JobAt("j").reason.find("2 providers of 2 owners"), std::string::npos)
      << h.JobAt("j").reason;
}

TEST(CoreOwner, AThirdOwnersClaimAfterOneOwnersTwoFailsTheJob) {
  Harness h;
  h.Do(AgentRegistered{Owned("k1", "mallory", 10)});
  h.Do(AgentRegistered{Owned("k2", "mallory", 20)});
  h.Do(AgentRegistered{Owned("c", "carol", 30)});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "team", InferSpec(4, 1)}));
  auto b = Only<SendTaskAssign>(h.Do(TaskFailed{a.at(0).task, a[0].attempt, "k1", "bad", false}));
  auto c = Only<SendTaskAssign>(h.Do(TaskFailed{b.at(0).task, b[0].attempt, "k2", "bad", false}));
  h.Do(TaskFailed{c.at(0).task, c[0].attempt, "c", "bad", false});
  EXPECT_EQ(h.JobAt("j").state, JobState::kFailed);
  EXPECT_NE(h.JobAt("j").reason.find("3 providers of 2 owners"), std::string::npos)
      << h.JobAt("j").reason;
}

TEST(CoreOwner, TheOwnerSurvivesARestartAndARegistrationWithoutItClearsIt) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("plume-owner-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto store = Store::Open(dir / "s.db", Sync::kNormal);
  ASSERT_TRUE(store) << store.error().message;
  Harness h;
  h.Do(AgentRegistered{Owned("a", "alice", 10)});
  h.Do(AgentRegistered{Owned("b", "", 10)});
  ASSERT_TRUE(store->Save(h.core.TakeDirty()));
  auto loaded = store->Load();
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->nodes.at("a").info.owner, "alice");
  EXPECT_EQ(loaded->nodes.at("b").info.owner, "");
  EXPECT_EQ(*loaded, h.core.state());
  h.Do(AgentRegistered{Owned("a", "", 10)});
  ASSERT_TRUE(store->Save(h.core.TakeDirty()));
  auto reloaded = store->Load();
  ASSERT_TRUE(reloaded);
  EXPECT_EQ(reloaded->nodes.at("a").info.owner, "");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace plume::scheduler
