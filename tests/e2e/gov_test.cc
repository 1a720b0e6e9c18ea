// Governance by stake end to end (docs/governance.md): a real plume-scheduler with the ledger on,
// the real plume CLI, provider keys that stake (no agent needs to run to vote). Short voting
// periods and timelocks come from the --gov-* flags; the bounds still refuse unsafe values.
//
//  - AdoptedFeeChangeWaitsItsTimelockSurvivesAKillAndAppliesOnce: a fee change passes with the
//    vote of a staker who then unbonds (the tally does not move), the scheduler is SIGKILLed
//    between adoption and execution, and after the restart the change is executed exactly once
//    (one gov-exec entry, across a second restart too); a job accepted before keeps its escrow
//    at the old fee, one submitted after is held at the new fee; the tally recounted from the
//    ledger alone equals the scheduler's and `plume ledger verify` recounts every tally.
//  - QuorumVetoAndBounds: an audit rate of 0 is refused at proposal time (nothing written);
//    a proposal with 10 % turnout fails on quorum (deposit refunded); one vetoed by 40 % of
//    the votes burns its deposit.
#include <gtest/gtest.h>

#include "gov_fixture.h"

namespace plume::itest {
namespace {
using nlohmann::json;
using namespace std::chrono_literals;

TEST_F(GovE2E, AdoptedFeeChangeWaitsItsTimelockSurvivesAKillAndAppliesOnce) {
  TrainShape shape;
  const fs::path spec = paid_.WriteSpec("job", data_, shape, kMaxPrice);
  const json quote_before = Quote(spec);
  EXPECT_EQ(quote_before["fee_bps"], 500);
  const std::string before = paid_.Submit(spec);
  ASSERT_FALSE(before.empty());
  CommandResult p = Propose("fee-300", "fee_bps", 300);
  ASSERT_EQ(p.exit_code, 0) << p.out << p.err << net_.Logs();
  Vote("a", "fee-300", "no");
  Vote("a", "fee-300", "yes");  // a later vote replaces the earlier one
  // a unbonds all of its stake after voting: its power on fee-300 stays what it was.
  CommandResult un = net_.Cli({"unstake", "600", "--key", Key("a").string()});
  ASSERT_EQ(un.exit_code, 0) << un.out << un.err;
  json shown = Show("fee-300");
  EXPECT_EQ(shown["yes"], 600 * kPlume);
  EXPECT_EQ(shown["no"], 0);
  EXPECT_EQ(shown["staked"], 1000 * kPlume);
  EXPECT_EQ(shown["voters"], 1);

  ASSERT_TRUE(WaitFor([&] { return Show("fee-300")["outcome"] == "passed"; }, 30s)) << net_.Logs();
  shown = Show("fee-300");
  EXPECT_EQ(shown["yes"], 600 * kPlume);  // the final tally: unbonding changed nothing
  // Adopted, not executed: the timelock holds the old fee. Kill the scheduler in between.
  ASSERT_FALSE(shown["executed"].get<bool>()) << "the timelock should still run";
  EXPECT_EQ(Param("fee_bps"), 500);
  net_.scheduler().Kill();
  std::string why;
  ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
  ASSERT_TRUE(WaitFor([&] { return Show("fee-300")["executed"].get<bool>(); }, 40s)) << net_.Logs();
  std::string set_by;
  EXPECT_EQ(Param("fee_bps", &set_by), 300);
  EXPECT_EQ(set_by, "fee-300");
  // Restart again: the change is derived from the ledger, and never executed twice.
  net_.scheduler().Kill();
  ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
  EXPECT_EQ(Param("fee_bps"), 300);
  EXPECT_EQ(CountEntries("gov-exec-fee-300"), 1);
  EXPECT_EQ(CountEntries("gov-outcome-fee-300"), 1);

  // The job accepted before keeps its fee (its escrow); a job submitted now is held at 3 %.
  const json quote_after = Quote(spec);
  EXPECT_EQ(quote_after["fee_bps"], 300);
  const std::string after = paid_.Submit(paid_.WriteSpec("again", data_, shape, kMaxPrice));
  ASSERT_FALSE(after.empty());
  auto s_before = net_.CliJson({"status", before, "--json"}, &why);
  auto s_after = net_.CliJson({"status", after, "--json"}, &why);
  ASSERT_TRUE(s_before && s_after) << why;
  const int64_t held_before = (*s_before)["escrow_micro_plume"];
  const int64_t held_after = (*s_after)["escrow_micro_plume"];
  // The same spec: each held its quote under the fee in force when it was accepted.
  EXPECT_EQ(held_before, quote_before["max_cost_micro_plume"].get<int64_t>());
  EXPECT_EQ(held_after, quote_after["max_cost_micro_plume"].get<int64_t>());
  EXPECT_LT(held_after, held_before);

  // The tally recounted from the ledger alone equals the scheduler's.
  auto offline = net_.CliJson({"gov", "tally", "fee-300", "--ledger-dir", paid_.ledger_dir(), "--json"}, &why);
  auto online = net_.CliJson({"gov", "tally", "fee-300", "--json"}, &why);
  ASSERT_TRUE(offline && online) << why;
  EXPECT_EQ(*offline, *online);
  EXPECT_EQ((*offline)["outcome"], "passed");
  EXPECT_TRUE(Verified()["ok"].get<bool>());
}

TEST_F(GovE2E, QuorumVetoAndBounds) {
  const std::string team = paid_.team();
  const int64_t start = paid_.Balance(team);
  // Out of bounds: refused when proposed, with the bounds named; nothing written.
  CommandResult bad = Propose("no-audits", "audit_rate_min_ppm", 0);
  EXPECT_EQ(bad.exit_code, 2) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("outside its bounds"), std::string::npos) << bad.err;
  EXPECT_EQ(CountEntries("no-audits"), 0);
  EXPECT_EQ(paid_.Balance(team), start);

  ASSERT_EQ(Propose("quiet", "fee_bps", 400).exit_code, 0);
  ASSERT_EQ(Propose("loud", "fee_bps", 450).exit_code, 0);
  EXPECT_EQ(paid_.Balance(team), start - 10 * kPlume);
  Vote("c", "quiet", "yes");  // 100 of 1000 staked: under the 33.4 % quorum
  Vote("a", "loud", "yes");
  Vote("b", "loud", "veto");
  Vote("c", "loud", "veto");  // 400 of 1000 votes: over the 33.4 % veto
  ASSERT_TRUE(WaitFor([&] { return Show("quiet")["outcome"] != "" && Show("loud")["outcome"] != ""; }, 30s))
      << net_.Logs();
  EXPECT_EQ(Show("quiet")["outcome"], "no_quorum");
  EXPECT_EQ(Show("loud")["outcome"], "vetoed");
  // quiet's deposit came back, loud's was burned.
  EXPECT_EQ(paid_.Balance(team), start - 5 * kPlume);
  const json verified = Verified();
  EXPECT_TRUE(verified["ok"].get<bool>()) << verified.dump();
  EXPECT_EQ(verified["balances"]["burned"], 5 * kPlume);
  EXPECT_EQ(verified["balances"]["deposit:loud"], 0);
  EXPECT_EQ(Param("fee_bps"), 500);  // nothing was executed
}

}  // namespace
}  // namespace plume::itest
