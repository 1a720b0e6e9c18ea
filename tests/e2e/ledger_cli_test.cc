// The plume CLI's ledger commands (balance, ledger verify/history/prove, audit) run as a real
// process over a ledger written through the library the way the scheduler pays for a job:
// operator mint, team-signed escrow hold of the job's maximum cost, agent-signed and
// scheduler-countersigned receipts settled to two providers (a duplicate pays nothing), and the
// rest released. Checks exact integer sums, the verdicts, and that tampering fails verify.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "plume/ledger/amount.h"
#include "plume/ledger/entry.h"
#include "plume/ledger/gov.h"
#include "plume/ledger/ledger.h"
#include "plume/ledger/receipt.h"

namespace plume::ledger {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

struct CliRun {
  int code = -1;
  std::string out;
};

// Runs the CLI with stdout captured (stderr to stdout too, for failure messages).
CliRun Cli(const std::string& args) {
  const std::string cmd = std::string(PLUME_CLI_BIN) + " " + args + " 2>&1";
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class LedgerCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() / ("plume-e2e-ledger-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  TaskReceipt Receipt(const Identity& agent, const std::string& task, uint64_t flops) {
    TaskReceipt r;
    r.job_id = job_;
    r.task_id = task;
    r.attempt = 1;
    r.input_hashes = {Blake2b256("data"), Blake2b256("checkpoint round 0")};
    r.output_hash = Blake2b256("output of " + task);
    r.flops = flops;
    r.device = "cpu";
    r.kernel_build = "test";
    r.start_unix_ms = 1000;
    r.end_unix_ms = 2000;
    r.agent = agent.public_key();
    r.agent_signature = SignAsAgent(r, ledger_id_, agent);
    r.price_micro_plume_per_pflop = price_;
    r.fee_bps = fee_bps_;
    r.scheduler_signature = Countersign(r, ledger_id_, scheduler_);
    return r;
  }

  // Writes the whole payment flow; returns the hold amount.
  int64_t WriteFlow() {
    auto opened = Ledger::Open(dir_ / "ledger", scheduler_, op_.public_key());
    EXPECT_TRUE(opened) << opened.error().message;
    Ledger& l = **opened;
    ledger_id_ = l.keys().ledger_id;
    const std::string team = TeamAccount(team_.public_key());
    const int64_t hold = CostWithFee(price_, 4 * kPflop, fee_bps_)->value();
    std::vector<Entry> batch;
    batch.push_back(MakeOpenAccount("open:team", team));
    batch.back().signatures.push_back(SignEntry(batch.back(), ledger_id_, scheduler_));
    batch.push_back(MakeMint("mint:1", team, MicroPlume(100'000'000)));
    batch.back().signatures.push_back(SignEntry(batch.back(), ledger_id_, op_));
    for (const Identity* a : {&agent_a_, &agent_b_}) {
      batch.push_back(
          MakeOpenAccount("open:" + a->Id().substr(0, 16), ProviderAccount(a->public_key())));
      batch.back().signatures.push_back(SignEntry(batch.back(), ledger_id_, scheduler_));
    }
    batch.push_back(MakeEscrowHold("hold:" + job_, team, job_, MicroPlume(hold)));
    batch.back().signatures.push_back(SignEntry(batch.back(), ledger_id_, team_));
    batch.push_back(MakeSettle("settle:t0", Receipt(agent_a_, "t0", kPflop)));
    batch.back().signatures.push_back(SignEntry(batch.back(), ledger_id_, scheduler_));
    batch.push_back(MakeSettle("settle:t1", Receipt(agent_b_, "t1", 2 * kPflop)));
    batch.back().signatures.push_back(SignEntry(batch.back(), ledger_id_, scheduler_));
    // The same task again under a new entry id (a retried result): pays nothing.
    batch.push_back(MakeSettle("settle:t1-again", Receipt(agent_b_, "t1", 2 * kPflop)));
    batch.back().signatures.push_back(SignEntry(batch.back(), ledger_id_, scheduler_));
    batch.push_back(MakeRelease("release:" + job_, job_, team));
    batch.back().signatures.push_back(SignEntry(batch.back(), ledger_id_, scheduler_));
    auto answers = l.Append(batch);
    EXPECT_TRUE(answers);
    for (size_t i = 0; i < answers->size(); ++i) {
      const Code want = batch[i].id == "settle:t1-again" ? Code::kDuplicateReceipt : Code::kOk;
      EXPECT_EQ((*answers)[i].code, want) << batch[i].id << ": " << CodeName((*answers)[i].code);
    }
    return hold;
  }

  static constexpr uint64_t kPflop = kFlopsPerPflop;
  fs::path dir_;
  Identity scheduler_ = Identity::Generate();
  Identity op_ = Identity::Generate();
  LedgerId ledger_id_{};  // of the ledger WriteFlow creates
  Identity team_ = Identity::Generate();
  Identity agent_a_ = Identity::Generate();
  Identity agent_b_ = Identity::Generate();
  std::string job_ = "job-0123456789abcdef";
  uint64_t price_ = 2'000'000;  // 2 PLUME per PFLOP
  uint32_t fee_bps_ = 500;      // 5 %
};

TEST_F(LedgerCliTest, AuditVerifiesAndTheHoldAddsUpExactly) {
  const int64_t hold = WriteFlow();
  const std::string ledger = (dir_ / "ledger").string();
  const std::string flags = " --ledger-dir " + ledger + " --json";

  CliRun audit = Cli("audit " + job_ + flags + " --ledger-id " + scheduler_.Id());
  ASSERT_EQ(audit.code, 0) << audit.out;
  const json a = json::parse(audit.out);
  EXPECT_TRUE(a["ok"].get<bool>());
  const int64_t paid_a = PayForFlops(price_, kPflop)->value();
  const int64_t paid_b = PayForFlops(price_, 2 * kPflop)->value();
  const int64_t fees =
      FeeFor(MicroPlume(paid_a), fee_bps_).value() + FeeFor(MicroPlume(paid_b), fee_bps_).value();
  EXPECT_EQ(a["hold"]["held"].get<int64_t>(), hold);
  EXPECT_EQ(a["hold"]["paid"].get<int64_t>(), paid_a + paid_b);  // the duplicate paid nothing
  EXPECT_EQ(a["hold"]["fees"].get<int64_t>(), fees);
  EXPECT_EQ(hold, paid_a + paid_b + fees + a["hold"]["released"].get<int64_t>());
  EXPECT_TRUE(a["hold"]["closed"].get<bool>());

  CliRun bal = Cli("balance provider:" + agent_b_.Id() + flags);
  ASSERT_EQ(bal.code, 0) << bal.out;
  EXPECT_EQ(json::parse(bal.out)["balance_micro_plume"].get<int64_t>(), paid_b);
  bal = Cli("balance treasury" + flags);
  EXPECT_EQ(json::parse(bal.out)["balance_micro_plume"].get<int64_t>(), fees);
  bal = Cli("balance " + team_.Id() + flags);  // a bare key is the team's account
  EXPECT_EQ(json::parse(bal.out)["balance_micro_plume"].get<int64_t>(),
            100'000'000 - paid_a - paid_b - fees);

  CliRun hist = Cli("ledger history --account team:" + team_.Id() + flags);
  ASSERT_EQ(hist.code, 0) << hist.out;
  EXPECT_EQ(json::parse(hist.out).size(), 4u);  // open, mint, hold, release

  CliRun verify = Cli("ledger verify " + ledger);
  EXPECT_EQ(verify.code, 0) << verify.out;
  EXPECT_NE(verify.out.find("VERIFIED"), std::string::npos) << verify.out;

  CliRun prove =
      Cli("ledger prove settle:t0 --ledger-dir " + ledger + " --ledger-id " + scheduler_.Id());
  EXPECT_EQ(prove.code, 0) << prove.out;
  EXPECT_NE(prove.out.find("PROVEN"), std::string::npos) << prove.out;
  // Against a key the heads are not signed with, the same proof is refused.
  prove = Cli("ledger prove settle:t0 --ledger-dir " + ledger + " --ledger-id " + op_.Id());
  EXPECT_EQ(prove.code, 1) << prove.out;
  CliRun audit_wrong_key = Cli("audit " + job_ + flags + " --ledger-id " + op_.Id());
  EXPECT_EQ(audit_wrong_key.code, 1) << audit_wrong_key.out;
}

TEST_F(LedgerCliTest, VerifyFailsOnATamperedCopy) {
  WriteFlow();
  const fs::path copy = dir_ / "copy";
  fs::create_directories(copy);
  fs::copy_file(dir_ / "ledger" / "ledger.log", copy / "ledger.log");
  const auto size = fs::file_size(copy / "ledger.log");
  {
    std::fstream f(copy / "ledger.log", std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(size / 2));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(size / 2));
    c = static_cast<char>(c ^ 0x01);
    f.write(&c, 1);
  }
  CliRun verify = Cli("ledger verify " + copy.string());
  EXPECT_EQ(verify.code, 1) << verify.out;
  EXPECT_NE(verify.out.find("FAILED"), std::string::npos) << verify.out;
  CliRun missing = Cli("ledger verify " + (dir_ / "nowhere").string());
  EXPECT_EQ(missing.code, 2) << missing.out;
}

// `plume ledger verify` recounts every governance tally from the entries: a truthful outcome
// verifies; an outcome the ledger key signed but the votes do not support (a scheduler that
// lied) fails verify, naming the entry, although the ledger's own rules accepted it.
TEST_F(LedgerCliTest, VerifyRecountsGovernanceTallies) {
  WriteFlow();
  auto opened = Ledger::Open(dir_ / "ledger", scheduler_, op_.public_key());
  ASSERT_TRUE(opened) << opened.error().message;
  const std::string team = TeamAccount(team_.public_key());
  ProposalBody body;
  body.param = "fee_bps";
  body.value = 300;
  body.voting_end_ms = 2000;
  body.timelock_ms = 1000;
  body.quorum_ppm = 334'000;
  body.threshold_ppm = 500'000;
  body.veto_ppm = 334'000;
  const auto signed_by = [&](Entry e, std::vector<const Identity*> keys) {
    for (const Identity* k : keys) e.signatures.push_back(SignEntry(e, ledger_id_, *k));
    return e;
  };
  const auto outcome = [&](const std::string& p, OutcomeResult r, int64_t yes) {
    OutcomeBody o{p, MicroPlume(yes), {}, {}, {}, MicroPlume(1'000'000), 1, r};
    return signed_by(MakeOutcome(MicroPlume(1'000'000), team, 2000, o), {&scheduler_});
  };
  std::vector<Entry> batch;
  batch.push_back(signed_by(MakeStake("stake:a", agent_a_.public_key(), MicroPlume(1'000'000)),
                            {&agent_a_}));
  for (const std::string p : {"p1", "p2"}) {
    batch.push_back(signed_by(MakeProposal(p, team, MicroPlume(1'000'000), 1000, body),
                              {&team_, &scheduler_}));
    batch.push_back(signed_by(MakeVote("vote:" + p, agent_a_.public_key(), 1500,
                                       VoteBody{p, VoteOption::kYes}),
                              {&agent_a_, &scheduler_}));
  }
  batch.push_back(outcome("p1", OutcomeResult::kPassed, 1'000'000));
  auto answers = (*opened)->Append(batch);
  ASSERT_TRUE(answers);
  for (const ApplyResult& a : *answers) ASSERT_EQ(a.code, Code::kOk) << CodeName(a.code);
  const std::string ledger = (dir_ / "ledger").string();
  CliRun ok = Cli("ledger verify " + ledger);
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(ok.out.find("2 proposals, 2 votes, 1 outcomes recounted"), std::string::npos) << ok.out;
  // The ledger takes a rejected outcome of p2 (its rules do not tally); the recount does not.
  const Entry lie = outcome("p2", OutcomeResult::kRejected, 0);
  auto appended = (*opened)->Append(std::span<const Entry>(&lie, 1));
  ASSERT_TRUE(appended);
  ASSERT_EQ(appended->at(0).code, Code::kOk);
  opened->reset();
  CliRun bad = Cli("ledger verify " + ledger);
  EXPECT_EQ(bad.code, 1) << bad.out;
  EXPECT_NE(bad.out.find("gov-outcome-p2"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("FAILED"), std::string::npos) << bad.out;
}

TEST_F(LedgerCliTest, NoLedgerDirIsABadInputWithAHint) {
  CliRun r = Cli("balance treasury");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--ledger-dir"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace plume::ledger
