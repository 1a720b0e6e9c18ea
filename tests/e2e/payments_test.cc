// Issue 4 end to end, with real processes on loopback: plume-scheduler with the ledger on
// (--operator-id), two plume-agent, and the plume CLI. The operator mints to a team through
// `plume ledger mint`; a team without the balance is refused and nothing is held; a funded
// team's job holds its maximum cost in escrow (quoted by the scheduler, signed by the team at submit), runs, pays each provider
// price x FLOPs / 1e15 per verified task plus the fee to the treasury (exact integers), and gets
// the rest released; a scheduler SIGKILLed mid-job restarts onto a ledger that still verifies
// and has paid no task twice; `plume audit`, `plume ledger verify` and `plume ledger prove` pass.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "network.h"
#include "paid_network.h"
#include "plume/ledger/amount.h"
#include "plume/ledger/entry.h"
#include "plume/ledger/ledger.h"
#include "plume/protocol/identity.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class PaymentsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(paid_.operator_id().empty());
    std::string why;
    ASSERT_TRUE(StartScheduler(&why)) << why;
    // Two prices under the job's maximum (an agent asking more is not placed at all).
    ASSERT_TRUE(net_.StartAgent("a", &why, {"--price", std::to_string(kPriceA)})) << why;
    ASSERT_TRUE(net_.StartAgent("b", &why, {"--price", std::to_string(kPriceB)})) << why;
    ASSERT_TRUE(net_.WaitActiveNodes(2, seconds(60))) << net_.Logs();
  }

  bool StartScheduler(std::string* why) { return paid_.StartScheduler(why); }
  fs::path operator_key() const { return paid_.operator_key(); }
  std::string ledger_dir() const { return paid_.ledger_dir(); }

  CommandResult Mint(const std::string& id, int64_t amount, const fs::path& key) {
    return paid_.Mint(id, amount, key);
  }
  int64_t TeamBalance() {
    std::string why;
    auto b = net_.CliJson({"balance", "--ledger-dir", ledger_dir()}, &why);
    EXPECT_TRUE(b) << why;
    return b ? (*b)["balance_micro_plume"].get<int64_t>() : -1;
  }
  std::string Submit(const std::string& name, int rounds, int local_steps) {
    TrainShape shape;
    shape.rounds = rounds;
    shape.local_steps = local_steps;
    // A maximum price high enough that these tiny tasks earn whole micro-PLUME and fees.
    return paid_.Submit(paid_.WriteSpec(name, data_, shape, kMaxPrice));
  }
  void ExpectLedgerVerifies() {
    CommandResult v = net_.Cli({"ledger", "verify", ledger_dir()});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    EXPECT_NE(v.out.find("VERIFIED"), std::string::npos) << v.out;
  }

  static constexpr uint64_t kPriceA = 2'000'000'000'000;    // micro-PLUME per PFLOP
  static constexpr uint64_t kPriceB = 1'500'000'000'000;
  static constexpr uint64_t kMaxPrice = 2'500'000'000'000;  // the job's cap
  Network net_{"pay"};
  PaidNetwork paid_{net_};
  fs::path data_ = WriteTrainingText(net_.dir().path(), 40'000);
};

TEST_F(PaymentsE2E, BrokeTeamRefusedMintedTeamRunsLedgerSurvivesKill) {
  // Without credits: refused with the reason shown to the team, nothing held or spent.
  const std::string broke = Submit("broke", 1, 5);
  ASSERT_FALSE(broke.empty());
  auto refused = net_.WaitJobState(broke, {"succeeded", "failed", "cancelled"}, seconds(60));
  ASSERT_TRUE(refused) << net_.Logs();
  EXPECT_EQ((*refused)["state"], "failed") << refused->dump();
  EXPECT_NE(refused->dump().find("insufficient balance"), std::string::npos) << refused->dump();
  EXPECT_EQ((*refused)["tasks_done"].get<int>(), 0);

  // Only the operator key mints; the ledger itself refuses the team's own attempt.
  CommandResult forged = Mint("mint:forged", 1'000'000'000, net_.client_key());
  EXPECT_EQ(forged.exit_code, 1) << forged.out << forged.err;
  EXPECT_NE(forged.err.find("bad_signature"), std::string::npos) << forged.err;
  CommandResult mint = Mint("mint:1", 120'000'000, operator_key());
  ASSERT_EQ(mint.exit_code, 0) << mint.out << mint.err << net_.Logs();
  EXPECT_EQ(TeamBalance(), 120'000'000);

  // Funded: the maximum cost is held, the job runs. Kill the scheduler mid-job and restart it.
  const std::string job = Submit("funded", 2, 30);
  ASSERT_FALSE(job.empty());
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::string ignored;
        auto st = net_.CliJson({"status", job}, &ignored, seconds(10));
        return st && (*st)["state"] == "running";
      },
      seconds(60), milliseconds(100)))
      << net_.Logs();
  net_.scheduler().Kill();
  ExpectLedgerVerifies();  // a SIGKILLed writer leaves a verifiable ledger
  std::string why;
  ASSERT_TRUE(StartScheduler(&why)) << why;
  // The mint queued again under the same id after the restart is applied once.
  ASSERT_EQ(Mint("mint:1", 120'000'000, operator_key()).exit_code, 0);
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(150));
  ASSERT_TRUE(done) << net_.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();

  // Every settle of the job, from `plume ledger history --json`: one per task, whatever the
  // restart re-sent; the sums the ledger should hold follow from the receipts alone.
  std::string hwhy;
  auto history = net_.CliJson({"ledger", "history", "--json", "--ledger-dir", ledger_dir()}, &hwhy);
  ASSERT_TRUE(history) << hwhy;
  std::map<std::string, int> settles_per_task;
  std::map<std::string, int64_t> earned;  // provider account -> expected balance
  int64_t paid = 0, fees = 0;
  for (const json& e : *history) {
    if (e["type"] != "settle" || e["job"] != job) continue;
    const json& r = e["receipt"];
    ++settles_per_task[r["task"].get<std::string>()];
    EXPECT_EQ(r["fee_bps"].get<uint32_t>(), 500u);  // the scheduler's default --fee-bps
    const std::string agent = r["agent"].get<std::string>();
    // The agent's advertised price (capped by the job's maximum, which both are under).
    EXPECT_EQ(r["price_micro_plume_per_pflop"].get<uint64_t>(),
              agent == net_.agent_id("a") ? kPriceA : kPriceB)
        << agent;
    const auto pay = ledger::PayForFlops(r["price_micro_plume_per_pflop"].get<uint64_t>(),
                                         r["flops"].get<uint64_t>());
    ASSERT_TRUE(pay);
    EXPECT_GT(pay->value(), 0);
    earned["provider:" + agent] += pay->value();
    paid += pay->value();
    fees += ledger::FeeFor(*pay, r["fee_bps"].get<uint32_t>()).value();
  }
  EXPECT_EQ(settles_per_task.size(), 4u) << history->dump();  // 2 rounds x 2 workers
  for (const auto& [task, n] : settles_per_task) EXPECT_EQ(n, 1) << "task " << task;
  EXPECT_EQ(TeamBalance(), 120'000'000 - paid - fees);

  ExpectLedgerVerifies();
  CommandResult prove = net_.Cli({"ledger", "prove", "hold:" + job, "--ledger-dir", ledger_dir(),
                                  "--ledger-id", net_.scheduler_id()});
  EXPECT_EQ(prove.exit_code, 0) << prove.out << prove.err;
  EXPECT_NE(prove.out.find("PROVEN"), std::string::npos) << prove.out;
  std::string why2;
  auto audit = net_.CliJson(
      {"audit", job, "--ledger-dir", ledger_dir(), "--ledger-id", net_.scheduler_id()}, &why2);
  ASSERT_TRUE(audit) << why2;
  EXPECT_TRUE((*audit)["ok"].get<bool>()) << audit->dump();
  const json& hold = (*audit)["hold"];
  // The hold is the job's maximum cost, not its budget: each of the 4 tasks at the job's
  // maximum price plus the 5 % fee, from the FLOPs the receipts carry (every worker task of a
  // job does the same work).
  uint64_t flops = 0;
  for (const json& e : *history) {
    if (e["type"] == "settle" && e["job"] == job) flops = e["receipt"]["flops"].get<uint64_t>();
  }
  ASSERT_GT(flops, 0u);
  const int64_t max_cost = 4 * ledger::CostWithFee(kMaxPrice, flops, 500)->value();
  EXPECT_EQ(hold["held"].get<int64_t>(), max_cost);
  EXPECT_LT(hold["held"].get<int64_t>(), 50'000'000);  // under the spec's budget
  EXPECT_EQ(hold["held"].get<int64_t>(), hold["paid"].get<int64_t>() + hold["fees"].get<int64_t>() +
                                             hold["released"].get<int64_t>());
  EXPECT_EQ(hold["paid"].get<int64_t>(), paid);
  EXPECT_EQ(hold["fees"].get<int64_t>(), fees);
  EXPECT_TRUE(hold["closed"].get<bool>());

  auto ledger = ledger::Ledger::OpenReadOnly(ledger_dir());
  ASSERT_TRUE(ledger) << ledger.error().message;
  EXPECT_FALSE((*ledger)->Hold(broke).has_value());  // the refused job held nothing
  ASSERT_EQ(earned.size(), 2u);  // both agents worked and were paid
  for (const auto& [account, amount] : earned) {
    EXPECT_EQ((*ledger)->Balance(account).value_or(ledger::MicroPlume(-1)).value(), amount)
        << account;
  }
  EXPECT_EQ((*ledger)->Balance(ledger::kTreasury).value_or(ledger::MicroPlume(-1)).value(), fees);
  EXPECT_EQ((*ledger)->Balance(ledger::EscrowAccount(job)).value_or(ledger::MicroPlume(0)).value(),
            0);
  // The team account (opened by the scheduler), one mint, one hold, two provider accounts, four
  // settles, two round checkpoints, one release: the forged mint, the re-queued mint and whatever
  // the restart re-sent added nothing.
  EXPECT_EQ((*ledger)->size(), 12u);
}

}  // namespace
}  // namespace plume::itest
