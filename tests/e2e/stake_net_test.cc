// Stake and transfers over the protocol, end to end: a real plume-scheduler with the ledger on,
// the real plume CLI with no --ledger-dir (LedgerSubmit, LedgerQuery). A provider's key (an
// agent key file; no agent needs to run) moves its earnings to a team, stakes and unstakes;
// `plume balance` shows free, staked, unbonding (with release times) and pending; every bad
// input is refused before anything is sent (exit 2) and every ledger refusal names its code
// (exit 1) and changes nothing.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "network.h"
#include "paid_network.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class StakeNetE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    agent_id_ = MakeKey(agent_key());
    std::string why;
    ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
    CommandResult mint = net_.Cli({"ledger", "mint", "--to", "provider:" + agent_id_, "--amount",
                                   "5000000", "--id", "mint:earned", "--key",
                                   paid_.operator_key().string()});
    ASSERT_EQ(mint.exit_code, 0) << mint.out << mint.err << net_.Logs();
  }
  fs::path agent_key() const { return net_.dir() / "keys" / "agent-p.key"; }
  // `plume ARGS --key KEY`.
  CommandResult As(const fs::path& key, std::vector<std::string> args) {
    args.insert(args.end(), {"--key", key.string()});
    return net_.Cli(args);
  }
  json Wallet(const fs::path& key) {
    std::string why;
    auto b = net_.CliJson({"balance", "--key", key.string()}, &why);
    EXPECT_TRUE(b) << why;
    return b ? *b : json::object();
  }
  int64_t BalanceOf(const std::string& account) {
    std::string why;
    auto b = net_.CliJson({"balance", account}, &why);
    EXPECT_TRUE(b) << why;
    return b && (*b)["open"].get<bool>() ? (*b)["balance_micro_plume"].get<int64_t>() : -1;
  }

  Network net_{"stakenet"};
  PaidNetwork paid_{net_};
  std::string agent_id_;
};

TEST_F(StakeNetE2E, ProviderTransfersAndStakesWithItsOwnKey) {
  const std::string provider = "provider:" + agent_id_;
  const std::string team = paid_.team();

  // Earnings to the team account, signed by the provider's key.
  CommandResult moved =
      As(agent_key(), {"transfer", team, "1.5", "--from", "provider", "--id", "t:1", "--json"});
  ASSERT_EQ(moved.exit_code, 0) << moved.out << moved.err << net_.Logs();
  EXPECT_EQ(json::parse(moved.out)["amount_micro_plume"], 1'500'000);
  EXPECT_EQ(BalanceOf(team), 1'500'000);
  // The same id again: applied once.
  CommandResult again = As(agent_key(), {"transfer", team, "1.5", "--from", "provider", "--id",
                                         "t:1", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(json::parse(again.out)["repeated"].get<bool>());
  EXPECT_EQ(BalanceOf(provider), 3'500'000);

  // The team's key cannot move the provider's money.
  CommandResult forged = As(net_.client_key(), {"transfer", team, "1", "--from", provider});
  EXPECT_EQ(forged.exit_code, 1) << forged.out << forged.err;
  EXPECT_NE(forged.err.find("bad_signature"), std::string::npos) << forged.err;
  EXPECT_EQ(BalanceOf(provider), 3'500'000);

  CommandResult staked = As(agent_key(), {"stake", "2.25"});
  ASSERT_EQ(staked.exit_code, 0) << staked.out << staked.err << net_.Logs();
  EXPECT_NE(staked.out.find("staked 2.25 PLUME"), std::string::npos) << staked.out;
  const json w = Wallet(agent_key());
  EXPECT_EQ(w["staked_micro_plume"], 2'250'000) << w.dump();
  EXPECT_EQ(w["provider"]["balance_micro_plume"], 1'250'000) << w.dump();
  EXPECT_EQ(w["provider"]["pending_micro_plume"], 0) << w.dump();
  EXPECT_EQ(w["unbonding_micro_plume"], 0) << w.dump();
  CommandResult text = As(agent_key(), {"balance"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("staked     2.25 PLUME"), std::string::npos) << text.out;

  // More than the provider has: the ledger's code, nothing moved.
  CommandResult broke = As(agent_key(), {"stake", "100"});
  EXPECT_EQ(broke.exit_code, 1) << broke.out << broke.err;
  EXPECT_NE(broke.err.find("insufficient_balance"), std::string::npos) << broke.err;
  EXPECT_EQ(Wallet(agent_key())["staked_micro_plume"], 2'250'000);

  // Unstake: the tranche is unbonding (still slashable) until its release time, which lies at
  // least the scheduler's unbonding period ahead; `plume balance` lists it.
  const auto before = std::chrono::system_clock::now();
  CommandResult unstaked = As(agent_key(), {"unstake", "0.75", "--json"});
  ASSERT_EQ(unstaked.exit_code, 0) << unstaked.out << unstaked.err << net_.Logs();
  const json u = json::parse(unstaked.out);
  const uint64_t release = u["release_at_ms"].get<uint64_t>();
  const uint64_t sent_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(before.time_since_epoch()).count());
  EXPECT_GE(release, sent_ms + u["unbonding_ms"].get<uint64_t>()) << u.dump();
  const json after = Wallet(agent_key());
  EXPECT_EQ(after["staked_micro_plume"], 1'500'000) << after.dump();
  EXPECT_EQ(after["unbonding_micro_plume"], 750'000) << after.dump();
  ASSERT_EQ(after["tranches"].size(), 1u) << after.dump();
  EXPECT_EQ(after["tranches"][0]["release_at_ms"], release);
  EXPECT_EQ(after["tranches"][0]["amount_micro_plume"], 750'000);
  CommandResult listed = As(agent_key(), {"balance"});
  EXPECT_NE(listed.out.find("unbonding  0.75 PLUME"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("released at " + std::to_string(release)), std::string::npos)
      << listed.out;
  CommandResult too_much = As(agent_key(), {"unstake", "5"});
  EXPECT_EQ(too_much.exit_code, 1) << too_much.out << too_much.err;
  EXPECT_NE(too_much.err.find("insufficient_balance"), std::string::npos) << too_much.err;
}

TEST_F(StakeNetE2E, BadInputIsRefusedBeforeAnythingIsSent) {
  const uint64_t before = [&] {
    std::string why;
    auto head = net_.CliJson({"ledger", "head"}, &why);
    return head ? (*head)["tree_size"].get<uint64_t>() : 0;
  }();
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"stake", "-1"},
                                             {"stake", "0"},
                                             {"stake", "1.0000001"},
                                             {"stake", "1e3"},
                                             {"stake", "abc"},
                                             {"unstake", "-2"},
                                             {"transfer", paid_.team(), "0.5x"},
                                             {"transfer", "nobody", "1"},
                                             {"transfer", "stake:" + agent_id_, "1"},
                                             {"transfer", "provider:" + agent_id_, "1", "--from",
                                              "provider"}}) {
    CommandResult r = As(agent_key(), args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << args[1] << ": " << r.out << r.err;
    EXPECT_FALSE(r.err.empty()) << args[0] << " " << args[1];
  }
  std::string why;
  auto head = net_.CliJson({"ledger", "head"}, &why);
  ASSERT_TRUE(head) << why;
  EXPECT_EQ((*head)["tree_size"].get<uint64_t>(), before) << "bad input reached the ledger";
}

}  // namespace
}  // namespace plume::itest
