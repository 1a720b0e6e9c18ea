// Executions of adopted proposals while the network works (docs/governance.md "What a change
// applies to"), with real processes: plume-scheduler with the ledger on, plume-agent, the CLI.
//
//  - RunningJobKeepsItsFeeWhenAChangeExecutes: a job is running on two agents, some of its tasks
//    already settled, when a fee change from 5 % to 3 % executes. The agents are frozen
//    (SIGSTOP) once the first settle is in the ledger, so the execution falls inside the job for
//    certain, not by timing; a generous lease keeps them from being declared lost meanwhile.
//    Every settle of that job, before and after the execution in ledger order, carries 5 %; a
//    job submitted after the execution pays 3 %; the treasury and the team's balance, recomputed
//    from the receipts in the ledger, are what the ledger holds.
//  - TreasuryGrantIsPaidOnceAcrossAKill: a grant passes, the scheduler is SIGKILLed between
//    adoption and execution, and after two restarts the grantee (a key the ledger had never
//    seen) holds exactly the grant, the treasury the rest, with one gov-exec entry; `plume
//    ledger verify` recomputes the same balances and recounts the tally.
#include <signal.h>

#include <gtest/gtest.h>

#include <map>

#include "gov_fixture.h"
#include "plume/ledger/amount.h"

namespace plume::itest {
namespace {
using nlohmann::json;
using namespace std::chrono_literals;

class GovRunningJobE2E : public GovE2E {
 protected:
  // Timelock 1 s (>= unbonding 1 s): the execution comes soon after the vote. Lease 60 s: the
  // frozen agents stay placed (the harness's lease is 3 s).
  void SetUp() override {
    StartStaked({"--unbonding-ms", "1000", "--gov-timelock-ms", "1000", "--lease-ms", "60000"});
    if (HasFatalFailure()) return;
    std::string why;
    for (const std::string name : {"w1", "w2"}) {
      ASSERT_TRUE(net_.StartAgent(name, &why, {"--price", std::to_string(kPrice)})) << why;
    }
    ASSERT_TRUE(net_.WaitActiveNodes(2, 60s)) << net_.Logs();
  }
  void FreezeAgents(bool frozen) {
    for (const std::string name : {"w1", "w2"}) net_.agent(name).Signal(frozen ? SIGSTOP : SIGCONT);
  }
  json History() {
    std::string why;
    auto h = paid_.History(&why);
    EXPECT_TRUE(h) << why;
    return h.value_or(json::array());
  }
  int SettlesOf(const std::string& job) {
    int n = 0;
    for (const json& e : History()) n += e["type"] == "settle" && e["job"] == job;
    return n;
  }

  static constexpr uint64_t kPrice = 2'000'000'000'000;  // micro-PLUME per PFLOP, under kMaxPrice
};

TEST_F(GovRunningJobE2E, RunningJobKeepsItsFeeWhenAChangeExecutes) {
  TrainShape shape;
  shape.rounds = 3;
  const fs::path spec = paid_.WriteSpec("running", data_, shape, kMaxPrice);
  ASSERT_EQ(Quote(spec)["fee_bps"], 500);
  const std::string running = paid_.Submit(spec);
  ASSERT_FALSE(running.empty());
  ASSERT_TRUE(WaitFor([&] { return SettlesOf(running) > 0; }, 120s)) << net_.Logs();
  FreezeAgents(true);

  ASSERT_EQ(Propose("fee-300", "fee_bps", 300).exit_code, 0) << net_.Logs();
  Vote("a", "fee-300", "yes");
  ASSERT_TRUE(WaitFor([&] { return Show("fee-300")["executed"].get<bool>(); }, 40s)) << net_.Logs();
  EXPECT_EQ(Param("fee_bps"), 300);
  // Still running: tasks assigned to the frozen agents or waiting for them, none finished since.
  std::string why;
  auto mid = net_.CliJson({"status", running, "--json"}, &why);
  ASSERT_TRUE(mid) << why;
  EXPECT_EQ((*mid)["state"], "running") << mid->dump();
  EXPECT_LT(SettlesOf(running), 2 * shape.rounds);
  // A job submitted now is quoted and accepted under the new fee.
  const fs::path next_spec = paid_.WriteSpec("next", data_, shape, kMaxPrice);
  ASSERT_EQ(Quote(next_spec)["fee_bps"], 300);
  const std::string next = paid_.Submit(next_spec);
  ASSERT_FALSE(next.empty());
  FreezeAgents(false);

  for (const std::string& job : {running, next}) {
    auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, 180s);
    ASSERT_TRUE(done) << net_.Logs();
    ASSERT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();
  }

  // The ledger in order: every settle's fee is its job's, whichever side of the execution.
  const json history = History();
  uint64_t exec_index = 0;
  for (const json& e : history) {
    if (e["id"] == "gov-exec-fee-300") exec_index = e["index"];
  }
  ASSERT_GT(exec_index, 0u);
  const std::map<std::string, uint32_t> fee_of = {{running, 500}, {next, 300}};
  std::map<std::string, int> before_exec, after_exec;
  int64_t paid = 0, fees = 0;
  for (const json& e : history) {
    if (e["type"] != "settle") continue;
    const std::string job = e["job"];
    ASSERT_TRUE(fee_of.contains(job)) << e.dump();
    const json& r = e["receipt"];
    EXPECT_EQ(r["fee_bps"].get<uint32_t>(), fee_of.at(job)) << e.dump();
    ++(e["index"].get<uint64_t>() < exec_index ? before_exec : after_exec)[job];
    const auto pay = ledger::PayForFlops(r["price_micro_plume_per_pflop"].get<uint64_t>(),
                                         r["flops"].get<uint64_t>());
    ASSERT_TRUE(pay);
    paid += pay->value();
    fees += ledger::FeeFor(*pay, fee_of.at(job)).value();
  }
  EXPECT_GE(before_exec[running], 1) << "no settle of the running job before the execution";
  EXPECT_GE(after_exec[running], 1) << "no settle of the running job after the execution";
  EXPECT_EQ(before_exec[next], 0);
  EXPECT_EQ(before_exec[running] + after_exec[running], 2 * shape.rounds);
  EXPECT_EQ(after_exec[next], 2 * shape.rounds);

  const json verified = Verified();
  ASSERT_TRUE(verified["ok"].get<bool>()) << verified.dump();
  EXPECT_EQ(verified["balances"]["treasury"], fees);
  // The team was minted 1000 PLUME; its proposal deposit came back; both holds are released.
  EXPECT_EQ(verified["balances"][paid_.team()], 1000 * kPlume - paid - fees);
}

TEST_F(GovE2E, TreasuryGrantIsPaidOnceAcrossAKill) {
  ASSERT_EQ(net_.Cli({"ledger", "mint", "--to", "treasury", "--amount",
                      std::to_string(400 * kPlume), "--id", "mint:treasury", "--key",
                      paid_.operator_key().string()})
                .exit_code,
            0)
      << net_.Logs();
  const std::string grantee = "provider:" + MakeKey(net_.dir() / "keys" / "grantee.key");
  EXPECT_EQ(paid_.Balance(grantee), -1);  // never seen by the ledger
  // More than the treasury holds is refused when proposed, and writes nothing.
  CommandResult greedy = ProposeGrant("greedy", grantee, "401");
  EXPECT_EQ(greedy.exit_code, 2) << greedy.out << greedy.err;
  EXPECT_EQ(CountEntries("greedy"), 0);

  CommandResult p = ProposeGrant("rocm", grantee, "250");
  ASSERT_EQ(p.exit_code, 0) << p.out << p.err << net_.Logs();
  Vote("a", "rocm", "yes");
  Vote("b", "rocm", "no");
  ASSERT_TRUE(WaitFor([&] { return Show("rocm")["outcome"] == "passed"; }, 30s)) << net_.Logs();
  ASSERT_FALSE(Show("rocm")["executed"].get<bool>()) << "the timelock should still run";
  EXPECT_EQ(paid_.Balance("treasury"), 400 * kPlume);
  net_.scheduler().Kill();
  std::string why;
  ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
  ASSERT_TRUE(WaitFor([&] { return Show("rocm")["executed"].get<bool>(); }, 40s)) << net_.Logs();
  net_.scheduler().Kill();
  ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
  // A restarted scheduler finds the execution in the ledger: a tick later nothing more is paid.
  ASSERT_TRUE(WaitFor([&] { return Show("rocm")["executed"].get<bool>(); }, 20s)) << net_.Logs();

  EXPECT_EQ(CountEntries("gov-exec-rocm"), 1);
  EXPECT_EQ(paid_.Balance(grantee), 250 * kPlume);
  EXPECT_EQ(paid_.Balance("treasury"), 150 * kPlume);
  const json verified = Verified();
  ASSERT_TRUE(verified["ok"].get<bool>()) << verified.dump();
  EXPECT_EQ(verified["balances"][grantee], 250 * kPlume);
  EXPECT_EQ(verified["balances"]["treasury"], 150 * kPlume);
  EXPECT_EQ(verified["balances"]["deposit:rocm"], 0);
  auto offline = net_.CliJson({"gov", "tally", "rocm", "--ledger-dir", paid_.ledger_dir(), "--json"}, &why);
  ASSERT_TRUE(offline) << why;
  EXPECT_EQ((*offline)["outcome"], "passed");
  EXPECT_EQ((*offline)["yes"], 600 * kPlume);
  EXPECT_EQ((*offline)["no"], 300 * kPlume);
}

}  // namespace
}  // namespace plume::itest
