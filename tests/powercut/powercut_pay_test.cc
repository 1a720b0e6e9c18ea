// Power loss under a paid network, not only kill -9: the scheduler (ledger on, --sync full)
// runs under the power-cut shim (powercut_shim.cc); while a 3-round job runs, it is SIGKILLed
// and its data directory rolled back to what a power cut keeps, twice after an agent was told a
// new result was accepted, then several times at a random sync inside the scheduler's write
// sequences (seeded: PLUME_POWERCUT_SEED, printed), each time restarted on what is left. Agents
// are other machines and keep running. Then: every result an agent saw acknowledged is in the ledger as exactly
// that attempt (nothing acknowledged was re-run or lost), each with the pay the ack reported;
// each task is settled once; the ledger verifies, and the providers, treasury and team hold
// exactly what the settles and the release say.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "network.h"
#include "paid_network.h"
#include "plume/ledger/amount.h"
#include "plume/ledger/entry.h"
#include "plume/ledger/ledger.h"
#include "power_cut.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

struct Acked {
  uint32_t attempt = 0;
  int64_t paid = 0;
};

class PowerCutPay : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    ASSERT_TRUE(StartScheduler(&why)) << why;
    ASSERT_TRUE(net_.StartAgent("a", &why, {"--price", std::to_string(kPrice)})) << why;
    ASSERT_TRUE(net_.StartAgent("b", &why, {"--price", std::to_string(kPrice)})) << why;
    ASSERT_TRUE(net_.WaitActiveNodes(2, seconds(60))) << net_.Logs();
  }
  fs::path data_dir() const { return net_.dir() / "scheduler-data"; }
  fs::path record() const { return net_.dir() / "powercut-record"; }
  bool StartScheduler(std::string* why, long kill_at_sync = 0) {
    fs::create_directories(data_dir());
    ::sync();  // the shim takes what is on disk now as durable
    return paid_.StartScheduler(why, powercut::ShimEnv(data_dir(), record(), kill_at_sync));
  }
  // Every "result accepted" the agents logged: wire task id -> what the ack said.
  std::map<std::string, Acked> AckedResults() const {
    static const std::regex line(R"(task=(\d+) attempt=(\d+): result accepted, paid (-?\d+))");
    std::map<std::string, Acked> out;
    for (const char* name : {"a", "b"}) {
      std::ifstream in(net_.agent_log(name));
      std::string text;
      while (std::getline(in, text)) {
        std::smatch m;
        if (!std::regex_search(text, m, line)) continue;
        Acked& a = out[m[1].str()];
        a.attempt = static_cast<uint32_t>(std::stoul(m[2].str()));
        a.paid = std::max<int64_t>(a.paid, std::stoll(m[3].str()));  // a re-ack reports 0
      }
    }
    return out;
  }
  // Restarts the scheduler to cut its own power after `kill_at_sync` syncs; cuts, and returns
  // true, when it did so within the time a job's worth of syncs takes.
  bool CutAtSync(long kill_at_sync) {
    std::string why;
    const bool up = StartScheduler(&why, kill_at_sync);  // it may die before it is up
    if (!WaitUntil([&] { return !net_.scheduler().Running(); }, seconds(up ? 60 : 1),
                   milliseconds(50))) {
      return false;
    }
    net_.scheduler().Kill();  // reap it
    auto cut = powercut::CutPower(data_dir(), record());
    EXPECT_TRUE(cut) << cut.error().message;
    return true;
  }
  void CutAfterNewAck() {
    const size_t before = AckedResults().size();
    ASSERT_TRUE(
        WaitUntil([&] { return AckedResults().size() > before; }, seconds(120), milliseconds(50)))
        << net_.Logs();
    net_.scheduler().Kill();
    auto cut = powercut::CutPower(data_dir(), record());
    ASSERT_TRUE(cut) << cut.error().message;
    std::string why;
    ASSERT_TRUE(StartScheduler(&why)) << why;
  }

  static constexpr uint64_t kPrice = 2'000'000'000'000;  // micro-PLUME per PFLOP
  Network net_{"powercut"};
  PaidNetwork paid_{net_};
  fs::path data_ = WriteTrainingText(net_.dir().path(), 40'000);
};

TEST_F(PowerCutPay, NothingAcknowledgedIsLostAndNobodyIsPaidTwice) {
  ASSERT_EQ(paid_.Mint("mint:1", 120'000'000, paid_.operator_key()).exit_code, 0) << net_.Logs();
  TrainShape shape;
  shape.rounds = 3;
  shape.local_steps = 10;
  const std::string job = paid_.Submit(paid_.WriteSpec("cut", data_, shape, kPrice));
  ASSERT_FALSE(job.empty());
  for (int cut = 0; cut < 2; ++cut) CutAfterNewAck();
  net_.scheduler().Kill();
  ASSERT_TRUE(powercut::CutPower(data_dir(), record()));
  const char* seed_env = std::getenv("PLUME_POWERCUT_SEED");
  const uint32_t seed = seed_env ? static_cast<uint32_t>(std::stoul(seed_env)) : 12;
  std::mt19937 rng(seed);
  std::vector<long> cut_at;
  for (int cut = 0; cut < 6; ++cut) {
    const long n = std::uniform_int_distribution<long>(3, 60)(rng);
    if (!CutAtSync(n)) break;  // the job ended before that many syncs
    cut_at.push_back(n);
  }
  std::cout << "power cuts at syncs (seed " << seed << "):";
  for (long n : cut_at) std::cout << " " << n;
  std::cout << "\n";
  if (!net_.scheduler().Running()) {
    std::string why;
    ASSERT_TRUE(StartScheduler(&why)) << why;
  }
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(200));
  ASSERT_TRUE(done) << net_.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();

  CommandResult v = net_.Cli({"ledger", "verify", paid_.ledger_dir()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("VERIFIED"), std::string::npos) << v.out;
  std::string why;
  auto history =
      net_.CliJson({"ledger", "history", "--json", "--ledger-dir", paid_.ledger_dir()}, &why);
  ASSERT_TRUE(history) << why;
  std::map<std::string, int> settles;     // wire task id -> settles
  std::map<std::string, json> settle_of;  // wire task id -> its receipt
  std::map<std::string, int64_t> earned;  // provider account -> what its settles pay
  int64_t paid = 0, fees = 0;
  for (const json& e : *history) {
    if (e["type"] != "settle" || e["job"] != job) continue;
    const json& r = e["receipt"];
    const std::string task = r["task"].get<std::string>();
    ++settles[task];
    settle_of[task] = r;
    const auto pay = ledger::PayForFlops(r["price_micro_plume_per_pflop"].get<uint64_t>(),
                                         r["flops"].get<uint64_t>());
    ASSERT_TRUE(pay);
    earned["provider:" + r["agent"].get<std::string>()] += pay->value();
    paid += pay->value();
    fees += ledger::FeeFor(*pay, r["fee_bps"].get<uint32_t>()).value();
  }
  EXPECT_EQ(settles.size(), 6u) << history->dump();  // 3 rounds x 2 workers
  for (const auto& [task, n] : settles) EXPECT_EQ(n, 1) << "task " << task << " paid twice";

  const std::map<std::string, Acked> acked = AckedResults();
  EXPECT_GE(acked.size(), 2u);
  for (const auto& [task, ack] : acked) {
    auto it = settle_of.find(task);
    ASSERT_NE(it, settle_of.end()) << "acknowledged result of task " << task << " never paid";
    EXPECT_EQ(it->second["attempt"].get<uint32_t>(), ack.attempt)
        << "task " << task << ": the acknowledged attempt was lost and the task run again";
    if (ack.paid > 0) {
      EXPECT_EQ(ack.paid,
                ledger::PayForFlops(it->second["price_micro_plume_per_pflop"].get<uint64_t>(),
                                    it->second["flops"].get<uint64_t>())
                    ->value())
          << "task " << task;
    }
  }

  auto ledger = ledger::Ledger::OpenReadOnly(paid_.ledger_dir());
  ASSERT_TRUE(ledger) << ledger.error().message;
  EXPECT_TRUE((*ledger)->CheckInvariants());
  for (const auto& [account, amount] : earned) {
    EXPECT_EQ((*ledger)->Balance(account).value_or(ledger::MicroPlume(-1)).value(), amount)
        << account;
  }
  EXPECT_EQ((*ledger)->Balance(ledger::kTreasury).value_or(ledger::MicroPlume(-1)).value(), fees);
  EXPECT_EQ((*ledger)->Balance(paid_.team()).value_or(ledger::MicroPlume(-1)).value(),
            120'000'000 - paid - fees);
  EXPECT_TRUE((*ledger)->Hold(job)->closed);
}

}  // namespace
}  // namespace plume::itest
