// The operator's publish bound (docs/data-owners.md "Limits") with real processes: a scheduler
// started with --data-publishes-per-key-max 2, and a hostile key that keeps running
// `plume data publish`. Its third and later publishes fail (exit 2, as a refused request) with the reason and the flag
// named, and the ledger holds exactly its two publishes; another key still publishes.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "network.h"
#include "paid_network.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

TEST(DataPublishLimitE2E, AHostileKeyIsRefusedPastTheBoundAndNothingIsWritten) {
  Network net("publimit");
  PaidNetwork paid(net);
  paid.SetSchedulerFlags({"--data-publishes-per-key-max", "2"});
  std::string why;
  ASSERT_TRUE(paid.StartScheduler(&why)) << why;
  const fs::path spammer = net.dir() / "keys" / "spammer.key";
  const std::string spammer_id = MakeKey(spammer);
  const auto publish = [&](const fs::path& key, int n) {
    const fs::path file = net.dir() / ("set-" + std::to_string(n) + ".txt");
    std::ofstream(file) << "dataset number " << n << " of " << key.filename() << "\n";
    return net.Cli({"data", "publish", file.string(), "--keys-dir", (net.dir() / "dk").string(),
                    "--json", "--key", key.string()});
  };
  for (int n = 0; n < 2; ++n) {
    CommandResult ok = publish(spammer, n);
    ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err << net.Logs();
  }
  for (int n = 2; n < 4; ++n) {
    CommandResult refused = publish(spammer, n);
    EXPECT_EQ(refused.exit_code, 2) << refused.out << refused.err;  // refused as asked
    EXPECT_NE(refused.err.find("publish limit"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("--data-publishes-per-key-max 2"), std::string::npos) << refused.err;
  }
  CommandResult other = publish(net.client_key(), 9);
  EXPECT_EQ(other.exit_code, 0) << other.out << other.err;

  auto history = paid.History(&why);
  ASSERT_TRUE(history) << why;
  int by_spammer = 0, publishes = 0;
  for (const json& e : *history) {
    if (e["type"] != "dataset_publish") continue;
    ++publishes;
    by_spammer += e.dump().find(spammer_id) != std::string::npos;
  }
  EXPECT_EQ(by_spammer, 2) << history->dump();
  EXPECT_EQ(publishes, 3);
}

}  // namespace
}  // namespace plume::itest
