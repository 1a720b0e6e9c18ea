// Replay audits in the scheduler core (core_audit.cc): a new provider's results are all audited
// by another provider of its kernel class; a match settles both runs; a mismatch brings in a
// referee and the odd one out is proven faulty, never paid, with a verdict that keeps the
// evidence. Without a peer of the class, nothing is compared (across classes never). The
// provider's record and its audit rate survive a restart.
#include <gtest/gtest.h>

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

TaskSucceeded Result(const SendTaskAssign& a, const std::string& output) {
  return TaskSucceeded{a.task, a.attempt, a.node, Blob(output), TaskMetrics{1.0, 10, 10}};
}

// What an honest provider returns: a function of the task's inputs only, the same on every
// provider of the class (the audit run has another id but the same job, shard and input).
std::string Honest(const SendTaskAssign& a) {
  return "out:" + a.job + "/" + std::to_string(a.shard) + a.input_params_blob;
}

std::vector<std::string> Settled(const Harness& h) {
  std::vector<std::string> out;
  for (const LedgerOp& op : h.ledger) {
    if (op.kind == LedgerOpKind::kSettle) out.push_back(op.task);
  }
  return out;
}

NodeInfo OtherClass(const std::string& id) {
  NodeInfo n = Agent(id);
  n.kernel_class = "cpu/Zen.x86-64-v3.openblas-0.3.21.glibc-2.36/00112233aabbccdd";
  return n;
}

TEST(CoreAudit, MatchingAuditSettlesBothRuns) {
  Harness h(Config{});
  h.Do(AgentRegistered{Agent("a")});
  auto first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)}));
  ASSERT_EQ(first.size(), 1u);
  h.Do(AgentRegistered{Agent("b")});
  auto audit = Only<SendTaskAssign>(h.Do(Result(first[0], Honest(first[0]))));
  // A new provider is audited on everything; the result is committed but not yet settled.
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].node, "b");
  EXPECT_EQ(audit[0].shard, first[0].shard);
  EXPECT_NE(audit[0].wire_id, first[0].wire_id);
  EXPECT_EQ(h.JobAt("j").state, JobState::kSucceeded);  // the job does not wait for its audits
  EXPECT_TRUE(Settled(h).empty());
  EXPECT_EQ(h.TaskAt("j/s0").audit, AuditStatus::kPending);
  for (const LedgerOp& op : h.ledger) EXPECT_NE(op.kind, LedgerOpKind::kRelease);
  h.Do(Result(audit[0], Honest(audit[0])));
  EXPECT_EQ(h.TaskAt("j/s0").audit, AuditStatus::kMatched);
  EXPECT_EQ(Settled(h), (std::vector<std::string>{"j/s0", "j/s0/audit"}));
  EXPECT_EQ(h.ledger.back().kind, LedgerOpKind::kRelease);  // now the escrow is released
  const Node& a = h.core.state().nodes.at("a");
  EXPECT_EQ(a.results_valid, 1);
  EXPECT_EQ(a.results_audited, 1);
  EXPECT_EQ(a.proven_faulty, 0);
  EXPECT_TRUE(h.core.state().verdicts.empty());
}

TEST(CoreAudit, MismatchIsRefereedAndTheOddOneOutIsProvenFaultyAndNotPaid) {
  Harness h(Config{});
  h.Do(AgentRegistered{Agent("cheat")});
  auto first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)}));
  ASSERT_EQ(first.size(), 1u);
  h.Do(AgentRegistered{Agent("b")});
  h.Do(AgentRegistered{Agent("c")});
  auto audit = Only<SendTaskAssign>(h.Do(Result(first[0], "junk")));
  ASSERT_EQ(audit.size(), 1u);
  auto referee = Only<SendTaskAssign>(h.Do(Result(audit[0], Honest(audit[0]))));
  ASSERT_EQ(referee.size(), 1u);
  EXPECT_EQ(h.TaskAt("j/s0").audit, AuditStatus::kDisputed);
  EXPECT_NE(referee[0].node, "cheat");
  EXPECT_NE(referee[0].node, audit[0].node);
  EXPECT_TRUE(Settled(h).empty());  // neither side is paid while disputed
  h.Do(Result(referee[0], Honest(referee[0])));
  EXPECT_EQ(h.TaskAt("j/s0").audit, AuditStatus::kOriginalFaulty);
  EXPECT_EQ(Settled(h), (std::vector<std::string>{"j/s0/audit", "j/s0/referee"}));
  const Verdict& v = h.core.state().verdicts.at("j/s0");
  EXPECT_EQ(v.faulty, "cheat");
  EXPECT_FALSE(v.faulty_paid);
  EXPECT_EQ(v.original_output, Blob("junk"));
  EXPECT_EQ(v.audit_output, v.referee_output);
  EXPECT_EQ(v.policy, verify::kAuditPolicy);
  const Node& cheat = h.core.state().nodes.at("cheat");
  EXPECT_EQ(cheat.proven_faulty, 1);
  EXPECT_EQ(cheat.consecutive_valid, 0);
  EXPECT_EQ(cheat.results_valid, 0);
  for (const char* honest : {"b", "c"}) EXPECT_EQ(h.core.state().nodes.at(honest).proven_faulty, 0);
  EXPECT_EQ(h.JobAt("j").paid_micro_plume,
            h.TaskAt("j/s0/audit").paid_micro_plume + h.TaskAt("j/s0/referee").paid_micro_plume);
}

TEST(CoreAudit, ACheatingAuditorIsTheOneConvicted) {
  Harness h(Config{});
  h.Do(AgentRegistered{Agent("a")});
  auto first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)}));
  h.Do(AgentRegistered{Agent("cheat")});
  auto audit = Only<SendTaskAssign>(h.Do(Result(first[0], Honest(first[0]))));
  ASSERT_EQ(audit.at(0).node, "cheat");
  h.Do(AgentRegistered{Agent("c")});
  auto referee = Only<SendTaskAssign>(h.Do(Result(audit[0], "junk")));
  h.Do(Result(referee.at(0), Honest(referee[0])));
  EXPECT_EQ(h.TaskAt("j/s0").audit, AuditStatus::kAuditorFaulty);
  EXPECT_EQ(h.core.state().verdicts.at("j/s0").faulty, "cheat");
  EXPECT_EQ(Settled(h), (std::vector<std::string>{"j/s0", "j/s0/referee"}));
  EXPECT_EQ(h.core.state().nodes.at("a").proven_faulty, 0);
}

TEST(CoreAudit, WithoutAPeerOfTheClassNothingIsComparedAndTheResultIsSettled) {
  Harness h(Config{});
  h.Do(AgentRegistered{Agent("a")});
  h.Do(AgentRegistered{OtherClass("z")});  // another class: never a peer for a bit comparison
  auto first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)}));
  ASSERT_EQ(first.at(0).node, "a");
  auto after = Only<SendTaskAssign>(h.Do(Result(first[0], Honest(first[0]))));
  EXPECT_TRUE(after.empty());
  EXPECT_EQ(h.TaskAt("j/s0").audit, AuditStatus::kNoPeer);
  EXPECT_EQ(h.core.state().nodes.at("a").unaudited_no_peer, 1);
  EXPECT_TRUE(Settled(h).empty());  // unaudited: final when its challenge window has passed
  h.Advance(kChallengeWindowMsDefault);
  EXPECT_EQ(Settled(h), (std::vector<std::string>{"j/s0"}));
}

TEST(CoreAudit, AnAuditRunWaitsForItsClassAndIsGivenUpAfterTheWait) {
  Config c;
  c.audit_wait_ms = 60'000;
  Harness h(c);
  h.Do(AgentRegistered{Agent("a")});
  auto j1 = Only<SendTaskAssign>(h.Do(JobSubmitted{"j1", "alice", InferSpec(1, 1)}));
  h.Do(AgentRegistered{Agent("b")});
  auto j2 = Only<SendTaskAssign>(h.Do(JobSubmitted{"j2", "alice", InferSpec(1, 1)}));
  ASSERT_EQ(j2.at(0).node, "b");           // the only peer of a's class is busy
  h.Do(AgentRegistered{OtherClass("z")});  // free, but of another class
  EXPECT_TRUE(Only<SendTaskAssign>(h.Do(Result(j1.at(0), Honest(j1[0])))).empty());
  EXPECT_EQ(h.TaskAt("j1/s0").audit, AuditStatus::kPending);
  h.Advance(30'000);
  EXPECT_EQ(h.TaskAt("j1/s0/audit").state, TaskState::kQueued);
  h.Advance(31'000);
  EXPECT_EQ(h.TaskAt("j1/s0/audit").state, TaskState::kDropped);
  EXPECT_EQ(h.TaskAt("j1/s0").audit, AuditStatus::kNoPeer);
  EXPECT_EQ(Settled(h), (std::vector<std::string>{"j1/s0"}));
  EXPECT_EQ(h.ledger.back().id, "release:j1");
}

TEST(CoreAudit, RecordAndRateSurviveARestart) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("plume-audit-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto store = Store::Open(dir / "s.db", Sync::kNormal);
  ASSERT_TRUE(store);
  Harness h(Config{});
  h.Do(AgentRegistered{Agent("cheat")});
  auto first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)}));
  h.Do(AgentRegistered{Agent("b")});
  h.Do(AgentRegistered{Agent("c")});
  auto audit = Only<SendTaskAssign>(h.Do(Result(first[0], "junk")));
  ASSERT_TRUE(store->Save(h.core.TakeDirty()));
  // The dispute is open across the restart: the referee's result arrives at the new core.
  auto loaded = store->Load();
  ASSERT_TRUE(loaded);
  Harness again(Config{});
  again.core = Core(Config{}, std::move(*loaded));
  again.now_ms = h.now_ms;
  auto referee = Only<SendTaskAssign>(again.Do(Result(audit.at(0), Honest(audit[0]))));
  again.Do(Result(referee.at(0), Honest(referee[0])));
  ASSERT_TRUE(store->Save(again.core.TakeDirty()));
  auto reloaded = store->Load();
  ASSERT_TRUE(reloaded);
  EXPECT_EQ(*reloaded, again.core.state());
  EXPECT_EQ(reloaded->verdicts.at("j/s0").faulty, "cheat");
  EXPECT_EQ(reloaded->nodes.at("cheat").proven_faulty, 1);
  EXPECT_EQ(reloaded->nodes.at("b").consecutive_valid, 0);  // audit runs do not build trust
  std::filesystem::remove_all(dir);
}

TEST(CoreAudit, AfterTheTrustRunTheDrawFollowsTheSeed) {
  // Two cores with the same seed audit the same results; another seed audits others.
  auto audited = [](uint8_t seed_byte) {
    Config c;
    c.audit_seed.fill(seed_byte);
    c.audit.trust_after = 1;
    c.audit.p_min_ppm = 500'000;
    Harness h(c);
    h.Do(AgentRegistered{Agent("a")});
    h.Do(AgentRegistered{Agent("b")});
    std::string pattern;
    for (int j = 0; j < 40; ++j) {
      const JobId id = "j" + std::to_string(j);
      auto as = Only<SendTaskAssign>(h.Do(JobSubmitted{id, "alice", InferSpec(1, 1)}));
      if (as.empty()) break;
      auto next = Only<SendTaskAssign>(h.Do(Result(as[0], Honest(as[0]))));
      pattern += h.TaskAt(id + "/s0").audit == AuditStatus::kNone ? '.' : 'A';
      for (const SendTaskAssign& a : next) h.Do(Result(a, Honest(a)));
    }
    return pattern;
  };
  const std::string a = audited(1);
  EXPECT_EQ(a.size(), 40u);
  EXPECT_EQ(a, audited(1));
  EXPECT_NE(a, audited(2));
  EXPECT_EQ(a[0], 'A');  // the first result of a new provider is always audited
}

}  // namespace
}  // namespace plume::scheduler
