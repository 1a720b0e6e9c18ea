// Issue 10 (security review F4), end to end with real processes on loopback: the two ways one
// provider used to hold a job hostage, each played by plume-cheat-agent against plume-scheduler
// with the ledger on, and each shown to fail.
//  - The squat: take a task and sit on it, heartbeating "still running". The deadline comes from
//    the spec's FLOPs and the operator's floor speed (with --task-deadline-min-ms lowered so the
//    test does not wait the default 30 minutes), not from the agent's own claim; at the deadline
//    the scheduler cancels it and an honest provider finishes the job. The squatter is not paid
//    and its record shows the failure.
//  - The kill: report the task failed with retryable=false. One provider's claim does not fail
//    the job: the task goes to another provider, never back to the claimant, and the job
//    succeeds; the claimant is not paid.
// In both, the cheater is alone when the job is submitted, so it is the one placed; the honest
// agent joins only once the cheat has been played (awaited on the scheduler's record, not slept).
#include <gtest/gtest.h>

#include <string>

#include "network.h"
#include "node_record.h"
#include "paid_network.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

constexpr uint64_t kMaxPrice = 2'500'000'000'000;

class HostageE2E : public ::testing::Test {
 protected:
  // The scheduler (audits off, pay at once), the cheater alone, and a funded team.
  void StartWithCheater(const std::string& cheat, std::vector<std::string> flags) {
    std::string why;
    flags.insert(flags.begin(), {"--challenge-window-ms", "0"});
    paid_.SetSchedulerFlags(std::move(flags));
    ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
    ASSERT_TRUE(
        net_.StartAgent("cheat", &why, {"--cheat", cheat}, "", PLUME_CHEAT_AGENT_BIN))
        << why;
    ASSERT_TRUE(net_.WaitActiveNodes(1, seconds(90))) << net_.Logs();
    ASSERT_EQ(paid_.Mint("mint:team", 500'000'000, paid_.operator_key()).exit_code, 0)
        << net_.Logs();
  }
  std::string SubmitOneWorkerJob(const std::string& name) {
    TrainShape shape;
    shape.workers = 1;
    shape.rounds = 1;
    shape.local_steps = 2;
    const fs::path data = WriteTrainingText(net_.dir().path(), 20'000);
    return paid_.Submit(paid_.WriteSpec(name, data, shape, kMaxPrice));
  }
  void ExpectSucceeded(const std::string& job) {
    auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(180));
    ASSERT_TRUE(done) << net_.Logs();
    EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();
  }
  int64_t ProviderBalance(const std::string& name) {
    return paid_.Balance("provider:" + net_.agent_id(name));
  }

  Network net_{"hostage"};
  PaidNetwork paid_{net_};
};

TEST_F(HostageE2E, ASquatterLosesTheTaskAtTheDeadlineTheSpecImpliesAndIsNotPaid) {
  // The tiny task's FLOPs at the 1 GFLOP/s floor give a deadline under a second; the minimum
  // lifts it to 8 s, which is what the squatter gets, instead of the 24-hour maximum.
  StartWithCheater("squat", {"--task-deadline-min-ms", "8000"});
  const std::string job = SubmitOneWorkerJob("squatted");
  ASSERT_FALSE(job.empty());
  // The squatter holds the task ...
  ASSERT_TRUE(WaitUntil([&] { return NodeOf(net_, "cheat").value("running_tasks", 0) == 1; },
                        seconds(60), milliseconds(200)))
      << net_.Logs();
  // ... until the deadline takes it away: the scheduler rates the attempt failed.
  ASSERT_TRUE(WaitUntil([&] { return NodeOf(net_, "cheat").value("tasks_failed", 0) >= 1; },
                        seconds(60), milliseconds(200)))
      << net_.Logs();
  std::string why;
  ASSERT_TRUE(net_.StartAgent("honest", &why)) << why;
  ExpectSucceeded(job);
  const json squatter = NodeOf(net_, "cheat");
  EXPECT_EQ(squatter.value("tasks_succeeded", -1), 0) << squatter.dump();
  EXPECT_GE(NodeOf(net_, "honest").value("tasks_succeeded", 0), 1);
  ASSERT_TRUE(WaitUntil([&] { return ProviderBalance("honest") > 0; }, seconds(30),
                        milliseconds(200)))
      << net_.Logs();
  EXPECT_LE(ProviderBalance("cheat"), 0) << "the squatter was paid";
}

TEST_F(HostageE2E, OneProvidersRetryableFalseDoesNotKillTheJob) {
  StartWithCheater("kill", {});
  const std::string job = SubmitOneWorkerJob("not-killed");
  ASSERT_FALSE(job.empty());
  ASSERT_TRUE(WaitUntil([&] { return NodeOf(net_, "cheat").value("tasks_failed", 0) >= 1; },
                        seconds(60), milliseconds(200)))
      << net_.Logs();
  // The claim is heard, and the job waits for another provider instead of failing.
  std::string why;
  auto status = net_.CliJson({"status", job}, &why);
  ASSERT_TRUE(status) << why;
  EXPECT_EQ((*status)["state"], "running") << status->dump();
  ASSERT_TRUE(net_.StartAgent("honest", &why)) << why;
  ExpectSucceeded(job);
  // Never offered back to the claimant: one failure, no success.
  const json killer = NodeOf(net_, "cheat");
  EXPECT_EQ(killer.value("tasks_failed", -1), 1) << killer.dump();
  EXPECT_EQ(killer.value("tasks_succeeded", -1), 0) << killer.dump();
  ASSERT_TRUE(WaitUntil([&] { return ProviderBalance("honest") > 0; }, seconds(30),
                        milliseconds(200)))
      << net_.Logs();
  EXPECT_LE(ProviderBalance("cheat"), 0) << "the claimant was paid";
}

}  // namespace
}  // namespace plume::itest
