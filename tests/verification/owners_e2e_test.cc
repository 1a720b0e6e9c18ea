// Owners end to end with real processes on loopback (docs/providers.md "Owners"): an owner
// attests two agent keys with `plume owner attest`, both run as plume-cheat-agent --cheat kill
// with --owner-attestation, and both report the one-worker job's task failed with
// retryable=false. Two keys of one owner are one voice: the job does not fail (before owners it
// did: two providers had said so), it waits, and an honest agent of another owner (its own)
// completes it. `plume nodes --json` shows each node's owner. An agent given an attestation made
// for another key refuses to start, naming the key.
#include <gtest/gtest.h>
#include <sys/wait.h>

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

class OwnersE2E : public ::testing::Test {
 protected:
  // `plume owner attest AGENT --key owner.key -o FILE` for agent `name` (its key made first).
  fs::path Attest(const std::string& name) {
    const std::string id = net_.MakeAgentKey(name);
    const fs::path file = net_.dir() / (name + ".attestation");
    const CommandResult r =
        net_.Cli({"owner", "attest", id, "--key", owner_key_.string(), "-o", file.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return file;
  }

  Network net_{"owners"};
  PaidNetwork paid_{net_};
  fs::path owner_key_ = net_.dir() / "keys" / "owner.key";
  std::string owner_ = MakeKey(owner_key_);
};

TEST_F(OwnersE2E, TwoMachinesOfOneOwnerClaimingRetryableFalseDoNotFailTheJob) {
  std::string why;
  paid_.SetSchedulerFlags({"--challenge-window-ms", "0"});
  ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
  for (const std::string name : {"kill1", "kill2"}) {
    const fs::path file = Attest(name);
    ASSERT_TRUE(net_.StartAgent(name, &why,
                                {"--cheat", "kill", "--owner-attestation", file.string()}, "",
                                PLUME_CHEAT_AGENT_BIN))
        << why;
  }
  ASSERT_TRUE(net_.WaitActiveNodes(2, seconds(90))) << net_.Logs();
  EXPECT_EQ(NodeOf(net_, "kill1").value("owner", ""), owner_);
  EXPECT_EQ(NodeOf(net_, "kill2").value("owner", ""), owner_);
  const CommandResult table = net_.Cli({"nodes"});
  EXPECT_NE(table.out.find("OWNER"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(owner_.substr(0, 16)), std::string::npos) << table.out;
  ASSERT_EQ(paid_.Mint("mint:team", 500'000'000, paid_.operator_key()).exit_code, 0)
      << net_.Logs();
  TrainShape shape;
  shape.workers = 1;
  shape.rounds = 1;
  shape.local_steps = 2;
  const fs::path data = WriteTrainingText(net_.dir().path(), 20'000);
  const std::string job = paid_.Submit(paid_.WriteSpec("one-owner", data, shape, kMaxPrice));
  ASSERT_FALSE(job.empty());
  // Each machine of the owner makes its claim (the task never goes back to a claimant).
  ASSERT_TRUE(WaitUntil(
      [&] {
        return NodeOf(net_, "kill1").value("tasks_failed", 0) >= 1 &&
               NodeOf(net_, "kill2").value("tasks_failed", 0) >= 1;
      },
      seconds(90), milliseconds(200)))
      << net_.Logs();
  auto status = net_.CliJson({"status", job}, &why);
  ASSERT_TRUE(status) << why;
  EXPECT_EQ((*status)["state"], "running") << status->dump();
  ASSERT_TRUE(net_.StartAgent("honest", &why)) << why;
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(180));
  ASSERT_TRUE(done) << net_.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();
  const json honest = NodeOf(net_, "honest");
  EXPECT_EQ(honest.value("owner", ""), net_.agent_id("honest"));  // no attestation: its own
  EXPECT_GE(honest.value("tasks_succeeded", 0), 1);
  for (const char* name : {"kill1", "kill2"}) {
    EXPECT_EQ(NodeOf(net_, name).value("tasks_succeeded", -1), 0) << name;
    EXPECT_LE(paid_.Balance(std::string("provider:") + net_.agent_id(name)), 0) << name;
  }
}

TEST_F(OwnersE2E, AnAgentGivenAnotherKeysAttestationRefusesToStart) {
  std::string why;
  ASSERT_TRUE(net_.StartScheduler(&why)) << why;
  const fs::path theirs = Attest("attested");
  net_.MakeAgentKey("impostor");
  ASSERT_TRUE(net_.StartAgent("impostor", &why, {"--owner-attestation", theirs.string()})) << why;
  const std::optional<int> status = net_.agent("impostor").Wait(milliseconds(60'000));
  ASSERT_TRUE(status) << "the agent did not exit";
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 2);
  EXPECT_TRUE(net_.AgentLogHas("impostor", "is for agent " + net_.agent_id("attested").substr(0, 16)))
      << net_.Logs();
}

}  // namespace
}  // namespace plume::itest
