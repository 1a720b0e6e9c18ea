// The verification reserve and verdicts in the ledger (core_verdict.cc): a job holds a reserve
// besides its own cost, every audit and referee run that returns a verified result is paid from
// it (even when the job's own tasks spent their whole part at the maximum price), a smaller
// reserve caps the audits drawn rather than their pay, and every concluded audit asks for one
// verdict entry (and a faulty unpaid run for its receipt) that the majority rule agrees with,
// before the release and across a restart.
#include <gtest/gtest.h>

#include <filesystem>

#include "core_test_util.h"
#include "plume/ledger/verdict.h"
#include "plume/scheduler/store.h"
#include "verdict_memo.h"

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
std::string Honest(const SendTaskAssign& a) {
  return "out:" + a.job + "/" + std::to_string(a.shard);
}

constexpr MicroPlume kMaxPrice = 1'000'000'000'000;  // a task then costs more than 0

// InferSpec at a price where each task's pay is a real amount.
JobSpec Priced(uint32_t prompts, uint32_t shards) {
  JobSpec s = InferSpec(prompts, shards);
  s.max_price_micro_plume_per_pflop = kMaxPrice;
  s.budget_micro_plume = MaxJobCostMicroPlume(s);
  return s;
}

// Runs every assignment to the end honestly (results of results too), in order; the audit runs.
std::vector<SendTaskAssign> RunAll(Harness& h, std::vector<SendTaskAssign> pending) {
  std::vector<SendTaskAssign> audits;
  while (!pending.empty()) {
    const SendTaskAssign a = pending.front();
    pending.erase(pending.begin());
    if (a.task.ends_with("/audit")) audits.push_back(a);
    for (const auto& x : Only<SendTaskAssign>(h.Do(Result(a, Honest(a))))) pending.push_back(x);
  }
  return audits;
}


const LedgerOp* Op(const Harness& h, const std::string& id) {
  for (const LedgerOp& op : h.ledger) {
    if (op.id == id) return &op;
  }
  return nullptr;
}

// Every run of the verdict's outputs, as the core recorded them, checked by the ledger's rule.
std::string CheckVerdict(const Harness& h, const LedgerOp& op) {
  auto fact = ParseVerdictMemo(op.memo);
  if (!fact) return "malformed memo: " + op.memo;
  std::vector<std::optional<Hash256>> outputs;
  const char* suffixes[] = {"", "/audit", "/referee"};
  for (size_t i = 0; i < fact->runs.size(); ++i) {
    const Task& t = h.TaskAt(op.task + suffixes[i]);
    if (fact->runs[i].task != std::to_string(t.wire_id)) return "run " + std::to_string(i);
    outputs.push_back(MemoHash(t.output_blob));
  }
  return ledger::VerdictProblem(*fact, outputs);
}

TEST(CoreVerification, TheHoldCarriesTheReserveAndEveryAuditRunIsPaidFromIt) {
  Harness h(Config{});
  // Both bid the job's maximum, so the job's own tasks take its whole cost at that price:
  // without the reserve the audit runs found the escrow spent and worked for nothing.
  h.Do(AgentRegistered{Agent("a", kMaxPrice)});
  h.Do(AgentRegistered{Agent("b", kMaxPrice)});
  auto first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", Priced(4, 2)}));
  ASSERT_FALSE(first.empty());
  const JobSpec& held = h.JobAt("j").spec;
  EXPECT_EQ(held.verification_reserve_bps, kVerificationReserveBpsDefault);
  const MicroPlume own = MaxJobCostMicroPlume(held);
  MicroPlume runs = 0;
  for (uint32_t s = 0; s < 2; ++s) {
    runs += VerificationRunCostMicroPlume(held, TaskFlops(held, s));
  }
  EXPECT_EQ(VerificationReserveMicroPlume(held), 2 * runs);  // an audit and a referee each
  ASSERT_NE(Op(h, "hold:j"), nullptr);
  EXPECT_EQ(Op(h, "hold:j")->amount_micro_plume, own + 2 * runs);
  EXPECT_GT(runs, 0);
  ASSERT_EQ(RunAll(h, first).size(), 2u);  // both new: both results audited
  MicroPlume spent = 0;
  for (const char* task : {"j/s0/audit", "j/s1/audit", "j/s0", "j/s1"}) {
    const LedgerOp* settle = Op(h, std::string("settle:") + task);
    ASSERT_NE(settle, nullptr) << task;
    // Price x FLOPs at the job's maximum (what the provider won at), from the spec.
    const Task& t = h.TaskAt(task);
    EXPECT_EQ(settle->amount_micro_plume, PayMicroPlume(TaskFlops(held, t.shard), kMaxPrice));
    EXPECT_GT(settle->amount_micro_plume, 0);
    EXPECT_EQ(t.settle, SettleState::kApplied) << task;
    spent += settle->amount_micro_plume +
             ledger::FeeFor(ledger::MicroPlume(settle->amount_micro_plume), held.fee_bps).value();
  }
  EXPECT_LE(spent, Op(h, "hold:j")->amount_micro_plume);
  EXPECT_GT(spent, own);  // the old escrow could not have paid the audits
  // Both matched audits are in the ledger as verdicts the receipts agree with, before the release.
  for (const char* task : {"j/s0", "j/s1"}) {
    const LedgerOp* v = Op(h, std::string("verdict:") + task);
    ASSERT_NE(v, nullptr) << task;
    EXPECT_EQ(v->kind, LedgerOpKind::kVerdict);
    EXPECT_EQ(CheckVerdict(h, *v), "");
    EXPECT_EQ(ParseVerdictMemo(v->memo)->outcome, ledger::VerdictOutcome::kMatched);
    EXPECT_EQ(ParseVerdictMemo(v->memo)->runs.size(), 2u);
  }
  EXPECT_EQ(h.ledger.back().id, "release:j");
}

TEST(CoreVerification, ASmallerReserveCapsTheAuditsDrawnNeverTheirPay) {
  Config c;
  c.verification_reserve_bps = 10'000;  // room for an audit and a referee of half the tasks
  Harness h(c);
  h.Do(AgentRegistered{Agent("a", kMaxPrice)});
  h.Do(AgentRegistered{Agent("b", kMaxPrice)});
  auto first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", Priced(4, 4)}));
  ASSERT_FALSE(first.empty());
  const std::vector<SendTaskAssign> audits = RunAll(h, first);
  int audited = 0, no_reserve = 0;
  for (uint32_t s = 0; s < 4; ++s) {
    const AuditStatus st = h.TaskAt("j/s" + std::to_string(s)).audit;
    audited += st == AuditStatus::kMatched;
    no_reserve += st == AuditStatus::kNoReserve;
  }
  EXPECT_EQ(audited, 2);
  EXPECT_EQ(no_reserve, 2);
  EXPECT_EQ(audits.size(), 2u);
  for (const SendTaskAssign& a : audits) {
    ASSERT_NE(Op(h, "settle:" + a.task), nullptr) << a.task;
    EXPECT_GT(Op(h, "settle:" + a.task)->amount_micro_plume, 0);
  }
}

TEST(CoreVerification, AConvictionRecordsTheUnpaidRunsReceiptAndAVerdictTheHashesGive) {
  Harness h(Config{});
  h.Do(AgentRegistered{Agent("cheat", kMaxPrice)});
  auto first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", Priced(4, 1)}));
  h.Do(AgentRegistered{Agent("b", kMaxPrice)});
  h.Do(AgentRegistered{Agent("c", kMaxPrice)});
  auto audit = Only<SendTaskAssign>(h.Do(Result(first.at(0), "junk")));
  auto referee = Only<SendTaskAssign>(h.Do(Result(audit.at(0), Honest(audit[0]))));
  h.Do(Result(referee.at(0), Honest(referee[0])));
  const LedgerOp* receipt = Op(h, "receipt:j/s0");
  ASSERT_NE(receipt, nullptr);
  EXPECT_EQ(receipt->kind, LedgerOpKind::kReceipt);
  EXPECT_EQ(receipt->node, "cheat");
  EXPECT_EQ(receipt->amount_micro_plume, 0);
  EXPECT_EQ(Op(h, "settle:j/s0"), nullptr);  // never paid
  const LedgerOp* v = Op(h, "verdict:j/s0");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(CheckVerdict(h, *v), "");
  EXPECT_EQ(ParseVerdictMemo(v->memo)->outcome, ledger::VerdictOutcome::kOriginalFaulty);
  EXPECT_EQ(ParseVerdictMemo(v->memo)->runs.size(), 3u);
  // The referee is paid its run from the reserve.
  ASSERT_NE(Op(h, "settle:j/s0/referee"), nullptr);
  EXPECT_GT(Op(h, "settle:j/s0/referee")->amount_micro_plume, 0);
  EXPECT_EQ(Op(h, "settle:j/s0/referee")->amount_micro_plume,
            h.TaskAt("j/s0/referee").paid_micro_plume);
  // The check fails a verdict the hashes contradict (the same memo, the referee's output moved).
  LedgerOp lie = *v;
  auto fact = ParseVerdictMemo(lie.memo);
  fact->outcome = ledger::VerdictOutcome::kAuditorFaulty;
  lie.memo = VerdictMemo(*fact);
  EXPECT_NE(CheckVerdict(h, lie).find("the runs' output hashes give original_faulty"),
            std::string::npos);
  // Order: the receipt and the verdict before the release.
  size_t at_receipt = 0, at_verdict = 0, at_release = 0;
  for (size_t i = 0; i < h.ledger.size(); ++i) {
    if (h.ledger[i].id == "receipt:j/s0") at_receipt = i;
    if (h.ledger[i].id == "verdict:j/s0") at_verdict = i;
    if (h.ledger[i].id == "release:j") at_release = i;
  }
  EXPECT_LT(at_receipt, at_release);
  EXPECT_LT(at_verdict, at_release);
}

TEST(CoreVerification, AConclusionNotYetInTheLedgerIsSentAgainAfterARestartOnce) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("plume-verdict-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto store = Store::Open(dir / "s.db", Sync::kNormal);
  ASSERT_TRUE(store);
  Harness h(Config{});
  h.Do(AgentRegistered{Agent("a", kMaxPrice)});
  auto first = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", Priced(4, 1)}));
  h.Do(AgentRegistered{Agent("b", kMaxPrice)});
  auto audit = Only<SendTaskAssign>(h.Do(Result(first.at(0), Honest(first[0]))));
  // The ledger goes silent: the audit concludes, its requests are decided and saved, and the
  // scheduler dies before any of them is applied.
  h.auto_ledger = false;
  h.Do(Result(audit.at(0), Honest(audit[0])));
  ASSERT_TRUE(store->Save(h.core.TakeDirty()));
  auto loaded = store->Load();
  ASSERT_TRUE(loaded);
  std::map<std::string, int> pending;
  for (const auto& [id, op] : loaded->outbox) ++pending[id];
  for (const char* id : {"settle:j/s0", "settle:j/s0/audit", "verdict:j/s0", "release:j"}) {
    EXPECT_EQ(pending[id], 1) << id;
  }
  // The new core re-sends each once, in the order decided; the ledger answers applied.
  Harness again(Config{});
  again.core = Core(Config{}, std::move(*loaded));
  again.now_ms = h.now_ms;
  auto resent = Only<LedgerRequest>(again.core.Recover(again.now_ms));
  std::vector<std::string> ids;
  for (const LedgerRequest& r : resent) ids.push_back(r.op.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"settle:j/s0", "settle:j/s0/audit", "verdict:j/s0",
                                           "release:j"}));
  for (const std::string& id : ids) again.Do(LedgerApplied{id});
  EXPECT_EQ(again.TaskAt("j/s0/audit").settle, SettleState::kApplied);
  EXPECT_EQ(again.JobAt("j").paid_micro_plume,
            again.TaskAt("j/s0").paid_micro_plume + again.TaskAt("j/s0/audit").paid_micro_plume);
  EXPECT_TRUE(again.core.state().outbox.empty());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace plume::scheduler
