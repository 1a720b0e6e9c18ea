// `plume audit`'s per-task money: settles give final pay and fee from the receipt's price and
// FLOPs; a slash of a task adds up its legs by kind; entries of other kinds add nothing.
#include "audit_money.h"

#include <gtest/gtest.h>

#include "plume/ledger/entry.h"

namespace plume::cli {
namespace {

ledger::LoggedEntry Logged(ledger::Entry e) {
  ledger::LoggedEntry l;
  l.entry = std::move(e);
  return l;
}

ledger::TaskReceipt Receipt(const std::string& task, const PublicKey& agent) {
  ledger::TaskReceipt r;
  r.job_id = "job-1";
  r.task_id = task;
  r.agent = agent;
  r.flops = 2'000'000'000'000'000;  // 2 PFLOP
  r.price_micro_plume_per_pflop = 300;
  r.fee_bps = 500;
  return r;
}

TEST(AuditMoney, SettlesAndSlashesAddUpPerTask) {
  const PublicKey honest = Identity::Generate().public_key();
  const PublicKey cheat = Identity::Generate().public_key();
  std::vector<ledger::LoggedEntry> entries;
  entries.push_back(Logged(ledger::MakeEscrowHold("hold:job-1", "team:x", "job-1", ledger::MicroPlume(10'000))));
  entries.push_back(Logged(ledger::MakeSettle("settle:a", Receipt("job-1/s0", honest))));
  entries.push_back(Logged(ledger::MakeSettle("settle:b", Receipt("job-1/s1", cheat))));
  std::vector<ledger::Leg> legs = {
      {ledger::LegKind::kClawback, "team:x", ledger::MicroPlume(600)},
      {ledger::LegKind::kCompensation, "team:x", ledger::MicroPlume(1200)},
      {ledger::LegKind::kFinder, "provider:y", ledger::MicroPlume(500)},
      {ledger::LegKind::kTreasury, "treasury", ledger::MicroPlume(2700)}};
  entries.push_back(Logged(ledger::MakeSlash("slash:job-1/s1", Receipt("job-1/s1", cheat),
                                             ledger::MicroPlume(5000), legs, "evidence")));
  const auto money = MoneyByTask(entries);
  ASSERT_EQ(money.size(), 2u);
  const TaskMoney& a = money.at("job-1/s0");
  EXPECT_EQ(a.provider, ToHex(honest));
  EXPECT_EQ(a.paid, 600);  // 2 PFLOP x 300
  EXPECT_EQ(a.fee, 30);    // 5 %
  EXPECT_EQ(a.slashed, 0);
  const TaskMoney& b = money.at("job-1/s1");
  EXPECT_EQ(b.paid, 600);
  EXPECT_EQ(b.slashed, 5000);
  EXPECT_EQ(b.clawback, 600);
  EXPECT_EQ(b.compensation, 1200);
  EXPECT_EQ(b.finder, 500);
  EXPECT_EQ(b.treasury, 2700);
  EXPECT_EQ(b.clawback + b.compensation + b.finder + b.treasury, b.slashed);
}

}  // namespace
}  // namespace plume::cli
