// Issue 9, screens, end to end with real processes on loopback: plume-scheduler with the ledger
// on, one honest plume-agent and one plume-cheat-agent (the agent library with its results
// corrupted after an honest run). Every corrupted result is refused by the screens and never
// paid (no settle names the cheater), the job (training or inference) succeeds on the honest
// provider's work, and `plume nodes` shows the refusals on the cheater's record.
#include <gtest/gtest.h>

#include <string>

#include "node_record.h"
#include "network.h"
#include "paid_network.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class ScreensE2E : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
    ASSERT_TRUE(net_.StartAgent("honest", &why)) << why;
    ASSERT_TRUE(net_.StartAgent("cheat", &why, {"--cheat", GetParam()}, "", PLUME_CHEAT_AGENT_BIN))
        << why;
    ASSERT_TRUE(net_.WaitActiveNodes(2, seconds(90))) << net_.Logs();
    ASSERT_EQ(paid_.Mint("mint:1", 500'000'000, paid_.operator_key()).exit_code, 0) << net_.Logs();
  }

  Network net_{"screens"};
  PaidNetwork paid_{net_};
};

TEST_P(ScreensE2E, CorruptedDeltaIsRefusedNeverPaidAndTheJobSucceeds) {
  TrainShape shape;
  shape.workers = 2;  // one worker each: the cheater is given one of the two
  shape.rounds = 1;
  shape.local_steps = 4;
  const fs::path data = WriteTrainingText(net_.dir().path(), 20'000);
  const std::string job = paid_.Submit(paid_.WriteSpec("cheated", data, shape, 2'500'000'000'000));
  ASSERT_FALSE(job.empty());
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(200));
  ASSERT_TRUE(done) << net_.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();

  const json cheat = NodeOf(net_, "cheat"), honest = NodeOf(net_, "honest");
  EXPECT_GE(cheat.value("tasks_refused", 0), 1) << cheat.dump() << net_.Logs();
  EXPECT_EQ(cheat.value("tasks_succeeded", -1), 0) << cheat.dump();
  EXPECT_EQ(honest.value("tasks_refused", -1), 0) << honest.dump();
  EXPECT_EQ(honest.value("tasks_succeeded", 0), 2) << honest.dump();
  EXPECT_TRUE(net_.AgentLogHas("cheat", "refused by the screens")) << net_.Logs();

  // The ledger: both workers settled, each once, all to the honest provider.
  std::string why;
  auto history =
      net_.CliJson({"ledger", "history", "--json", "--ledger-dir", paid_.ledger_dir()}, &why);
  ASSERT_TRUE(history) << why;
  int settles = 0;
  for (const json& e : *history) {
    if (e["type"] != "settle" || e["job"] != job) continue;
    ++settles;
    EXPECT_EQ(e["receipt"]["agent"], net_.agent_id("honest")) << e.dump();
  }
  EXPECT_EQ(settles, 2) << history->dump();
  CommandResult verify = net_.Cli({"ledger", "verify", paid_.ledger_dir()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  // The table a person reads shows the refusal too.
  CommandResult table = net_.Cli({"nodes"});
  EXPECT_NE(table.out.find("REFUSED"), std::string::npos) << table.out;
}

TEST_P(ScreensE2E, CorruptedInferenceShardIsRefusedNeverPaidAndTheJobSucceeds) {
  const fs::path ckpt = WriteRandomCheckpoint(net_.dir().path(), 5);
  ASSERT_FALSE(ckpt.empty());
  const std::vector<std::string> prompts = {"ROMEO:", "JULIET:", "KING:", "To be"};
  const fs::path spec = PaidNetwork::SetMaxPrice(
      WriteInferSpec(net_.dir().path(), "gen", ckpt, prompts, 2, 42, 8), 2'500'000'000'000);
  const std::string job = paid_.Submit(spec);
  ASSERT_FALSE(job.empty());
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(200));
  ASSERT_TRUE(done) << net_.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();
  const json cheat = NodeOf(net_, "cheat"), honest = NodeOf(net_, "honest");
  EXPECT_GE(cheat.value("tasks_refused", 0), 1) << cheat.dump() << net_.Logs();
  EXPECT_EQ(cheat.value("tasks_succeeded", -1), 0) << cheat.dump();
  EXPECT_EQ(honest.value("tasks_succeeded", 0), 2) << honest.dump();
  std::string why;
  auto history =
      net_.CliJson({"ledger", "history", "--json", "--ledger-dir", paid_.ledger_dir()}, &why);
  ASSERT_TRUE(history) << why;
  int settles = 0;
  for (const json& e : *history) {
    if (e["type"] != "settle" || e["job"] != job) continue;
    ++settles;
    EXPECT_EQ(e["receipt"]["agent"], net_.agent_id("honest")) << e.dump();
  }
  EXPECT_EQ(settles, 2) << history->dump();
}

INSTANTIATE_TEST_SUITE_P(Cheats, ScreensE2E, ::testing::Values("zero", "nan", "scale", "random", "shape"));

}  // namespace
}  // namespace plume::itest
