// Issue 9, replay audits, end to end with real processes on loopback: plume-scheduler with the
// ledger on, two honest plume-agents and one plume-cheat-agent of the same kernel class (one
// machine, one build) that halves every training delta it returns: a plausible result that every
// screen passes. New providers are audited on every result, so the cheater's own result is re-run
// by an honest provider, the hashes differ, the other honest provider referees, and the cheater
// is proven faulty and never paid; its audit runs of honest results are convicted the same way.
// The job succeeds, and no honest provider is ever found faulty.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "node_record.h"
#include "network.h"
#include "paid_network.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class AuditsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    net_.EnableAudits();
    ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
    ASSERT_TRUE(net_.StartAgent("honest-a", &why)) << why;
    ASSERT_TRUE(net_.StartAgent("honest-b", &why)) << why;
    ASSERT_TRUE(net_.StartAgent("cheat", &why, {"--cheat", "halve", "--cheat-q", "1"}, "",
                                PLUME_CHEAT_AGENT_BIN))
        << why;
    ASSERT_TRUE(net_.WaitActiveNodes(3, seconds(90))) << net_.Logs();
    ASSERT_EQ(paid_.Mint("mint:1", 500'000'000, paid_.operator_key()).exit_code, 0) << net_.Logs();
  }

  Network net_{"audits"};
  PaidNetwork paid_{net_};
};

TEST_F(AuditsE2E, AHalvedDeltaPassesTheScreensButAnAuditAndARefereeProveItFaulty) {
  TrainShape shape;
  shape.workers = 3;
  shape.rounds = 1;
  shape.local_steps = 4;
  const fs::path data = WriteTrainingText(net_.dir().path(), 20'000);
  const std::string job = paid_.Submit(paid_.WriteSpec("audited", data, shape, 2'500'000'000'000));
  ASSERT_FALSE(job.empty());
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(240));
  ASSERT_TRUE(done) << net_.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();

  // Audits outlive the job.
  const json cheat = AwaitProvenFaulty(net_, "cheat");
  EXPECT_GE(cheat.value("proven_faulty", 0), 1) << cheat.dump() << net_.Logs();
  EXPECT_EQ(cheat.value("tasks_refused", -1), 0) << "the screens must not see this cheat";
  for (const char* honest : {"honest-a", "honest-b"}) {
    const json h = NodeOf(net_, honest);
    EXPECT_EQ(h.value("proven_faulty", -1), 0) << h.dump() << net_.Logs();
  }

  // No settle ever names the cheater: each of its runs was audited and proven wrong first.
  std::string why;
  auto history =
      net_.CliJson({"ledger", "history", "--json", "--ledger-dir", paid_.ledger_dir()}, &why);
  ASSERT_TRUE(history) << why;
  for (const json& e : *history) {
    if (e["type"] != "settle") continue;
    EXPECT_NE(e["receipt"]["agent"], net_.agent_id("cheat")) << e.dump();
  }
  CommandResult table = net_.Cli({"nodes"});
  EXPECT_NE(table.out.find("FAULTY"), std::string::npos) << table.out;
}

}  // namespace
}  // namespace plume::itest
