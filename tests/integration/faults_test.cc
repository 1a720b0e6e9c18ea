// Issue 3, integration tests 3 and 4: processes killed with SIGKILL mid-job.
//  - an agent dies while running a task: its lease runs out, the task goes to the other agent,
//    and the job succeeds;
//  - the scheduler dies mid-job and is started again on the same data directory and endpoint:
//    agents reconnect by themselves, the job resumes and succeeds, and every task is counted
//    exactly once.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <csignal>

#include "network.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::string SubmitNoWait(Network& net, const fs::path& spec) {
  std::string why;
  auto r = net.CliJson({"submit", spec.string()}, &why, seconds(60));
  if (!r || !r->contains("job_id")) {
    ADD_FAILURE() << "submit failed: " << why << "\n" << net.Logs();
    return "";
  }
  return (*r)["job_id"];
}

TEST(FaultIntegration, AgentKilledMidTaskJobStillSucceeds) {
  Network net("kill-agent");
  std::string why;
  ASSERT_TRUE(net.StartScheduler(&why)) << why;
  ASSERT_TRUE(net.StartAgent("a", &why)) << why;
  ASSERT_TRUE(net.StartAgent("b", &why)) << why;
  ASSERT_TRUE(net.WaitActiveNodes(2, seconds(60))) << net.Logs();

  const fs::path data = WriteTrainingText(net.dir().path(), 60'000);
  TrainShape shape;
  shape.rounds = 2;
  shape.local_steps = 300;  // long enough to be killed in the middle
  const std::string job = SubmitNoWait(net, WriteTrainSpec(net.dir().path(), "kill", data, shape));
  ASSERT_FALSE(job.empty());

  ASSERT_TRUE(WaitUntil([&] { return net.AgentLogHas("b", "inputs ready, running"); }, seconds(60)))
      << net.Logs();
  net.agent("b").Kill();

  auto final_status = net.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(200));
  ASSERT_TRUE(final_status) << "job did not finish\n" << net.Logs();
  EXPECT_EQ((*final_status)["state"], "succeeded") << final_status->dump() << "\n" << net.Logs();
  CommandResult fetch = net.Cli({"fetch", job, "-o", (net.dir() / "out").string()});
  EXPECT_EQ(fetch.exit_code, 0) << fetch.err;
}

TEST(FaultIntegration, SchedulerKilledMidJobResumesWithNothingLostOrDuplicated) {
  Network net("kill-scheduler");
  std::string why;
  ASSERT_TRUE(net.StartScheduler(&why)) << why;
  ASSERT_TRUE(net.StartAgent("a", &why)) << why;
  ASSERT_TRUE(net.StartAgent("b", &why)) << why;
  ASSERT_TRUE(net.WaitActiveNodes(2, seconds(60))) << net.Logs();

  const fs::path data = WriteTrainingText(net.dir().path(), 60'000);
  TrainShape shape;
  shape.rounds = 3;
  shape.local_steps = 200;  // each round takes long enough to be killed in the middle
  const std::string job =
      SubmitNoWait(net, WriteTrainSpec(net.dir().path(), "restart", data, shape));
  ASSERT_FALSE(job.empty());

  // Kill it once the first round is aggregated and the second is under way.
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::string ignored;
        auto st = net.CliJson({"status", job}, &ignored, seconds(10));
        return st && (*st)["state"] == "running" && (*st)["round"].get<int>() >= 1;
      },
      seconds(120), milliseconds(100)))
      << net.Logs();
  net.scheduler().Kill();
  ASSERT_TRUE(net.StartScheduler(&why)) << why;

  auto final_status = net.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(200));
  ASSERT_TRUE(final_status) << "job did not finish after the restart\n" << net.Logs();
  EXPECT_EQ((*final_status)["state"], "succeeded") << final_status->dump() << "\n" << net.Logs();
  // Every worker task of every round counted exactly once.
  EXPECT_EQ((*final_status)["tasks_done"].get<int>(), shape.rounds * shape.workers)
      << final_status->dump();
  CommandResult fetch = net.Cli({"fetch", job, "-o", (net.dir() / "out").string()});
  EXPECT_EQ(fetch.exit_code, 0) << fetch.err;
  EXPECT_TRUE(fs::exists(net.dir() / "out" / "model.safetensors"));
  // The agents found the restarted scheduler on their own.
  EXPECT_TRUE(net.agent("a").Running());
  EXPECT_TRUE(net.agent("b").Running());
}

TEST(FaultIntegration, SigtermDrainsTheAgentWhichHandsBackOrFinishesAndExitsZero) {
  Network net("drain");
  std::string why;
  ASSERT_TRUE(net.StartScheduler(&why)) << why;
  ASSERT_TRUE(net.StartAgent("a", &why)) << why;
  ASSERT_TRUE(net.StartAgent("b", &why)) << why;
  ASSERT_TRUE(net.WaitActiveNodes(2, seconds(60))) << net.Logs();

  const fs::path data = WriteTrainingText(net.dir().path(), 60'000);
  TrainShape shape;
  shape.rounds = 2;
  shape.local_steps = 300;
  const std::string job = SubmitNoWait(net, WriteTrainSpec(net.dir().path(), "drain", data, shape));
  ASSERT_FALSE(job.empty());
  ASSERT_TRUE(WaitUntil([&] { return net.AgentLogHas("b", "inputs ready, running"); }, seconds(60)))
      << net.Logs();
  // SIGTERM mid-task: the agent finishes (or hands back) its task, delivers, and exits 0.
  net.agent("b").Signal(SIGTERM);
  auto status = net.agent("b").Wait(seconds(60));
  ASSERT_TRUE(status.has_value()) << "agent did not exit after SIGTERM\n" << net.Logs();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;
  EXPECT_TRUE(net.AgentLogHas("b", "drain complete")) << net.Logs();

  auto final_status = net.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(200));
  ASSERT_TRUE(final_status) << "job did not finish\n" << net.Logs();
  EXPECT_EQ((*final_status)["state"], "succeeded") << final_status->dump() << "\n" << net.Logs();
}

}  // namespace
}  // namespace plume::itest
