// Issue 10, stake and slashing, end to end with real processes on loopback: plume-scheduler with
// the ledger on and replay audits, two honest plume-agents and one plume-cheat-agent that halves
// every training delta (plausible; only a replay audit sees it). Every provider stakes through
// `plume stake` with its own key. Shown:
//  - the cheater is slashed exactly once per proven fault (one slash entry per conviction, each
//    for a different run, carrying that run's receipt), its stake falls by the slashes, the team
//    gets the clawback and compensation legs, the referee's provider the finder's fee, and the
//    job finishes on the honest providers (no settle ever names the cheater);
//  - stake that was unstaked and is unbonding is still slashed for a fault proven meanwhile;
//  - the price bait-and-switch (win the placement cheap, re-register at the job's maximum before
//    delivering) is paid at the price fixed when the task was assigned.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <thread>

#include "network.h"
#include "node_record.h"
#include "paid_network.h"
#include "plume/kernels/flops.h"
#include "plume/ledger/amount.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

// Minted to each provider, and staked of it ("30" PLUME): 10% of the stake (3 PLUME) is more than
// the team's cost of a fault (the faulty run, its audit and its referee, about 0.43 PLUME each,
// all paid from the job's verification reserve), so the compensation leg leaves a finder's fee.
constexpr int64_t kFunded = 40'000'000;
constexpr int64_t kStaked = 30'000'000;
constexpr const char* kStakedText = "30";

class StakeE2E : public ::testing::Test {
 protected:
  // Starts the scheduler with `flags`, the two honest agents and the cheater (`cheat_flags`),
  // waits for all three and funds the team.
  void StartNetwork(std::vector<std::string> flags, std::vector<std::string> cheat_flags) {
    std::string why;
    net_.EnableAudits();
    paid_.SetSchedulerFlags(std::move(flags));
    ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
    ASSERT_TRUE(net_.StartAgent("honest-a", &why)) << why;
    ASSERT_TRUE(net_.StartAgent("honest-b", &why)) << why;
    ASSERT_TRUE(net_.StartAgent("cheat", &why, cheat_flags, "", PLUME_CHEAT_AGENT_BIN)) << why;
    ASSERT_TRUE(net_.WaitActiveNodes(3, seconds(90))) << net_.Logs();
    ASSERT_EQ(paid_.Mint("mint:team", 500'000'000, paid_.operator_key()).exit_code, 0)
        << net_.Logs();
  }
  // Waits until the scheduler reports `name`'s free stake and unbonding stake as given.
  bool WaitStake(const std::string& name, int64_t staked, int64_t unbonding) {
    return WaitUntil(
        [&] {
          const json n = NodeOf(net_, name);
          return n.value("stake_micro_plume", -1) == staked &&
                 n.value("unbonding_micro_plume", -1) == unbonding;
        },
        seconds(30), milliseconds(200));
  }
  std::string RunJob(const std::string& name) {
    TrainShape shape;
    shape.workers = 3;
    shape.rounds = 1;
    shape.local_steps = 4;
    const fs::path data = WriteTrainingText(net_.dir().path(), 20'000);
    const std::string job = paid_.Submit(paid_.WriteSpec(name, data, shape, 2'500'000'000'000));
    EXPECT_FALSE(job.empty());
    auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(240));
    EXPECT_TRUE(done) << net_.Logs();
    if (done) {
      EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();
    }
    return job;
  }
  // The ledger's slash entries of agent `name`.
  std::vector<json> SlashesOf(const std::string& name) {
    std::string why;
    auto history = paid_.History(&why);
    EXPECT_TRUE(history) << why;
    std::vector<json> out;
    for (const json& e : history.value_or(json::array())) {
      if (e["type"] == "slash" && e["receipt"]["agent"] == net_.agent_id(name)) out.push_back(e);
    }
    return out;
  }
  // Audits outlive the job, and the job's escrow is released only when the last of its audits
  // and referee runs is decided (and after the slashes they asked for: a job's ledger requests
  // are applied in order). Waits (bounded) for that release; the cheater's slash entries then,
  // one for each of its proven faults.
  std::vector<json> AwaitSlashes(const std::string& job) {
    std::string why;
    const bool released = WaitUntil(
        [&] {
          auto b = net_.CliJson({"balance", "escrow:" + job, "--ledger-dir", paid_.ledger_dir()},
                                &why);
          return b && b->contains("hold") && (*b)["hold"]["closed"].get<bool>();
        },
        seconds(240), milliseconds(500));
    EXPECT_TRUE(released) << why << net_.Logs();
    const int64_t faulty = NodeOf(net_, "cheat").value("proven_faulty", 0);
    std::vector<json> slashes = SlashesOf("cheat");
    EXPECT_GE(faulty, 1) << net_.Logs();
    EXPECT_EQ(static_cast<int64_t>(slashes.size()), faulty) << "one slash per fault\n"
                                                            << net_.Logs();
    return slashes;
  }

  Network net_{"stake"};
  PaidNetwork paid_{net_};
};

TEST_F(StakeE2E, ACheaterIsSlashedOncePerFaultAndTheTeamIsCompensated) {
  StartNetwork({"--challenge-window-ms", "3000", "--unbonding-ms", "600000",
                "--min-stake-per-device", "1000000"},
               {"--cheat", "halve", "--cheat-q", "1"});
  std::string why;
  for (const char* name : {"honest-a", "honest-b", "cheat"}) {
    ASSERT_TRUE(paid_.FundAndStake(name, kFunded, kStakedText, &why)) << why;
    ASSERT_TRUE(WaitStake(name, kStaked, 0)) << name << " " << NodeOf(net_, name).dump();
  }
  const std::string job = RunJob("slashed");
  const std::vector<json> slashes = AwaitSlashes(job);
  ASSERT_FALSE(slashes.empty());

  // One slash per fault: as many as convictions, each for a different run of the cheater.
  const json cheat = NodeOf(net_, "cheat");
  EXPECT_EQ(cheat.value("slashes", -1), cheat.value("proven_faulty", -2)) << cheat.dump();
  std::set<std::string> runs;
  int64_t slashed = 0, to_team = 0, to_finders = 0;
  const std::set<std::string> honest = {"provider:" + net_.agent_id("honest-a"),
                                        "provider:" + net_.agent_id("honest-b")};
  for (const json& s : slashes) {
    EXPECT_TRUE(runs.insert(s["job"].get<std::string>() + "/" +
                            s["receipt"]["task"].get<std::string>())
                    .second)
        << "two slashes for one run: " << s.dump();
    int64_t legs = 0;
    for (const json& leg : s["legs"]) {
      legs += leg["amount_micro_plume"].get<int64_t>();
      if (leg["account"] == paid_.team()) to_team += leg["amount_micro_plume"].get<int64_t>();
      if (leg["kind"] == "finder") {
        EXPECT_TRUE(honest.contains(leg["account"].get<std::string>())) << s.dump();
        to_finders += leg["amount_micro_plume"].get<int64_t>();
      }
    }
    EXPECT_EQ(legs, s["amount_micro_plume"].get<int64_t>()) << s.dump();
    EXPECT_NE(s["memo"].get<std::string>().find(s["job"].get<std::string>()), std::string::npos)
        << "the memo names the evidence: " << s.dump();
    slashed += s["amount_micro_plume"].get<int64_t>();
  }
  EXPECT_GT(to_team, 0) << "no compensation for the team";
  EXPECT_GT(to_finders, 0) << "no finder's fee";
  // The stake fell by exactly the slashes, in the ledger and in the scheduler's record.
  EXPECT_EQ(paid_.Balance("stake:" + net_.agent_id("cheat")), kStaked - slashed);
  EXPECT_TRUE(WaitStake("cheat", kStaked - slashed, 0)) << NodeOf(net_, "cheat").dump();

  // The job finished on honest providers: no settle names the cheater.
  auto history = paid_.History(&why);
  ASSERT_TRUE(history) << why;
  for (const json& e : *history) {
    if (e["type"] == "settle") {
      EXPECT_NE(e["receipt"]["agent"], net_.agent_id("cheat"));
    }
  }
  // The team paid the job's settles and got the slash legs: the escrow is released (above), so
  // its balance is the mint, less what the hold paid out, plus the legs.
  auto escrow =
      net_.CliJson({"balance", "escrow:" + job, "--ledger-dir", paid_.ledger_dir()}, &why);
  ASSERT_TRUE(escrow) << why;
  const json& hold = (*escrow)["hold"];
  EXPECT_EQ(paid_.Balance(paid_.team()),
            500'000'000 - hold["paid"].get<int64_t>() - hold["fees"].get<int64_t>() + to_team)
      << hold.dump();
  CommandResult verify = net_.Cli({"ledger", "verify", paid_.ledger_dir()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  // `plume audit` recomputes the same money per task from the ledger alone.
  CommandResult audit = net_.Cli({"audit", job, "--ledger-dir", paid_.ledger_dir(), "--json"});
  const json report = json::parse(audit.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << audit.out << audit.err;
  int64_t audit_slashed = 0, audit_to_team = 0, audit_finders = 0, audit_paid = 0;
  for (const auto& [task, m] : report["tasks_micro_plume"].items()) {
    audit_slashed += m["slashed"].get<int64_t>();
    audit_to_team += m["clawback"].get<int64_t>() + m["compensation"].get<int64_t>();
    audit_finders += m["finder"].get<int64_t>();
    audit_paid += m["paid"].get<int64_t>();
    if (m["slashed"].get<int64_t>() > 0) {
      EXPECT_EQ(m["provider"], net_.agent_id("cheat")) << task;
    }
  }
  EXPECT_EQ(audit_slashed, slashed) << report["tasks_micro_plume"].dump();
  EXPECT_EQ(audit_to_team, to_team);
  EXPECT_EQ(audit_finders, to_finders);
  EXPECT_EQ(audit_paid, hold["paid"].get<int64_t>());

  // And the verdict behind each slash: the cheater proven faulty, recomputed from the receipts
  // of the three runs where the ledger has them; no honest provider is ever named.
  size_t convicted = 0;
  for (const json& v : report["verdicts"]) {
    EXPECT_TRUE(v["problems"].empty()) << v.dump();
    if (v["slashed"].get<int64_t>() == 0) {
      EXPECT_NE(v["faulty"], net_.agent_id("honest-a")) << v.dump();
      EXPECT_NE(v["faulty"], net_.agent_id("honest-b")) << v.dump();
      continue;
    }
    ++convicted;
    EXPECT_EQ(v["verdict"], "disputed: proven faulty") << v.dump();
    EXPECT_EQ(v["faulty"], net_.agent_id("cheat")) << v.dump();
    EXPECT_GT(v["schedulers_word"].value("pay_micro_plume", int64_t{0}), 0) << v.dump();
    std::cout << "verdict " << v["task"] << ": " << v["verdict"] << ", " << v["how"]
              << (v["recomputed_from_ledger"].get<bool>() ? " (recomputed)" : "") << "\n";
  }
  EXPECT_EQ(convicted, slashes.size()) << report["verdicts"].dump();
  CommandResult text = net_.Cli({"audit", job, "--ledger-dir", paid_.ledger_dir()});
  EXPECT_NE(text.out.find("proven faulty: " + net_.agent_id("cheat").substr(0, 16)),
            std::string::npos)
      << text.out;
}

TEST_F(StakeE2E, StakeThatIsUnbondingIsStillSlashed) {
  // No minimum stake: the cheater, having unstaked everything, is still placed.
  StartNetwork({"--challenge-window-ms", "3000", "--unbonding-ms", "600000"},
               {"--cheat", "halve", "--cheat-q", "1"});
  std::string why;
  ASSERT_TRUE(paid_.FundAndStake("cheat", kFunded, kStakedText, &why)) << why;
  CommandResult unstake =
      net_.Cli({"unstake", kStakedText, "--key", paid_.AgentKey("cheat").string(), "--json"});
  ASSERT_EQ(unstake.exit_code, 0) << unstake.out << unstake.err << net_.Logs();
  ASSERT_TRUE(WaitStake("cheat", 0, kStaked)) << NodeOf(net_, "cheat").dump();

  const std::vector<json> slashes = AwaitSlashes(RunJob("unbonding"));
  ASSERT_FALSE(slashes.empty());
  int64_t slashed = 0;
  for (const json& s : slashes) slashed += s["amount_micro_plume"].get<int64_t>();
  EXPECT_GT(slashed, 0);
  // Taken from the tranche: nothing was staked, the unbonding balance fell by the slashes.
  EXPECT_EQ(paid_.Balance("unbond:" + net_.agent_id("cheat")), kStaked - slashed);
  EXPECT_EQ(paid_.Balance("stake:" + net_.agent_id("cheat")), 0);
  auto wallet = net_.CliJson({"balance", "--key", paid_.AgentKey("cheat").string()}, &why);
  ASSERT_TRUE(wallet) << why;
  EXPECT_EQ((*wallet)["unbonding_micro_plume"], kStaked - slashed) << wallet->dump();
  ASSERT_EQ((*wallet)["tranches"].size(), 1u) << wallet->dump();
  EXPECT_EQ((*wallet)["tranches"][0]["amount_micro_plume"], kStaked - slashed);
}

// F3's bait-and-switch: the only provider wins the task at a low price, re-registers at the
// job's maximum before sending the result; the settle pays the price fixed at assignment.
TEST_F(StakeE2E, APriceRaisedAfterAssignmentIsNotPaid) {
  constexpr uint64_t kBait = 1'000'000'000'000, kMax = 2'500'000'000'000;
  std::string why;
  paid_.SetSchedulerFlags({"--challenge-window-ms", "0"});  // audits off (Network default)
  ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
  ASSERT_TRUE(net_.StartAgent("bait", &why,
                              {"--price", std::to_string(kBait), "--cheat", "none",
                               "--reprice-to", std::to_string(kMax)},
                              "", PLUME_CHEAT_AGENT_BIN))
      << why;
  ASSERT_TRUE(net_.WaitActiveNodes(1, seconds(90))) << net_.Logs();
  ASSERT_EQ(paid_.Mint("mint:team", 500'000'000, paid_.operator_key()).exit_code, 0);
  TrainShape shape;
  shape.workers = 1;
  shape.rounds = 1;
  shape.local_steps = 2;
  const fs::path data = WriteTrainingText(net_.dir().path(), 20'000);
  const std::string job = paid_.Submit(paid_.WriteSpec("bait", data, shape, kMax));
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(120));
  ASSERT_TRUE(done) << net_.Logs();
  ASSERT_EQ((*done)["state"], "succeeded") << done->dump();
  // The switch happened: the scheduler lists the raised price.
  EXPECT_EQ(NodeOf(net_, "bait").value("price_micro_plume_per_pflop", uint64_t{0}), kMax);
  const int64_t flops = kernels::TrainFlops(TinyModel(), shape.seq_len, shape.batch,
                                            shape.local_steps);
  const int64_t pay = ledger::PayForFlops(kBait, static_cast<uint64_t>(flops))->value();
  ASSERT_TRUE(WaitUntil([&] { return paid_.Balance("provider:" + net_.agent_id("bait")) >= 0; },
                        seconds(30), milliseconds(200)))
      << net_.Logs();
  EXPECT_EQ(paid_.Balance("provider:" + net_.agent_id("bait")), pay)
      << "paid at the raised price " << kMax << " instead of " << kBait;
}

}  // namespace
}  // namespace plume::itest
