// Cheap disputes in the scheduler core (core_dispute.cc): on a training audit mismatch with both
// commitment chains, the referee recomputes the one segment where the chains part, from the
// round's parameters (link 0) or from a state an export run fetched from a disputant; the link it
// computes convicts the run it does not match. A malformed chain convicts with no recomputation;
// equal chains, a failed export on both sides or a bad exported state fall back to the full
// referee; a dispute open across a restart carries on. Chains here are made-up digests: the core
// compares, it never hashes states (verify/dispute_test.cc covers the replay itself).
#include <gtest/gtest.h>

#include <filesystem>

#include "core_test_util.h"
#include "plume/scheduler/store.h"
#include "plume/verify/dispute.h"

namespace plume::scheduler {
namespace {

using testing::Agent;
using testing::Blob;
using testing::Harness;
using testing::Only;
using testing::TrainSpec;

constexpr uint32_t kSteps = 10;  // TrainSpec's H: ten links of one step each

// An honest chain of the task: the same on every provider of the class. `from` >= 0: a chain that
// parts from the honest one at that link (a run that went wrong at that step), every later link
// differing too, as a real chain's would.
std::vector<std::string> ChainOf(int from = -1, size_t links = kSteps) {
  std::vector<std::string> c;
  for (size_t i = 0; i < links; ++i) {
    const bool bad = from >= 0 && static_cast<int>(i) >= from;
    c.push_back(Blob((bad ? "bad-link-" : "link-") + std::to_string(i)));
  }
  return c;
}

TaskSucceeded Result(const SendTaskAssign& a, const std::string& output,
                     std::vector<std::string> chain = {}) {
  TaskSucceeded e{a.task, a.attempt, a.node, Blob(output), TaskMetrics{1.0, 10, 10}};
  e.commitments = std::move(chain);
  return e;
}

std::vector<std::string> Settled(const Harness& h) {
  std::vector<std::string> out;
  for (const LedgerOp& op : h.ledger) {
    if (op.kind == LedgerOpKind::kSettle) out.push_back(op.task);
  }
  return out;
}

// "cheat" trains the one task; "b" audits it; "c" is the third provider of the class. Returns
// the audit run's assignment, with the cheater's result (parting at `cheat_from`) committed.
struct Dispute {
  Harness h{Config{}};
  SendTaskAssign original, audit;

  explicit Dispute(std::vector<std::string> cheat_chain) {
    h.Do(AgentRegistered{Agent("cheat")});
    original = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", TrainSpec(1, 1)})).at(0);
    h.Do(AgentRegistered{Agent("b")});
    audit = Only<SendTaskAssign>(h.Do(Result(original, "junk", std::move(cheat_chain)))).at(0);
    EXPECT_EQ(audit.node, "b");
    h.Do(AgentRegistered{Agent("c", 200)});  // dearer: never preferred over b while b is free
  }
  // The honest audit result: the mismatch opens the dispute.
  std::vector<SendTaskAssign> Mismatch() {
    return Only<SendTaskAssign>(h.Do(Result(audit, "honest", ChainOf())));
  }
  const Verdict& verdict() const { return h.core.state().verdicts.at("j/r0/w0"); }
};

TEST(CoreDispute, ChainsPartingAtLinkZeroAreDecidedByOneSegmentFromTheRoundsParameters) {
  Dispute d(ChainOf(0));
  auto next = d.Mismatch();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].node, "c");
  EXPECT_EQ(next[0].task, "j/r0/w0/referee");
  const Task& r = d.h.TaskAt("j/r0/w0/referee");
  EXPECT_EQ(r.dispute_link, 0);
  EXPECT_TRUE(r.start_state_blob.empty());  // link 0 starts from the round's input blob
  EXPECT_EQ(r.flops, d.h.TaskAt("j/r0/w0").flops / kSteps);
  EXPECT_TRUE(Settled(d.h).empty());
  d.h.Do(Result(next[0], "link", {ChainOf()[0]}));
  EXPECT_EQ(d.h.TaskAt("j/r0/w0").audit, AuditStatus::kOriginalFaulty);
  EXPECT_EQ(d.verdict().faulty, "cheat");
  EXPECT_EQ(d.verdict().policy, verify::kDisputePolicy);
  EXPECT_EQ(d.verdict().dispute_link, 0);
  EXPECT_DOUBLE_EQ(d.verdict().recomputed_fraction, 1.0 / kSteps);
  EXPECT_EQ(Settled(d.h), (std::vector<std::string>{"j/r0/w0/audit", "j/r0/w0/referee"}));
  EXPECT_EQ(d.h.TaskAt("j/r0/w0/referee").paid_micro_plume,
            d.h.TaskAt("j/r0/w0/audit").paid_micro_plume / kSteps);
  EXPECT_EQ(d.h.core.state().nodes.at("cheat").proven_faulty, 1);
  EXPECT_EQ(d.h.core.state().nodes.at("b").proven_faulty, 0);
  const AuditTotals totals = CountAudits(d.h.core.state());
  EXPECT_EQ(totals.segment_disputes, 1u);
  EXPECT_EQ(totals.recomputed_flops, d.h.TaskAt("j/r0/w0").flops / kSteps);
}

TEST(CoreDispute, ALaterLinkIsReplayedFromTheStateAnExportFetchedFromTheOriginal) {
  Dispute d(ChainOf(4));
  auto exp = d.Mismatch();
  ASSERT_EQ(exp.size(), 1u);
  EXPECT_EQ(exp[0].node, "cheat");  // pinned to the original's provider, which kept the state
  const Task& x = d.h.TaskAt("j/r0/w0/export");
  EXPECT_EQ(x.audit_role, AuditRole::kExport);
  EXPECT_EQ(x.dispute_link, 3);  // the state behind the last agreed link
  EXPECT_EQ(x.dispute_source, "j/r0/w0");
  EXPECT_EQ(x.flops, 0u);
  auto referee = Only<SendTaskAssign>(d.h.Do(Result(exp[0], "state-3")));
  ASSERT_EQ(referee.size(), 1u);
  EXPECT_EQ(referee[0].node, "c");
  EXPECT_EQ(d.h.TaskAt("j/r0/w0/referee").start_state_blob, Blob("state-3"));
  EXPECT_EQ(d.h.TaskAt("j/r0/w0/referee").dispute_link, 4);
  d.h.Do(Result(referee[0], "link", {ChainOf()[4]}));
  EXPECT_EQ(d.verdict().faulty, "cheat");
  EXPECT_EQ(d.verdict().dispute_link, 4);
  EXPECT_DOUBLE_EQ(d.verdict().recomputed_fraction, 0.1);
  // The export is evidence, not work: never settled or paid.
  EXPECT_EQ(Settled(d.h), (std::vector<std::string>{"j/r0/w0/audit", "j/r0/w0/referee"}));
  EXPECT_EQ(d.h.TaskAt("j/r0/w0/export").settle, SettleState::kUnpaid);
  EXPECT_EQ(d.h.TaskAt("j/r0/w0/export").paid_micro_plume, 0);
}

TEST(CoreDispute, ACheatingAuditorIsConvictedByTheSegmentAndTheHonestOriginalIsPaid) {
  Harness h{Config{}};
  h.Do(AgentRegistered{Agent("a")});
  auto first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", TrainSpec(1, 1)})).at(0);
  h.Do(AgentRegistered{Agent("cheat")});
  auto audit = Only<SendTaskAssign>(h.Do(Result(first, "honest", ChainOf()))).at(0);
  ASSERT_EQ(audit.node, "cheat");
  h.Do(AgentRegistered{Agent("c", 200)});
  auto referee = Only<SendTaskAssign>(h.Do(Result(audit, "junk", ChainOf(0)))).at(0);
  // The referee recomputes the honest link: it matches the original, not the auditor.
  h.Do(Result(referee, "link", {ChainOf()[0]}));
  EXPECT_EQ(h.TaskAt("j/r0/w0").audit, AuditStatus::kAuditorFaulty);
  EXPECT_EQ(h.core.state().verdicts.at("j/r0/w0").faulty, "cheat");
  EXPECT_EQ(Settled(h), (std::vector<std::string>{"j/r0/w0", "j/r0/w0/referee"}));
  EXPECT_EQ(h.core.state().nodes.at("a").proven_faulty, 0);
}

TEST(CoreDispute, AReferrerMatchingNeitherLinkConvictsNobody) {
  Dispute d(ChainOf(0));
  auto referee = d.Mismatch().at(0);
  d.h.Do(Result(referee, "link", {Blob("something else")}));
  EXPECT_EQ(d.h.TaskAt("j/r0/w0").audit, AuditStatus::kUndecided);
  EXPECT_TRUE(d.verdict().faulty.empty());
  for (const char* n : {"cheat", "b", "c"}) {
    EXPECT_EQ(d.h.core.state().nodes.at(n).proven_faulty, 0) << n;
  }
}

TEST(CoreDispute, AFailedExportGoesToTheOtherDisputantThenToTheFullReferee) {
  Dispute d(ChainOf(4));
  auto exp = d.Mismatch().at(0);
  ASSERT_EQ(exp.node, "cheat");
  auto again = Only<SendTaskAssign>(d.h.Do(TaskFailed{exp.task, exp.attempt, "cheat", "no state"}));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].node, "b");  // the auditor kept the same state
  EXPECT_EQ(d.h.TaskAt("j/r0/w0/export").dispute_source, "j/r0/w0/audit");
  auto full =
      Only<SendTaskAssign>(d.h.Do(TaskFailed{again[0].task, again[0].attempt, "b", "gone"}));
  ASSERT_EQ(full.size(), 1u);
  EXPECT_EQ(full[0].node, "c");
  const Task& r = d.h.TaskAt("j/r0/w0/referee");
  EXPECT_EQ(r.dispute_link, -1);  // the whole task
  EXPECT_EQ(r.flops, d.h.TaskAt("j/r0/w0").flops);
  EXPECT_EQ(d.h.TaskAt("j/r0/w0/export").state, TaskState::kDropped);
  d.h.Do(Result(full[0], "honest"));
  EXPECT_EQ(d.verdict().faulty, "cheat");
  EXPECT_EQ(d.verdict().policy, verify::kAuditPolicy);
  EXPECT_DOUBLE_EQ(d.verdict().recomputed_fraction, 1.0);
}

TEST(CoreDispute, ABadExportedStateIsAskedOfTheOtherDisputant) {
  Dispute d(ChainOf(4));
  auto exp = d.Mismatch().at(0);
  auto referee = Only<SendTaskAssign>(d.h.Do(Result(exp, "made-up state"))).at(0);
  // The referee's StateMatchesLink refused the cheater's state: it reports a failure.
  auto again = Only<SendTaskAssign>(
      d.h.Do(TaskFailed{referee.task, referee.attempt, "c", "state is not the agreed one"}));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].node, "b");
  EXPECT_EQ(again[0].task, "j/r0/w0/export");
  EXPECT_EQ(d.h.core.state().nodes.at("c").proven_faulty, 0);
  auto second = Only<SendTaskAssign>(d.h.Do(Result(again[0], "state-3"))).at(0);
  EXPECT_NE(second.wire_id, referee.wire_id);
  EXPECT_EQ(d.h.TaskAt("j/r0/w0/referee").start_state_blob, Blob("state-3"));
  d.h.Do(Result(second, "link", {ChainOf()[4]}));
  EXPECT_EQ(d.verdict().faulty, "cheat");
  // The failed referee's result (late) is not taken: its wire id no longer names a task.
  EXPECT_EQ(d.h.core.FindTaskByWireId(referee.wire_id), nullptr);
}

TEST(CoreDispute, AMalformedChainConvictsWithoutRecomputing) {
  Dispute d(ChainOf(-1, kSteps - 1));  // one link short: its own signature proves it wrong
  auto next = d.Mismatch();
  EXPECT_TRUE(next.empty());
  EXPECT_EQ(d.h.core.state().tasks.count("j/r0/w0/referee"), 0u);
  EXPECT_EQ(d.verdict().faulty, "cheat");
  EXPECT_DOUBLE_EQ(d.verdict().recomputed_fraction, 0);
  EXPECT_EQ(d.verdict().policy, verify::kDisputePolicy);
  EXPECT_EQ(Settled(d.h), (std::vector<std::string>{"j/r0/w0/audit"}));
  EXPECT_EQ(d.h.core.state().nodes.at("cheat").proven_faulty, 1);
  EXPECT_EQ(d.h.core.state().nodes.at("b").proven_faulty, 0);
}

TEST(CoreDispute, EqualChainsOrNoChainGoToTheFullReferee) {
  for (const bool with_chain : {true, false}) {
    Dispute d(with_chain ? ChainOf() : std::vector<std::string>{});
    auto next = d.Mismatch();
    ASSERT_EQ(next.size(), 1u);
    const Task& r = d.h.TaskAt("j/r0/w0/referee");
    EXPECT_EQ(r.dispute_link, -1);
    EXPECT_EQ(r.flops, d.h.TaskAt("j/r0/w0").flops);
    d.h.Do(Result(next[0], "honest"));
    EXPECT_EQ(d.verdict().faulty, "cheat");
    EXPECT_DOUBLE_EQ(d.verdict().recomputed_fraction, 1.0);
  }
}

TEST(CoreDispute, ADisputeOpenAcrossARestartCarriesOn) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("plume-dispute-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto store = Store::Open(dir / "s.db", Sync::kNormal);
  ASSERT_TRUE(store);
  Dispute d(ChainOf(4));
  auto exp = d.Mismatch().at(0);
  auto referee = Only<SendTaskAssign>(d.h.Do(Result(exp, "state-3"))).at(0);
  ASSERT_TRUE(store->Save(d.h.core.TakeDirty()));
  auto loaded = store->Load();
  ASSERT_TRUE(loaded);
  // Chains, pin, link and start state all came back (a node's task set is rebuilt by the core).
  EXPECT_EQ(loaded->tasks, d.h.core.state().tasks);
  EXPECT_EQ(loaded->verdicts, d.h.core.state().verdicts);
  EXPECT_EQ(loaded->tasks.at("j/r0/w0").commitments, ChainOf(4));
  Harness again(Config{});
  again.core = Core(Config{}, std::move(*loaded));
  again.now_ms = d.h.now_ms;
  again.Do(Result(referee, "link", {ChainOf()[4]}));
  const Verdict& v = again.core.state().verdicts.at("j/r0/w0");
  EXPECT_EQ(v.faulty, "cheat");
  EXPECT_DOUBLE_EQ(v.recomputed_fraction, 0.1);
  ASSERT_TRUE(store->Save(again.core.TakeDirty()));
  auto reloaded = store->Load();
  ASSERT_TRUE(reloaded);
  EXPECT_EQ(*reloaded, again.core.state());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace plume::scheduler
