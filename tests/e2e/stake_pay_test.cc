// Issue 10, payment after verification and the stake gate, end to end with real processes on
// loopback (plume-scheduler with the ledger on, plume-agent, the plume CLI). Shown:
//  - an unaudited result is paid only after the challenge window W: right after the job
//    succeeded no provider is paid and `plume balance` shows the pay as pending; the scheduler is
//    then SIGKILLed and restarted inside the window, and the settles land within W plus one
//    round of the restart; each honest provider's pay is its price x the FLOPs of its tasks,
//    computed here from the spec (kernels/flops.h), not read from the receipts; the treasury has
//    the fee and the team the rest;
//  - with a minimum stake per device, a provider without stake is not placed (the job says it
//    waits for stake), and is placed once it stakes with `plume stake`;
//  - plume-agent will not start with price 0, and a register with price 0 or -1 from a raw
//    protocol client is refused and the node never listed.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "network.h"
#include "paid_network.h"
#include "plume/kernels/flops.h"
#include "plume/ledger/amount.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/message.h"
#include "plume/protocol/transport.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kPriceA = 2'000'000'000'000, kPriceB = 1'500'000'000'000;
constexpr uint64_t kMaxPrice = 2'500'000'000'000;
constexpr int64_t kWindowMs = 20'000;

class StakePayE2E : public ::testing::Test {
 protected:
  std::string Submit(const std::string& name, const TrainShape& shape) {
    return paid_.Submit(paid_.WriteSpec(name, data_, shape, kMaxPrice));
  }
  json Wallet(const std::string& agent) {
    std::string why;
    auto w = net_.CliJson({"balance", "--key", paid_.AgentKey(agent).string()}, &why);
    EXPECT_TRUE(w) << why;
    return w.value_or(json::object());
  }
  int64_t SecondsSince(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
  }

  Network net_{"stakepay"};
  PaidNetwork paid_{net_};
  fs::path data_ = WriteTrainingText(net_.dir().path(), 40'000);
};

TEST_F(StakePayE2E, PaidPriceTimesSpecFlopsAfterTheWindowAcrossAKill) {
  std::string why;
  paid_.SetSchedulerFlags({"--challenge-window-ms", std::to_string(kWindowMs), "--unbonding-ms",
                           std::to_string(kWindowMs)});
  ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
  ASSERT_TRUE(net_.StartAgent("a", &why, {"--price", std::to_string(kPriceA)})) << why;
  ASSERT_TRUE(net_.StartAgent("b", &why, {"--price", std::to_string(kPriceB)})) << why;
  ASSERT_TRUE(net_.WaitActiveNodes(2, seconds(60))) << net_.Logs();
  ASSERT_EQ(paid_.Mint("mint:team", 100'000'000, paid_.operator_key()).exit_code, 0);

  TrainShape shape;
  shape.workers = 2;
  shape.rounds = 1;
  shape.local_steps = 4;
  const auto submitted = Clock::now();  // no result can be older than this
  const std::string job = Submit("windowed", shape);
  ASSERT_FALSE(job.empty());
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(120));
  ASSERT_TRUE(done) << net_.Logs();
  ASSERT_EQ((*done)["state"], "succeeded") << done->dump();
  // Each result finished after `submitted`, so until submitted + W none may be paid yet.
  ASSERT_LT(SecondsSince(submitted), kWindowMs - 3'000)
      << "the job took too long to observe its window on this machine";

  // The pay each provider earns, from the spec alone: one task each, its price x its FLOPs.
  const uint64_t flops = static_cast<uint64_t>(
      kernels::TrainFlops(TinyModel(), shape.seq_len, shape.batch, shape.local_steps));
  const int64_t pay_a = ledger::PayForFlops(kPriceA, flops)->value();
  const int64_t pay_b = ledger::PayForFlops(kPriceB, flops)->value();
  ASSERT_GT(pay_a, 0);
  // Not paid yet: pending verification, in the providers' and the team's view.
  const json wa = Wallet("a"), wb = Wallet("b");
  EXPECT_EQ(wa["provider"]["pending_micro_plume"], pay_a) << wa.dump();
  EXPECT_EQ(wb["provider"]["pending_micro_plume"], pay_b) << wb.dump();
  EXPECT_EQ(wa["provider"]["balance_micro_plume"], 0) << wa.dump();
  auto team = net_.CliJson({"balance"}, &why);
  ASSERT_TRUE(team) << why;
  EXPECT_EQ((*team)["pending_micro_plume"], pay_a + pay_b) << team->dump();
  CommandResult text = net_.Cli({"balance", "--key", paid_.AgentKey("a").string()});
  EXPECT_NE(text.out.find("pending verification"), std::string::npos) << text.out;
  auto entries = paid_.History(&why);
  ASSERT_TRUE(entries) << why;
  for (const json& e : *entries) EXPECT_NE(e["type"], "settle") << "settled inside the window";

  // A crash inside the window: the settles still come, within W and a round of the restart.
  net_.scheduler().Kill();
  ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
  const auto restarted = Clock::now();
  ASSERT_TRUE(WaitUntil(
      [&] {
        return paid_.Balance("provider:" + net_.agent_id("a")) > 0 &&
               paid_.Balance("provider:" + net_.agent_id("b")) > 0;
      },
      seconds(60), milliseconds(100)))
      << net_.Logs();
  EXPECT_LE(SecondsSince(restarted), kWindowMs + 2'000) << "settled later than W + a round";
  EXPECT_GE(SecondsSince(submitted), kWindowMs) << "settled inside the window";

  EXPECT_EQ(paid_.Balance("provider:" + net_.agent_id("a")), pay_a);
  EXPECT_EQ(paid_.Balance("provider:" + net_.agent_id("b")), pay_b);
  const int64_t fees = ledger::FeeFor(ledger::MicroPlume(pay_a), 500).value() +
                       ledger::FeeFor(ledger::MicroPlume(pay_b), 500).value();
  EXPECT_EQ(paid_.Balance("treasury"), fees);
  ASSERT_TRUE(WaitUntil([&] { return paid_.Balance(paid_.team()) > 0; }, seconds(30)))
      << net_.Logs();
  EXPECT_EQ(paid_.Balance(paid_.team()), 100'000'000 - pay_a - pay_b - fees);
  EXPECT_EQ(Wallet("a")["provider"]["pending_micro_plume"], 0);
}

TEST_F(StakePayE2E, UnderTheMinimumStakeAJobWaitsUntilTheProviderStakes) {
  std::string why;
  paid_.SetSchedulerFlags({"--challenge-window-ms", "0", "--min-stake-per-device", "1000000"});
  ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
  ASSERT_TRUE(net_.StartAgent("a", &why)) << why;
  ASSERT_TRUE(net_.WaitActiveNodes(1, seconds(60))) << net_.Logs();
  ASSERT_EQ(paid_.Mint("mint:team", 100'000'000, paid_.operator_key()).exit_code, 0);
  TrainShape shape;
  shape.workers = 1;
  shape.rounds = 1;
  shape.local_steps = 2;
  const std::string job = Submit("gated", shape);
  ASSERT_FALSE(job.empty());
  // Not placed: the job names the stake it waits for, and nothing ran.
  std::optional<json> status;
  ASSERT_TRUE(WaitUntil(
      [&] {
        status = net_.CliJson({"status", job}, &why, seconds(10));
        return status && status->dump().find("stake >= 1000000") != std::string::npos;
      },
      seconds(30), milliseconds(200)))
      << (status ? status->dump() : why) << net_.Logs();
  EXPECT_EQ((*status)["tasks_running"], 0) << status->dump();
  EXPECT_EQ((*status)["tasks_done"], 0) << status->dump();

  ASSERT_TRUE(paid_.FundAndStake("a", 2'000'000, "1", &why)) << why;
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(120));
  ASSERT_TRUE(done) << net_.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();
}

TEST_F(StakePayE2E, PriceZeroOrNegativeIsRefused) {
  std::string why;
  ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
  // plume-agent itself will not offer a price <= 0.
  CommandResult agent = RunCommand({AgentBin(), "--scheduler", net_.endpoint(), "--scheduler-id",
                                    net_.scheduler_id(), "--key",
                                    (net_.dir() / "keys" / "free.key").string(), "--price", "0"},
                                   seconds(30));
  EXPECT_NE(agent.exit_code, 0) << agent.out << agent.err;
  // A raw client sends what plume-agent will not: the scheduler refuses it with a reason.
  const fs::path key = net_.dir() / "keys" / "raw.key";
  MakeKey(key);
  auto me = Identity::Load(key);
  auto server = PublicKeyFromHex(net_.scheduler_id());
  ASSERT_TRUE(me && server);
  auto client = TransportClient::Connect(net_.endpoint(), *server, *me);
  ASSERT_TRUE(client) << client.error().message;
  for (int64_t price : {int64_t{0}, int64_t{-1}}) {
    auto reg = (*client)->NewRequest();
    auto r = reg.body().initRegister();
    r.setName("free");
    r.setPriceMicroPlumePerPflop(price);
    auto gpu = r.initGpus(1)[0];
    gpu.setName("cpu");
    gpu.setBackend(wire::Backend::CPU);
    gpu.setSelftestPassed(true);
    auto reply = (*client)->Call(reg, std::chrono::seconds(10));
    ASSERT_TRUE(reply) << reply.error().message;
    ASSERT_EQ(reply->kind(), MessageKind::ERROR) << price;
    EXPECT_NE(std::string(reply->body().getError().getMessage().cStr()).find("more than 0"),
              std::string::npos);
  }
  auto nodes = net_.CliJson({"nodes"}, &why);
  ASSERT_TRUE(nodes) << why;
  EXPECT_TRUE(nodes->empty()) << nodes->dump();
}

}  // namespace
}  // namespace plume::itest
