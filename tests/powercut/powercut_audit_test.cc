// Power loss while replay audits conclude: the scheduler (ledger on, audits on, --sync full) runs
// under the power-cut shim with two honest agents and a cheater that halves every delta; all
// are new, so every result is audited and each mismatch refereed. The scheduler is restarted
// again and again, each time told to cut its own power after n syncs for n = 3, 6, 9, ... (then
// its data directory is rolled back to what a power cut keeps), until the job's escrow is
// released: the cuts fall on the run's writes in turn, while results, audits and referees come
// in and conclude (the window between a conclusion saved with its ledger requests and their
// entries in the ledger is hit deterministically by the core's restart test,
// CoreVerification.AConclusionNotYetInTheLedgerIsSentAgainAfterARestartOnce). Then: every audit and referee run that returned a result is paid exactly once, each
// honest provider holds exactly price x FLOPs of its settled runs (from the spec), one verdict
// per original with a receipt for each of its runs, nothing for the cheater, and the ledger and
// `plume audit` check.
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <set>

#include "network.h"
#include "paid_network.h"
#include "plume/kernels/flops.h"
#include "plume/ledger/amount.h"
#include "plume/ledger/ledger.h"
#include "power_cut.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

constexpr uint64_t kPrice = 2'000'000'000'000;  // the agents' asking price = the job's maximum
constexpr int64_t kMinted = 200'000'000;

class PowerCutAudit : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    net_.EnableAudits();
    ASSERT_TRUE(StartScheduler(&why)) << why;
    ASSERT_TRUE(net_.StartAgent("a", &why)) << why;
    ASSERT_TRUE(net_.StartAgent("b", &why)) << why;
    ASSERT_TRUE(net_.StartAgent("cheat", &why, {"--cheat", "halve", "--cheat-q", "1"}, "",
                                PLUME_CHEAT_AGENT_BIN))
        << why;
    ASSERT_TRUE(net_.WaitActiveNodes(3, seconds(60))) << net_.Logs();
  }
  fs::path data_dir() const { return net_.dir() / "scheduler-data"; }
  fs::path record() const { return net_.dir() / "powercut-record"; }
  bool StartScheduler(std::string* why, long kill_at_sync = 0) {
    fs::create_directories(data_dir());
    ::sync();  // the shim takes what is on disk now as durable
    return paid_.StartScheduler(why, powercut::ShimEnv(data_dir(), record(), kill_at_sync));
  }
  // Restarts the scheduler to cut its own power after `n` syncs; cuts, and returns true, when it
  // did so (false: it came up and went quiet before n syncs).
  bool CutAtSync(long n) {
    std::string why;
    const bool up = StartScheduler(&why, n);  // it may die before it is up
    if (!WaitUntil([&] { return !net_.scheduler().Running(); }, seconds(up ? 15 : 1),
                   milliseconds(20))) {
      net_.scheduler().Kill();
      EXPECT_TRUE(powercut::CutPower(data_dir(), record()));
      return false;
    }
    net_.scheduler().Kill();  // reap it
    auto cut = powercut::CutPower(data_dir(), record());
    EXPECT_TRUE(cut) << cut.error().message;
    return true;
  }
  bool HoldClosed(const std::string& job) const {
    auto ledger = ledger::Ledger::OpenReadOnly(paid_.ledger_dir());
    if (!ledger) return false;
    auto hold = (*ledger)->Hold(job);
    return hold && hold->closed;
  }

  Network net_{"pcaudit"};
  PaidNetwork paid_{net_};
};

TEST_F(PowerCutAudit, EveryVerificationRunIsPaidOnceAndEveryVerdictRecordedAcrossCuts) {
  ASSERT_EQ(paid_.Mint("mint:1", kMinted, paid_.operator_key()).exit_code, 0) << net_.Logs();
  TrainShape shape;
  shape.workers = 3;
  shape.rounds = 1;
  shape.local_steps = 4;
  const fs::path data = WriteTrainingText(net_.dir().path(), 20'000);
  const std::string job = paid_.Submit(paid_.WriteSpec("cut-audits", data, shape, kPrice));
  ASSERT_FALSE(job.empty());
  net_.scheduler().Kill();
  ASSERT_TRUE(powercut::CutPower(data_dir(), record()));
  std::vector<long> cuts;
  // Every third sync (each restart waits for the agents' reconnect backoff, up to 10 s): the
  // deterministic test of the window itself is CoreVerification.AConclusionNotYetInTheLedger...
  for (long n = 3; n <= 60 && !HoldClosed(job); n += 3) {
    if (CutAtSync(n)) cuts.push_back(n);
  }
  std::cout << cuts.size() << " power cuts, at syncs " << (cuts.empty() ? 0 : cuts.front())
            << ".." << (cuts.empty() ? 0 : cuts.back()) << "\n";
  EXPECT_GE(cuts.size(), 5u);
  std::string why;
  ASSERT_TRUE(StartScheduler(&why)) << why;
  ASSERT_TRUE(WaitUntil([&] { return HoldClosed(job); }, seconds(240), milliseconds(200)))
      << net_.Logs();

  CommandResult v = net_.Cli({"ledger", "verify", paid_.ledger_dir()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  auto history = paid_.History(&why);
  ASSERT_TRUE(history) << why;
  const auto flops = static_cast<uint64_t>(
      kernels::TrainFlops(TinyModel(), shape.seq_len, shape.batch, shape.local_steps));
  const int64_t pay = ledger::PayForFlops(kPrice, flops)->value();
  std::map<std::string, int> settles;       // receipt task id -> settle entries
  std::map<std::string, std::string> kind;  // receipt task id -> the entry type holding it
  std::map<std::string, int64_t> earned;    // agent -> price x FLOPs of its settled runs
  int64_t paid = 0, fees = 0;
  std::vector<json> verdicts;
  for (const json& e : *history) {
    if (e.value("job", "") != job) continue;
    if (e["type"] == "verdict") verdicts.push_back(e["verdict"]);
    if (!e.contains("receipt")) continue;
    const std::string task = e["receipt"]["task"];
    kind[task] = e["type"];
    if (e["type"] != "settle") continue;
    ++settles[task];
    EXPECT_NE(e["receipt"]["agent"], net_.agent_id("cheat")) << e.dump();
    EXPECT_EQ(e["receipt"]["flops"], flops) << e.dump();
    earned[e["receipt"]["agent"]] += pay;
    paid += pay;
    fees += ledger::FeeFor(ledger::MicroPlume(pay), 500).value();
  }
  for (const auto& [task, n] : settles) EXPECT_EQ(n, 1) << "run " << task << " paid twice";
  EXPECT_EQ(verdicts.size(), 3u) << "one verdict per original";
  for (const json& f : verdicts) {
    const std::string outcome = f["outcome"];
    const size_t faulty = outcome == "original_faulty" ? 0 : outcome == "auditor_faulty" ? 1 : 9;
    for (size_t i = 0; i < f["runs"].size(); ++i) {
      const std::string task = f["runs"][i]["task"];
      EXPECT_EQ(kind[task], i == faulty ? "task_receipt" : "settle")
          << "run " << task << " of " << f.dump();
    }
  }
  auto ledger = ledger::Ledger::OpenReadOnly(paid_.ledger_dir());
  ASSERT_TRUE(ledger) << ledger.error().message;
  EXPECT_TRUE((*ledger)->CheckInvariants());
  for (const char* name : {"a", "b"}) {
    const std::string id = net_.agent_id(name);
    EXPECT_GT(earned[id], 0) << name;
    EXPECT_EQ((*ledger)->Balance("provider:" + id).value_or(ledger::MicroPlume(-1)).value(),
              earned[id])
        << name;
  }
  EXPECT_EQ((*ledger)->Balance(paid_.team()).value_or(ledger::MicroPlume(-1)).value(),
            kMinted - paid - fees);
  CommandResult audit = net_.Cli({"audit", job, "--ledger-dir", paid_.ledger_dir(), "--json"});
  const json report = json::parse(audit.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << audit.out << audit.err;
  EXPECT_TRUE(report["ledger_ok"].get<bool>()) << report["problems"].dump();
}

}  // namespace
}  // namespace plume::itest
