// `plume audit`'s verification verdicts (cli/src/audit_verdicts.h) from hand-made ledger entries:
// each verdict is recomputed from the receipts' outputs where the ledger has the runs, the slash
// memo's figures are read as the scheduler's word, and a slash of the run the others agree with
// is reported as a problem.
#include "audit_verdicts.h"

#include <gtest/gtest.h>

#include "plume/ledger/verdict.h"

namespace plume::cli {
namespace {

using namespace plume::ledger;

const Identity kHonestA = Identity::Generate();
const Identity kHonestB = Identity::Generate();
const Identity kCheat = Identity::Generate();

LoggedEntry Run(EntryType type, const std::string& id, const Identity& agent,
                const std::string& output) {
  static uint64_t index = 0;
  LoggedEntry l;
  l.index = index++;
  l.entry.type = type;
  l.entry.id = id;
  l.entry.job = "job-1";
  TaskReceipt r;
  r.job_id = "job-1";
  r.agent = agent.public_key();
  r.output_hash = Blake2b256(output);
  l.entry.receipt = r;
  return l;
}
LoggedEntry Settle(const std::string& run, const Identity& agent, const std::string& output,
                   uint64_t flops = 0) {
  LoggedEntry l = Run(EntryType::kSettle, "settle:" + run, agent, output);
  l.entry.receipt->flops = flops;
  l.entry.receipt->task_id = "wire-" + run;
  return l;
}
// A faulty run nobody paid, recorded for its verdict ("receipt:<run>", moves nothing).
LoggedEntry Recorded(const std::string& run, const Identity& agent, const std::string& output) {
  LoggedEntry l = Run(EntryType::kTaskReceipt, "receipt:" + run, agent, output);
  l.entry.receipt->task_id = "wire-" + run;
  return l;
}
// The scheduler's verdict on `task`: outcome, and the runs (role suffix, output) it names.
LoggedEntry VerdictEntry(const std::string& task, VerdictOutcome outcome,
                         const std::vector<std::pair<std::string, std::string>>& runs) {
  VerdictFact f;
  f.task = task;
  f.policy = "audit/1";
  f.outcome = outcome;
  for (const auto& [suffix, output] : runs) {
    f.runs.push_back({"wire-" + task + suffix, Blake2b256(output)});
  }
  LoggedEntry l;
  static uint64_t index = 1000;
  l.index = index++;
  l.entry = MakeVerdict("job-1", f);
  return l;
}
LoggedEntry Slash(const std::string& run, const Identity& agent, const std::string& output,
                  const std::string& memo) {
  LoggedEntry l = Run(EntryType::kSlash, "slash:" + run, agent, output);
  l.entry.amount = MicroPlume(100);
  l.entry.legs = {{LegKind::kClawback, "team:x", MicroPlume(60)},
                  {LegKind::kFinder, "provider:y", MicroPlume(10)},
                  {LegKind::kTreasury, "treasury", MicroPlume(30)}};
  l.entry.memo = memo;
  return l;
}

TEST(AuditVerdicts, EachVerdictFollowsFromTheRunsTheLedgerHolds) {
  const std::vector<LoggedEntry> entries = {
      Settle("job-1/r0/w0", kHonestA, "good0"),                    // accepted
      Settle("job-1/r0/w1", kHonestA, "good1"),                    // audited, matched
      Settle("job-1/r0/w1/audit", kHonestB, "good1"),
      Settle("job-1/r0/w2/audit", kHonestA, "good2"),              // cheat convicted, slashed
      Settle("job-1/r0/w2/referee", kHonestB, "good2"),
      Slash("job-1/r0/w2", kCheat, "bad2",
            "audit/1 slash/1 task job-1/r0/w2 attempt 1 outputs a b c p_ppm 1000000 pay 42"),
      Settle("job-1/r0/w3/audit", kHonestA, "good3"),              // convicted, nothing staked
      Settle("job-1/r0/w3/referee", kHonestB, "good3"),
      Settle("job-1/r0/w4", kHonestA, "x"),                        // three different outputs
      Settle("job-1/r0/w4/audit", kHonestB, "y"),
      Settle("job-1/r0/w4/referee", kCheat, "z"),
  };
  const std::vector<TaskVerdict> v = VerdictsOf(entries);
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v[0].verdict, "accepted");
  EXPECT_EQ(v[1].verdict, "audited: matched");
  EXPECT_TRUE(v[1].recomputed);
  EXPECT_EQ(v[2].verdict, "disputed: proven faulty");
  EXPECT_EQ(v[2].faulty, ToHex(kCheat.public_key()));
  EXPECT_TRUE(v[2].recomputed) << v[2].how;
  EXPECT_TRUE(v[2].problems.empty());
  EXPECT_EQ(v[2].slashed, 100);
  EXPECT_EQ(v[2].clawback, 60);
  EXPECT_EQ(v[2].finder, 10);
  EXPECT_EQ(v[2].treasury, 30);
  EXPECT_EQ(v[2].audit_rate_ppm, 1'000'000u);
  EXPECT_EQ(v[2].pay_micro_plume, 42);
  EXPECT_FALSE(v[2].dispute_link.has_value()) << "a full referee: no segment";
  ASSERT_EQ(v[2].runs.size(), 3u);
  EXPECT_EQ(v[2].runs[0].role, "original");
  EXPECT_TRUE(v[2].runs[0].slashed);
  EXPECT_FALSE(v[2].runs[0].settled);
  EXPECT_EQ(v[3].verdict, "disputed: proven faulty");
  EXPECT_TRUE(v[3].faulty.empty()) << "the ledger does not name an unslashed, unpaid run";
  EXPECT_NE(v[3].how.find("scheduler's word"), std::string::npos) << v[3].how;
  EXPECT_EQ(v[4].verdict, "disputed: undecided");
  for (const TaskVerdict& t : v) EXPECT_TRUE(t.problems.empty()) << t.task;
}

TEST(AuditVerdicts, ASlashOfTheRunTheOthersAgreeWithIsAProblem) {
  const std::vector<LoggedEntry> entries = {
      Settle("job-1/r0/w0/audit", kCheat, "bad"),
      Settle("job-1/r0/w0/referee", kHonestB, "good"),
      Slash("job-1/r0/w0", kHonestA, "good", "audit/1 slash/1 p_ppm x pay 7"),
  };
  const std::vector<TaskVerdict> v = VerdictsOf(entries);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].faulty, ToHex(kCheat.public_key()));
  ASSERT_EQ(v[0].problems.size(), 1u);
  EXPECT_NE(v[0].problems[0].find("odd one out"), std::string::npos) << v[0].problems[0];
  EXPECT_FALSE(v[0].audit_rate_ppm.has_value()) << "a malformed figure is left out";
  EXPECT_EQ(v[0].pay_micro_plume, 7);
}

TEST(AuditVerdicts, ASegmentDisputeIsNotDecidedByComparingOutputs) {
  // The referee recomputed one segment of eight: its output is the state after it, unlike the
  // other two, and its receipt bills an eighth of the FLOPs.
  LoggedEntry cheat = Slash("job-1/r0/w0", kCheat, "bad", "p_ppm 1000000 pay 9 dispute_link 2 "
                            "recomputed 0.125");
  cheat.entry.receipt->flops = 800;
  const std::vector<TaskVerdict> staked = VerdictsOf({
      cheat,
      Settle("job-1/r0/w0/audit", kHonestA, "good", 800),
      Settle("job-1/r0/w0/referee", kHonestB, "segment end", 100),
  });
  ASSERT_EQ(staked.size(), 1u);
  EXPECT_EQ(staked[0].verdict, "disputed: proven faulty");
  EXPECT_EQ(staked[0].faulty, ToHex(kCheat.public_key()));
  EXPECT_FALSE(staked[0].recomputed);
  EXPECT_TRUE(staked[0].problems.empty()) << staked[0].problems[0];
  EXPECT_DOUBLE_EQ(staked[0].segment_share.value_or(0), 0.125);
  EXPECT_EQ(staked[0].dispute_link, 2);
  // Nothing staked: no slash, no memo; the FLOPs alone show a segment was recomputed.
  const std::vector<TaskVerdict> unstaked = VerdictsOf({
      Settle("job-1/r0/w1/audit", kHonestA, "good", 800),
      Settle("job-1/r0/w1/referee", kHonestB, "segment end", 100),
  });
  ASSERT_EQ(unstaked.size(), 1u);
  EXPECT_EQ(unstaked[0].verdict, "disputed: proven faulty");
  EXPECT_TRUE(unstaked[0].faulty.empty());
  EXPECT_DOUBLE_EQ(unstaked[0].segment_share.value_or(0), 0.125);
  EXPECT_NE(unstaked[0].how.find("nothing staked"), std::string::npos) << unstaked[0].how;
}

TEST(AuditVerdicts, VerdictEntriesAreRecomputedFromTheirRunsReceipts) {
  using O = VerdictOutcome;
  const std::vector<LoggedEntry> entries = {
      // Matched: both runs paid.
      Settle("job-1/r0/w0", kHonestA, "good0"), Settle("job-1/r0/w0/audit", kHonestB, "good0"),
      VerdictEntry("job-1/r0/w0", O::kMatched, {{"", "good0"}, {"/audit", "good0"}}),
      // Convicted with nothing staked: the unpaid run's receipt is recorded, so all three are.
      Recorded("job-1/r0/w1", kCheat, "bad1"), Settle("job-1/r0/w1/audit", kHonestA, "good1"),
      Settle("job-1/r0/w1/referee", kHonestB, "good1"),
      VerdictEntry("job-1/r0/w1", O::kOriginalFaulty,
                   {{"", "bad1"}, {"/audit", "good1"}, {"/referee", "good1"}}),
      // No referee could be found: undecided, both paid.
      Settle("job-1/r0/w2", kHonestA, "x"), Settle("job-1/r0/w2/audit", kHonestB, "y"),
      VerdictEntry("job-1/r0/w2", O::kUndecided, {{"", "x"}, {"/audit", "y"}}),
  };
  const std::vector<TaskVerdict> v = VerdictsOf(entries);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].verdict, "audited: matched");
  EXPECT_EQ(v[1].verdict, "disputed: proven faulty");
  EXPECT_EQ(v[1].faulty, ToHex(kCheat.public_key())) << "the recorded receipt names it";
  ASSERT_EQ(v[1].runs.size(), 3u);
  EXPECT_TRUE(v[1].runs[0].recorded);
  EXPECT_FALSE(v[1].runs[0].settled);
  EXPECT_EQ(v[2].verdict, "disputed: undecided");
  for (const TaskVerdict& t : v) {
    EXPECT_TRUE(t.recomputed) << t.task << ": " << t.how;
    EXPECT_TRUE(t.verdict_entry.has_value()) << t.task;
    EXPECT_TRUE(t.problems.empty()) << t.task << ": " << t.problems.front();
  }
}

TEST(AuditVerdicts, AVerdictEntryTheReceiptsContradictIsAProblem) {
  using O = VerdictOutcome;
  const auto problems = [](const std::vector<LoggedEntry>& entries) {
    const std::vector<TaskVerdict> v = VerdictsOf(entries);
    EXPECT_EQ(v.size(), 1u);
    return v.empty() ? std::vector<std::string>{} : v[0].problems;
  };
  const auto has = [](const std::vector<std::string>& p, const std::string& what) {
    for (const std::string& s : p) {
      if (s.find(what) != std::string::npos) return true;
    }
    return false;
  };
  // "Matched", but the receipts differ.
  auto p = problems({Settle("job-1/r0/w0", kHonestA, "a"), Settle("job-1/r0/w0/audit", kHonestB, "b"),
                     VerdictEntry("job-1/r0/w0", O::kMatched, {{"", "a"}, {"/audit", "a"}})});
  EXPECT_TRUE(has(p, "audit run's output in the verdict")) << (p.empty() ? "" : p[0]);
  // The verdict's hashes are the receipts', but the outcome is not what they give.
  p = problems({Settle("job-1/r0/w0/audit", kHonestA, "good"),
                Settle("job-1/r0/w0/referee", kHonestB, "good"), Recorded("job-1/r0/w0", kCheat, "bad"),
                VerdictEntry("job-1/r0/w0", O::kAuditorFaulty,
                             {{"", "bad"}, {"/audit", "good"}, {"/referee", "good"}})});
  EXPECT_TRUE(has(p, "give original_faulty")) << (p.empty() ? "" : p[0]);
  // The convicted run was paid and nothing clawed it back.
  p = problems({Settle("job-1/r0/w0", kCheat, "bad"), Settle("job-1/r0/w0/audit", kHonestA, "good"),
                Settle("job-1/r0/w0/referee", kHonestB, "good"),
                VerdictEntry("job-1/r0/w0", O::kOriginalFaulty,
                             {{"", "bad"}, {"/audit", "good"}, {"/referee", "good"}})});
  EXPECT_TRUE(has(p, "paid and not clawed back")) << (p.empty() ? "" : p[0]);
  // A slash of a run the verdict does not convict.
  p = problems({Settle("job-1/r0/w0", kHonestA, "good"), Settle("job-1/r0/w0/audit", kHonestB, "good"),
                Slash("job-1/r0/w0/audit", kHonestB, "good", "pay 1"),
                VerdictEntry("job-1/r0/w0", O::kMatched, {{"", "good"}, {"/audit", "good"}})});
  EXPECT_TRUE(has(p, "was slashed, but the verdict convicts nobody")) << (p.empty() ? "" : p[0]);
  // A verdict naming a run that is not the receipt the ledger holds for that role.
  LoggedEntry other = VerdictEntry("job-1/r0/w0", O::kMatched, {{"", "good"}, {"/audit", "good"}});
  auto f = DecodeVerdict(other.entry.body);
  f->runs[1].task = "someone-else";
  other.entry.body = EncodeVerdict(*f);
  p = problems({Settle("job-1/r0/w0", kHonestA, "good"), Settle("job-1/r0/w0/audit", kHonestB, "good"),
                other});
  EXPECT_TRUE(has(p, "names task someone-else")) << (p.empty() ? "" : p[0]);
}

}  // namespace
}  // namespace plume::cli
