// A ledger key of its own (plume-scheduler --ledger-key): a real scheduler whose ledger is keyed
// apart from its transport key. Shown: the ledger's heads are signed by the ledger key (the CLI
// pinned to it verifies them; pinned to the transport key it refuses them), an operator mint
// over the wire is applied (the ledger key signs the open and the head), and the same data
// directory restarted without --ledger-key is refused rather than re-keyed.
#include <gtest/gtest.h>

#include "network.h"
#include "paid_network.h"
#include "plume/ledger/ledger.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;

TEST(LedgerKeyE2E, TheLedgerIsSignedByItsOwnKeyAndNotByTheTransportKey) {
  Network net("ledger-key");
  PaidNetwork paid(net);
  const fs::path ledger_key = net.dir() / "keys" / "ledger.key";
  const std::string ledger_id = MakeKey(ledger_key);
  ASSERT_FALSE(ledger_id.empty());
  ASSERT_NE(ledger_id, net.scheduler_id());
  std::string why;
  ASSERT_TRUE(net.StartScheduler(
      &why, {"--operator-id", paid.operator_id(), "--ledger-key", ledger_key.string(), "--sync",
             "full"}))
      << why;
  ASSERT_NE(ledger_id, net.scheduler_id());

  const CommandResult mint = net.Cli({"ledger", "mint", "--to", paid.team(), "--amount", "5000000",
                                      "--id", "mint:k", "--key", paid.operator_key().string()});
  EXPECT_EQ(mint.exit_code, 0) << mint.out << mint.err << net.Logs();
  const CommandResult pinned = net.Cli({"ledger", "head", "--ledger-id", ledger_id});
  EXPECT_EQ(pinned.exit_code, 0) << pinned.out << pinned.err;
  const CommandResult transport = net.Cli({"ledger", "head"});  // pins the scheduler id
  EXPECT_EQ(transport.exit_code, 1) << transport.out << transport.err;

  auto ledger = ledger::Ledger::OpenReadOnly(paid.ledger_dir());
  ASSERT_TRUE(ledger.has_value()) << ledger.error().message;
  EXPECT_EQ(ToHex((*ledger)->keys().ledger), ledger_id);
  EXPECT_EQ((*ledger)->Balance(paid.team()), ledger::MicroPlume(5'000'000));
  ledger->reset();

  // The same directory with the transport key as the ledger key: refused, nothing rewritten.
  net.scheduler().Kill();
  EXPECT_FALSE(net.StartScheduler(&why, {"--operator-id", paid.operator_id(), "--sync", "full"}));
  EXPECT_NE(why.find("was created for ledger key " + ledger_id), std::string::npos) << why;
}

}  // namespace
}  // namespace plume::itest
