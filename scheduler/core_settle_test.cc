// Payment after verification and slashing in the core (core_settle.cc): an unaudited result is
// settled only once its challenge window has passed, on the first tick after it, also across a
// restart in the middle of the window or across the whole of it; a conviction slashes the
// provider exactly once (verify/slash.h amounts and legs), also when the verdict's event repeats
// or the scheduler restarts; a run paid before its verdict is clawed back; a refused screen or a
// lost lease costs pay and reputation, never stake.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core_test_util.h"
#include "plume/scheduler/store.h"
#include "plume/verify/slash.h"

namespace plume::scheduler {
namespace {

using namespace testing;  // NOLINT: test helpers

constexpr MicroPlume kPrice = 100'000'000'000;  // tiny tasks earn > 0 at this price
constexpr MicroPlume kStake = 1'000'000;

JobSpec Priced(JobSpec spec) {
  spec.max_price_micro_plume_per_pflop = 10 * kPrice;
  spec.budget_micro_plume = MaxJobCostMicroPlume(spec);
  return spec;
}

std::vector<LedgerOp> Ops(const Harness& h, LedgerOpKind kind) {
  std::vector<LedgerOp> out;
  for (const LedgerOp& op : h.ledger) {
    if (op.kind == kind) out.push_back(op);
  }
  return out;
}

std::vector<LedgerOp> Requested(const std::vector<Action>& acts, LedgerOpKind kind) {
  std::vector<LedgerOp> out;
  for (const LedgerRequest& r : Only<LedgerRequest>(acts)) {
    if (r.op.kind == kind) out.push_back(r.op);
  }
  return out;
}

class StoreDir {
 public:
  StoreDir()
      : dir_(std::filesystem::temp_directory_path() /
             ("plume-settle-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~StoreDir() { std::filesystem::remove_all(dir_); }
  std::filesystem::path db() const { return dir_ / "s.db"; }

 private:
  std::filesystem::path dir_;
};

TEST(CoreSettle, AnUnauditedResultIsSettledWhenTheChallengeWindowHasPassed) {
  Harness h;  // no audits: every result is unaudited
  h.Do(AgentRegistered{Agent("a", kPrice)});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", Priced(InferSpec(4, 1))}));
  ASSERT_EQ(a.size(), 1u);
  const int64_t done_ms = h.now_ms;
  h.Do(TaskSucceeded{a[0].task, 1, "a", Blob("out"), {}});
  EXPECT_EQ(h.JobAt("j").state, JobState::kSucceeded);  // the job does not wait...
  EXPECT_EQ(h.TaskAt("j/s0").final_at_ms, done_ms + kChallengeWindowMsDefault);
  h.Advance(kChallengeWindowMsDefault - 1);
  EXPECT_TRUE(Ops(h, LedgerOpKind::kSettle).empty());  // ...but its pay does
  EXPECT_TRUE(Ops(h, LedgerOpKind::kRelease).empty());  // and so does the escrow's release
  EXPECT_EQ(h.JobAt("j").paid_micro_plume, 0);
  h.Advance(1);
  const auto settles = Ops(h, LedgerOpKind::kSettle);
  ASSERT_EQ(settles.size(), 1u);
  EXPECT_EQ(settles[0].id, "settle:j/s0");
  EXPECT_GT(settles[0].amount_micro_plume, 0);
  EXPECT_EQ(h.ledger.back().id, "release:j");  // after the last settle, never before
  EXPECT_EQ(h.JobAt("j").paid_micro_plume, settles[0].amount_micro_plume);
  h.Advance(kChallengeWindowMsDefault);
  EXPECT_EQ(Ops(h, LedgerOpKind::kSettle).size(), 1u);  // once
}

TEST(CoreSettle, TheWindowSurvivesARestartAndIsNeverOverrunByMoreThanATick) {
  StoreDir dir;
  auto store = Store::Open(dir.db(), Sync::kNormal);
  ASSERT_TRUE(store);
  Harness h;
  h.Do(AgentRegistered{Agent("a", kPrice)});
  h.Do(AgentRegistered{Agent("b", kPrice)});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", Priced(InferSpec(4, 2))}));
  ASSERT_EQ(a.size(), 2u);
  const int64_t done_ms = h.now_ms;
  h.Do(TaskSucceeded{a[0].task, 1, a[0].node, Blob("out0"), {}});
  h.now_ms += 1'000;
  h.Do(TaskSucceeded{a[1].task, 1, a[1].node, Blob("out1"), {}});
  h.Advance(kChallengeWindowMsDefault / 2);
  ASSERT_TRUE(store->Save(h.core.TakeDirty()));
  // Killed in the middle of the window; restarted from the database.
  auto loaded = store->Load();
  ASSERT_TRUE(loaded);
  Harness again;
  again.core = Core(NoAudits(), std::move(*loaded));
  again.now_ms = h.now_ms + 5'000;
  auto recovered = again.core.Recover(again.now_ms);
  again.Absorb(recovered);
  EXPECT_TRUE(Requested(recovered, LedgerOpKind::kSettle).empty());  // not final yet
  // The first tick at the window's end pays the first result, the next one the second.
  again.now_ms = done_ms + kChallengeWindowMsDefault;
  EXPECT_EQ(Requested(again.Do(Tick{}), LedgerOpKind::kSettle).size(), 1u);
  again.now_ms += 1'000;
  auto acts = again.Do(Tick{});
  EXPECT_EQ(Requested(acts, LedgerOpKind::kSettle).size(), 1u);
  EXPECT_EQ(Requested(acts, LedgerOpKind::kRelease).size(), 1u);
  EXPECT_EQ(again.JobAt("j").paid_micro_plume,
            again.TaskAt(a[0].task).paid_micro_plume + again.TaskAt(a[1].task).paid_micro_plume);
  // Down for the whole window: the first tick after the restart pays.
  h.Advance(kChallengeWindowMsDefault);  // (the first scheduler pays job j too)
  h.Do(AgentRegistered{Agent("a", kPrice)});
  h.Do(JobSubmitted{"k", "alice", Priced(InferSpec(4, 1))});
  const Task& k0 = h.TaskAt("k/s0");
  ASSERT_EQ(k0.state, TaskState::kAssigned);
  h.Do(TaskSucceeded{"k/s0", 1, k0.node, Blob("outk"), {}});
  ASSERT_TRUE(store->Save(h.core.TakeDirty()));
  loaded = store->Load();
  ASSERT_TRUE(loaded);
  Harness third;
  third.core = Core(NoAudits(), std::move(*loaded));
  third.now_ms = h.now_ms + 10 * kChallengeWindowMsDefault;
  auto recovered3 = third.core.Recover(third.now_ms);
  third.Absorb(recovered3);
  const auto paid = Requested(third.Do(Tick{}), LedgerOpKind::kSettle);
  ASSERT_EQ(paid.size(), 1u);
  EXPECT_EQ(paid[0].id, "settle:k/s0");
}

// Three providers of one class; "cheat" is the cheapest, so it gets the job's task, returns a
// wrong output, and the audit ("b") and the referee ("c") prove it.
struct Dispute {
  explicit Dispute(Config c = Config{}) : h(c) {
    for (const char* id : {"cheat", "b", "c"}) {
      h.Do(AgentRegistered{Agent(id, std::string(id) == "cheat" ? kPrice : 2 * kPrice)});
      h.Do(StakeChanged{id, kStake, 0});
    }
    first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", Priced(InferSpec(4, 1))})).at(0);
    audit = Only<SendTaskAssign>(h.Do(Result(first, "junk"))).at(0);
    referee = Only<SendTaskAssign>(h.Do(Result(audit, "honest"))).at(0);
  }
  static TaskSucceeded Result(const SendTaskAssign& a, const std::string& out) {
    return TaskSucceeded{a.task, a.attempt, a.node, Blob(out), TaskMetrics{1.0, 10, 10}};
  }
  Harness h;
  SendTaskAssign first, audit, referee;
};

TEST(CoreSettle, AConvictionSlashesOnceWithThePolicysAmountAndLegs) {
  Config c;
  c.min_stake_per_device_micro_plume = 1'000;
  Dispute d(c);
  ASSERT_EQ(d.first.node, "cheat");
  d.h.Do(Dispute::Result(d.referee, "honest"));
  const State& s = d.h.core.state();
  ASSERT_EQ(s.verdicts.at("j/s0").faulty, "cheat");
  const auto slashes = Ops(d.h, LedgerOpKind::kSlash);
  ASSERT_EQ(slashes.size(), 1u);
  const LedgerOp& op = slashes[0];
  EXPECT_EQ(op.id, "slash:j/s0");
  EXPECT_EQ(op.node, "cheat");
  EXPECT_EQ(op.task, "j/s0");
  // The policy's plan for exactly these facts, computed here from the spec and the prices.
  const MicroPlume pay = PayMicroPlume(s.tasks.at("j/s0").flops, kPrice);
  verify::SlashInputs in;
  in.pay_micro_plume = pay;
  in.audit_rate_ppm = 1'000'000;  // a new provider: every result is audited
  in.slashable_micro_plume = kStake;
  in.slash_bps = kSlashBpsDefault;
  in.finder_fee_bps = kFinderFeeBpsDefault;
  in.rerun_cost_micro_plume = pay + 2 * PayMicroPlume(s.tasks.at("j/s0").flops, 2 * kPrice);
  in.team_account = "team:alice";
  in.finder_account = "provider:" + d.referee.node;
  const verify::SlashPlan plan = verify::PlanSlash(in);
  EXPECT_EQ(op.amount_micro_plume, plan.total_micro_plume);
  EXPECT_EQ(plan.total_micro_plume, kStake / 10);
  ASSERT_EQ(op.legs.size(), plan.legs.size());
  MicroPlume sum = 0;
  for (size_t i = 0; i < op.legs.size(); ++i) {
    EXPECT_EQ(op.legs[i].kind, static_cast<uint8_t>(plan.legs[i].kind));
    EXPECT_EQ(op.legs[i].account, plan.legs[i].account);
    EXPECT_EQ(op.legs[i].amount, plan.legs[i].amount_micro_plume);
    sum += op.legs[i].amount;
  }
  EXPECT_EQ(sum, op.amount_micro_plume);
  EXPECT_EQ(op.legs[0].kind, static_cast<uint8_t>(verify::SlashLegKind::kCompensation));
  EXPECT_NE(op.memo.find(s.verdicts.at("j/s0").original_output), std::string::npos);
  EXPECT_EQ(s.verdicts.at("j/s0").slashed_micro_plume, op.amount_micro_plume);
  const Node& cheat = s.nodes.at("cheat");
  EXPECT_EQ(cheat.slashes, 1u);
  EXPECT_EQ(cheat.proven_faulty, 1);
  EXPECT_EQ(cheat.stake_micro_plume, kStake - op.amount_micro_plume);
  for (const LedgerOp& settle : Ops(d.h, LedgerOpKind::kSettle)) EXPECT_NE(settle.node, "cheat");
  // The referee's result again (a duplicate message): no second slash.
  d.h.Do(Dispute::Result(d.referee, "honest"));
  d.h.Advance(kChallengeWindowMsDefault);
  EXPECT_EQ(Ops(d.h, LedgerOpKind::kSlash).size(), 1u);
}

TEST(CoreSettle, ASlashIsDecidedOnceAcrossARestartAndResentUnderItsOwnId) {
  StoreDir dir;
  auto store = Store::Open(dir.db(), Sync::kNormal);
  ASSERT_TRUE(store);
  Dispute d;
  d.h.auto_ledger = false;  // the slash stays in the outbox: the process dies before applying it
  auto acts = d.h.Do(Dispute::Result(d.referee, "honest"));
  const auto decided = Requested(acts, LedgerOpKind::kSlash);
  ASSERT_EQ(decided.size(), 1u);
  ASSERT_TRUE(store->Save(d.h.core.TakeDirty()));
  auto loaded = store->Load();
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->outbox.at("slash:j/s0"), d.h.core.state().outbox.at("slash:j/s0"));
  Core again(Config{}, std::move(*loaded));
  EXPECT_EQ(again.state().verdicts.at("j/s0").slashed_micro_plume, decided[0].amount_micro_plume);
  EXPECT_EQ(again.state().nodes.at("cheat").slashes, 1u);
  // Re-sent as the same request (the ledger applies an id once), never decided again.
  const auto resent = Requested(again.Recover(d.h.now_ms + 1), LedgerOpKind::kSlash);
  ASSERT_EQ(resent.size(), 1u);
  EXPECT_EQ(resent[0], decided[0]);
  EXPECT_TRUE(Requested(again.Handle(d.h.now_ms + 2, Dispute::Result(d.referee, "honest")),
                        LedgerOpKind::kSlash)
                  .empty());
  again.Handle(d.h.now_ms + 3, LedgerApplied{"slash:j/s0"});
  EXPECT_FALSE(again.state().outbox.contains("slash:j/s0"));
  EXPECT_TRUE(Requested(again.Handle(d.h.now_ms + kChallengeWindowMsDefault, Tick{}),
                        LedgerOpKind::kSlash)
                  .empty());
}

TEST(CoreSettle, ACheatingAuditorIsSlashedWithTheRefereeAsFinder) {
  Harness h{Config{}};
  h.Do(AgentRegistered{Agent("a", kPrice)});
  auto first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", Priced(InferSpec(4, 1))}));
  h.Do(AgentRegistered{Agent("cheat", kPrice)});
  h.Do(StakeChanged{"cheat", 100, 50});  // little stake: the slash takes all of it
  auto audit = Only<SendTaskAssign>(h.Do(Dispute::Result(first.at(0), "honest")));
  ASSERT_EQ(audit.at(0).node, "cheat");
  h.Do(AgentRegistered{Agent("c", kPrice)});
  auto referee = Only<SendTaskAssign>(h.Do(Dispute::Result(audit[0], "junk")));
  h.Do(Dispute::Result(referee.at(0), "honest"));
  const auto slashes = Ops(h, LedgerOpKind::kSlash);
  ASSERT_EQ(slashes.size(), 1u);
  EXPECT_EQ(slashes[0].id, "slash:j/s0/audit");
  EXPECT_EQ(slashes[0].node, "cheat");
  EXPECT_EQ(slashes[0].amount_micro_plume, 150);  // stake and unbonding
  EXPECT_EQ(h.core.state().nodes.at("cheat").unbonding_micro_plume, 0);
}

TEST(CoreSettle, ARunPaidBeforeItsVerdictIsClawedBack) {
  Dispute d;
  // As if an older scheduler had settled the original at acceptance, before its audit.
  State s = d.h.core.state();
  Task& orig = s.tasks.at("j/s0");
  orig.settle = SettleState::kApplied;
  orig.settle_deferred = false;
  ASSERT_GT(orig.paid_micro_plume, 0);
  const MicroPlume paid = orig.paid_micro_plume;
  d.h.core = Core(Config{}, s);
  d.h.Do(Dispute::Result(d.referee, "honest"));
  const auto slashes = Ops(d.h, LedgerOpKind::kSlash);
  ASSERT_EQ(slashes.size(), 1u);
  ASSERT_FALSE(slashes[0].legs.empty());
  EXPECT_EQ(slashes[0].legs[0].kind, static_cast<uint8_t>(verify::SlashLegKind::kClawback));
  EXPECT_EQ(slashes[0].legs[0].account, "team:alice");
  EXPECT_EQ(slashes[0].legs[0].amount, paid);
  EXPECT_TRUE(d.h.core.state().verdicts.at("j/s0").faulty_paid);
}

TEST(CoreSettle, WithoutStakeAConvictionSlashesNothing) {
  Config c;
  Harness h(c);
  for (const char* id : {"cheat", "b", "c"}) h.Do(AgentRegistered{Agent(id, kPrice)});
  auto first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", Priced(InferSpec(4, 1))}));
  const SendTaskAssign& f = first.at(0);
  auto audit = Only<SendTaskAssign>(h.Do(Dispute::Result(f, "junk"))).at(0);
  auto referee = Only<SendTaskAssign>(h.Do(Dispute::Result(audit, "honest"))).at(0);
  h.Do(Dispute::Result(referee, "honest"));
  EXPECT_EQ(h.core.state().verdicts.at("j/s0").faulty, f.node);
  EXPECT_TRUE(Ops(h, LedgerOpKind::kSlash).empty());  // a private network: nothing staked
  EXPECT_EQ(h.core.state().nodes.at(f.node).slashes, 0u);
}

TEST(CoreSettle, ARefusedScreenOrALostLeaseCostsPayAndReputationNeverStake) {
  Harness h;
  for (const char* id : {"a", "b"}) {
    h.Do(AgentRegistered{Agent(id, kPrice)});
    h.Do(StakeChanged{id, kStake, 0});
  }
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", Priced(InferSpec(4, 2))}));
  ASSERT_EQ(a.size(), 2u);
  h.Do(TaskRefused{a[0].task, 1, a[0].node, Blob("junk"), "malformed", "not JSON"});
  h.now_ms += 5'000;
  h.Do(Heartbeat{a[0].node, {}});
  h.Advance(kLeaseMsDefault - 5'000);  // the other one went silent: its lease is lost
  const State& s = h.core.state();
  EXPECT_EQ(s.nodes.at(a[0].node).tasks_refused, 1u);
  EXPECT_EQ(s.nodes.at(a[1].node).tasks_lost, 1u);
  EXPECT_TRUE(Ops(h, LedgerOpKind::kSlash).empty());
  for (const auto& [id, n] : s.nodes) {
    EXPECT_EQ(n.stake_micro_plume, kStake);
    EXPECT_EQ(n.slashes, 0u);
  }
  h.Advance(kChallengeWindowMsDefault);
  EXPECT_TRUE(Ops(h, LedgerOpKind::kSettle).empty());  // neither run is paid
}

}  // namespace
}  // namespace plume::scheduler
