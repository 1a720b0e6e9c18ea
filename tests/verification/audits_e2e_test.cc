// Issue 9, replay audits, end to end with real processes on loopback: plume-scheduler with the
// ledger on, two honest plume-agents and one plume-cheat-agent of the same kernel class (one
// machine, one build) that returns a plausible wrong result on every task: a training delta
// halved, the delta of its previous task (stale), half the inner steps run, or inference sampled
// with another seed. New providers are audited on every result, so the cheater's own result is
// re-run by an honest provider, the hashes differ, the chains or the other honest provider decide,
// and the cheater is proven faulty and never paid; its audit runs of honest results are convicted
// the same way. The job succeeds, and no honest provider is ever found faulty.
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

class AuditsE2E : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    net_.EnableAudits();
    ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
    ASSERT_TRUE(net_.StartAgent("honest-a", &why)) << why;
    ASSERT_TRUE(net_.StartAgent("honest-b", &why)) << why;
    ASSERT_TRUE(net_.StartAgent("cheat", &why, {"--cheat", GetParam(), "--cheat-q", CheatQ()}, "",
                                PLUME_CHEAT_AGENT_BIN))
        << why;
    ASSERT_TRUE(net_.WaitActiveNodes(3, seconds(90))) << net_.Logs();
    ASSERT_EQ(paid_.Mint("mint:1", 500'000'000, paid_.operator_key()).exit_code, 0) << net_.Logs();
  }

  virtual std::string CheatQ() const { return "1"; }

  Network net_{"audits"};
  PaidNetwork paid_{net_};
};

// What every cheat of this file must come to: the job succeeded, the cheater is proven faulty,
// no honest provider is, and no settle of the ledger names the cheater.
void ExpectCaughtAndNeverPaid(Network& net, PaidNetwork& paid, const std::string& job,
                              bool screens_may_refuse) {
  auto done = net.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(240));
  ASSERT_TRUE(done) << net.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net.Logs();

  // Audits outlive the job.
  const json cheat = AwaitProvenFaulty(net, "cheat");
  EXPECT_GE(cheat.value("proven_faulty", 0), 1) << cheat.dump() << net.Logs();
  if (!screens_may_refuse) {
    EXPECT_EQ(cheat.value("tasks_refused", -1), 0) << "the screens must not see this cheat";
  }
  for (const char* honest : {"honest-a", "honest-b"}) {
    const json h = NodeOf(net, honest);
    EXPECT_EQ(h.value("proven_faulty", -1), 0) << h.dump() << net.Logs();
  }

  // No settle ever names the cheater: each of its runs was audited and proven wrong first.
  std::string why;
  auto history =
      net.CliJson({"ledger", "history", "--json", "--ledger-dir", paid.ledger_dir()}, &why);
  ASSERT_TRUE(history) << why;
  int settles = 0;
  for (const json& e : *history) {
    if (e["type"] != "settle") continue;
    ++settles;
    EXPECT_NE(e["receipt"]["agent"], net.agent_id("cheat")) << e.dump();
  }
  EXPECT_GE(settles, 1) << history->dump();
  CommandResult table = net.Cli({"nodes"});
  EXPECT_NE(table.out.find("FAULTY"), std::string::npos) << table.out;
}

class TrainAuditsE2E : public AuditsE2E {};

TEST_P(TrainAuditsE2E, APlausibleWrongDeltaPassesTheScreensButAnAuditProvesItFaulty) {
  TrainShape shape;
  shape.workers = 3;
  // stale: the cheater's first training run has nothing earlier to replay and returns zeros,
  // which the screens refuse; its run in the second round replays the first round's delta.
  shape.rounds = GetParam() == "stale" ? 2 : 1;
  shape.local_steps = 4;
  const fs::path data = WriteTrainingText(net_.dir().path(), 20'000);
  const std::string job = paid_.Submit(paid_.WriteSpec("audited", data, shape, 2'500'000'000'000));
  ASSERT_FALSE(job.empty());
  ExpectCaughtAndNeverPaid(net_, paid_, job, GetParam() == "stale");
}

INSTANTIATE_TEST_SUITE_P(Cheats, TrainAuditsE2E, ::testing::Values("halve", "stale", "steps"));

class InferAuditsE2E : public AuditsE2E {};

TEST_P(InferAuditsE2E, PlausibleTextFromAnotherSeedIsProvenFaultyByAReplay) {
  const fs::path dir = net_.dir().path();
  std::vector<std::string> prompts;
  for (int i = 0; i < 12; ++i) prompts.push_back("prompt " + std::to_string(i));
  const fs::path spec = PaidNetwork::SetMaxPrice(
      WriteInferSpec(dir, "gen", WriteRandomCheckpoint(dir, 3), prompts, 3, 17, 12),
      2'500'000'000'000);
  const std::string job = paid_.Submit(spec);
  ASSERT_FALSE(job.empty());
  ExpectCaughtAndNeverPaid(net_, paid_, job, false);
}

INSTANTIATE_TEST_SUITE_P(Cheats, InferAuditsE2E, ::testing::Values("seed"));

// q = 0.2: the cheater halves one result in five (the agent's fixed spread: its 5th result is the
// first cheated one) and is honest otherwise. The adaptive rate predicts the catch: a provider
// with fewer than 10 consecutive valid results has every own result audited, and an audit run it
// does is compared with the result it audits, so the first cheated result, its 5th, is caught
// before the cheater could build any trust. Its honest results are paid.
class PartialCheatE2E : public AuditsE2E {
 protected:
  std::string CheatQ() const override { return "0.2"; }
};

TEST_P(PartialCheatE2E, OneResultInFiveIsCaughtAtTheFirstCheatAsTheNewProviderRatePredicts) {
  TrainShape shape;
  shape.workers = 3;
  shape.rounds = 4;  // with the audits of the others' results, well over 5 results each
  shape.local_steps = 4;
  const fs::path data = WriteTrainingText(net_.dir().path(), 20'000);
  const std::string job = paid_.Submit(paid_.WriteSpec("partial", data, shape, 2'500'000'000'000));
  ASSERT_FALSE(job.empty());
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(240));
  ASSERT_TRUE(done) << net_.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();
  const json cheat = AwaitProvenFaulty(net_, "cheat");
  EXPECT_GE(cheat.value("proven_faulty", 0), 1) << cheat.dump() << net_.Logs();
  // Its results before the catch were all valid (fewer than 10: never trusted), and it was paid
  // for the honest ones.
  EXPECT_LT(cheat.value("results_valid", 99), 10) << cheat.dump();
  EXPECT_GE(cheat.value("tasks_succeeded", 0), 1) << "its honest results count" << cheat.dump();
  EXPECT_TRUE(net_.AgentLogHas("cheat", "cheating on this result")) << net_.Logs();
  for (const char* honest : {"honest-a", "honest-b"}) {
    const json h = NodeOf(net_, honest);
    EXPECT_EQ(h.value("proven_faulty", -1), 0) << h.dump() << net_.Logs();
  }
}

INSTANTIATE_TEST_SUITE_P(Cheats, PartialCheatE2E, ::testing::Values("halve"));

}  // namespace
}  // namespace plume::itest
