// Operator flags against the governance bounds (docs/operators.md "Flags the network governs"),
// on the real plume-scheduler binary: with the ledger on, a value no proposal could set refuses
// to start (exit 2, the flag, its value and bounds named, nothing created in the data dir);
// values within the bounds start, and so do outside ones with --test-network.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "harness.h"
#include "network.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;

class GovFlagsTest : public ::testing::Test {
 protected:
  std::vector<std::string> Args(const std::vector<std::string>& extra) const {
    std::vector<std::string> argv = {SchedulerBin(),
                                     "--listen", "tcp://127.0.0.1:0",
                                     "--endpoint-file", endpoint_file().string(),
                                     "--data-dir", data_dir().string(),
                                     "--key", (dir_ / "scheduler.key").string(),
                                     "--metrics-port", "-1",
                                     "--operator-id", operator_id_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  fs::path endpoint_file() const { return dir_ / "endpoint"; }
  fs::path data_dir() const { return dir_ / "data"; }
  // Whether the scheduler came up (wrote its endpoint) with these flags; it is stopped again.
  bool StartsWith(const std::vector<std::string>& extra) {
    fs::remove(endpoint_file());
    auto p = Process::Spawn(Args(extra), dir_ / "scheduler.log");
    if (!p) return false;
    const bool up = WaitUntil([&] { return !ReadFile(endpoint_file()).empty() || !p->Running(); },
                              seconds(30));
    const bool running = up && p->Running();
    p->Kill();
    return running;
  }

  TempDir dir_{"govflags"};
  std::string operator_id_ = MakeKey(dir_ / "operator.key");
};

TEST_F(GovFlagsTest, OutOfBoundsFlagsRefuseToStartNamingFlagAndBounds) {
  CommandResult r = RunCommand(Args({"--challenge-window-ms", "0", "--fee-bps", "3000"}),
                               seconds(30));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("--challenge-window-ms 0 is outside the governance bounds [1000, "
                       "2592000000] ms"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("--fee-bps 3000 is outside the governance bounds [0, 2000] bps"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("--test-network"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(data_dir() / "ledger")) << "refused, yet it opened a ledger";

  // Each alone is refused too (one bad flag is enough).
  r = RunCommand(Args({"--audit-p-min-ppm", "0"}), seconds(30));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("--audit-p-min-ppm 0 is outside"), std::string::npos) << r.err;
}

TEST_F(GovFlagsTest, InBoundsFlagsStartAndATestNetworkMayGoOutside) {
  // At the edges of the bounds: the smallest window, the largest fee.
  EXPECT_TRUE(StartsWith({"--challenge-window-ms", "1000", "--fee-bps", "2000"}))
      << Tail(dir_ / "scheduler.log");
  EXPECT_TRUE(StartsWith({"--challenge-window-ms", "0", "--test-network"}))
      << Tail(dir_ / "scheduler.log");
  EXPECT_NE(ReadFile(dir_ / "scheduler.log").find("allowed by --test-network"), std::string::npos)
      << Tail(dir_ / "scheduler.log");
}

}  // namespace
}  // namespace plume::itest
