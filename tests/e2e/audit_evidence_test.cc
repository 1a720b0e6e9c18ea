// `plume audit`'s recomputation of dispute/1 verdicts from their evidence blobs
// (cli/src/audit_evidence.h), on hand-made ledger entries and blobs: an honest blob recomputes
// the verdict and says so on the task's line; a verdict its blob contradicts, bytes that are not
// the named blob, or a blob the scheduler will not serve make the "evidence" check a problem,
// which fails the audit (audit_print.cc Verdict).
#include "audit_evidence.h"

#include <gtest/gtest.h>

#include <map>

#include "plume/ledger/verdict.h"
#include "plume/protocol/receipt.h"
#include "plume/verify/dispute.h"
#include "plume/verify/evidence.h"

namespace plume::cli {
namespace {

using namespace plume::ledger;

const Identity kCheat = Identity::Generate();
const Identity kHonestA = Identity::Generate();
const Identity kHonestB = Identity::Generate();
constexpr int64_t kSteps = 8;  // eight links of one step each
const std::string kTask = "job-1/r0/w0";

std::vector<Hash256> Chain(int from) {
  std::vector<Hash256> c;
  for (int i = 0; i < kSteps; ++i) {
    c.push_back(Blake2b256((from >= 0 && i >= from ? "bad-" : "link-") + std::to_string(i)));
  }
  return c;
}

verify::EvidenceRun Signed(const Identity& agent, uint64_t task, const std::string& output,
                           std::vector<Hash256> list) {
  ReceiptFields f;
  f.job_id = "job-1";
  f.task_id = task;
  f.output = Blake2b256(output);
  f.commitment = CommitmentRoot(list);
  auto s = SignReceipt(agent, f);
  return {std::move(list), s->bytes, std::string(s->signature.begin(), s->signature.end())};
}

LoggedEntry Receipted(EntryType type, const std::string& id, const Identity& agent,
                      uint64_t task, const std::string& output, uint64_t index) {
  LoggedEntry l;
  l.index = index;
  l.entry.type = type;
  l.entry.id = id;
  l.entry.job = "job-1";
  TaskReceipt r;
  r.job_id = "job-1";
  r.task_id = std::to_string(task);
  r.agent = agent.public_key();
  r.output_hash = Blake2b256(output);
  l.entry.receipt = r;
  return l;
}

// The cheater's chain parts at link 2; the referee recomputed the honest link 2.
struct World {
  verify::DisputeEvidence evidence;
  VerdictFact fact;
  std::map<Hash256, std::string> blobs;

  World() {
    evidence = {kTask, verify::EvidenceKind::kTrain, kSteps,
                {Signed(kCheat, 10, "junk", Chain(2)), Signed(kHonestA, 11, "good", Chain(-1)),
                 Signed(kHonestB, 12, "state", {Chain(-1)[2]})}};
    fact.task = kTask;
    fact.policy = verify::kDisputePolicy;
    fact.outcome = VerdictOutcome::kOriginalFaulty;
    fact.runs = {{"10", Blake2b256("junk")}, {"11", Blake2b256("good")},
                 {"12", Blake2b256("state")}};
    fact.dispute_link = 2;
    fact.recomputed_ppm = 125'000;
    Store(evidence);
  }
  void Store(const verify::DisputeEvidence& e) {
    const std::vector<uint8_t> bytes = verify::EncodeEvidence(e);
    fact.evidence = verify::EvidenceHash(bytes);
    blobs[*fact.evidence] = std::string(bytes.begin(), bytes.end());
  }
  std::vector<LoggedEntry> Entries() const {
    LoggedEntry verdict;
    verdict.index = 9;
    verdict.entry = MakeVerdict("job-1", fact);
    return {Receipted(EntryType::kSlash, "slash:" + kTask, kCheat, 10, "junk", 5),
            Receipted(EntryType::kSettle, "settle:" + kTask + "/audit", kHonestA, 11, "good", 6),
            Receipted(EntryType::kSettle, "settle:" + kTask + "/referee", kHonestB, 12, "state",
                      7),
            verdict};
  }
  BlobSource Source() const {
    return [this](const Hash256& h) -> Result<std::string> {
      auto it = blobs.find(h);
      if (it == blobs.end()) return Fail("not found or not yours");
      return it->second;
    };
  }
};

TEST(AuditVerdictsEvidence, AnHonestBlobRecomputesTheDisputeVerdict) {
  const World w;
  const auto results = CheckEvidence("job-1", w.Entries(), w.Source());
  ASSERT_EQ(results.size(), 1u);
  const EvidenceResult& r = results.at(kTask);
  EXPECT_TRUE(r.recomputed) << r.problem;
  EXPECT_EQ(EvidenceCheckResult(results).status, CheckStatus::kOk);
  std::vector<TaskVerdict> verdicts = VerdictsOf(w.Entries());
  ASSERT_EQ(verdicts.size(), 1u);
  // From the ledger alone: named, not checked.
  EXPECT_TRUE(verdicts[0].evidence.has_value());
  EXPECT_NE(verdicts[0].how.find("the outcome is the scheduler's word"), std::string::npos);
  ApplyEvidence(verdicts, results);
  EXPECT_TRUE(verdicts[0].recomputed_from_evidence);
  EXPECT_NE(verdicts[0].how.find("dispute recomputed from the ledger and the evidence blob"),
            std::string::npos)
      << verdicts[0].how;
  EXPECT_NE(verdicts[0].how.find("they part at link 2"), std::string::npos) << verdicts[0].how;
  EXPECT_TRUE(verdicts[0].problems.empty());
}

TEST(AuditVerdictsEvidence, AContradictionOrAMissingBlobIsAProblem) {
  auto problem_of = [](const World& w) {
    const auto results = CheckEvidence("job-1", w.Entries(), w.Source());
    EXPECT_EQ(EvidenceCheckResult(results).status, CheckStatus::kProblem);
    return results.at(kTask).problem;
  };
  {  // the verdict convicts the honest auditor; the referee's link says otherwise
    World w;
    w.fact.outcome = VerdictOutcome::kAuditorFaulty;
    EXPECT_NE(problem_of(w).find("give original_faulty"), std::string::npos) << problem_of(w);
  }
  {  // a blob whose referee list was swapped for one nobody signed
    World w;
    verify::DisputeEvidence e = w.evidence;
    e.runs[2].commitments = {Chain(2)[2]};
    w.Store(e);
    EXPECT_NE(problem_of(w).find("the referee run's list"), std::string::npos) << problem_of(w);
  }
  {  // the scheduler serves other bytes under the name
    World w;
    w.blobs[*w.fact.evidence] += "x";
    EXPECT_NE(problem_of(w).find("not the evidence blob"), std::string::npos);
  }
  {  // or none
    World w;
    w.blobs.clear();
    EXPECT_NE(problem_of(w).find("cannot fetch"), std::string::npos);
  }
  {  // a receipt in the blob by another agent than the ledger's receipt of that run
    World w;
    verify::DisputeEvidence e = w.evidence;
    e.runs[1] = Signed(kCheat, 11, "good", Chain(-1));
    w.Store(e);
    EXPECT_NE(problem_of(w).find("signed by"), std::string::npos) << problem_of(w);
  }
  // A job without dispute evidence has nothing to check.
  EXPECT_EQ(EvidenceCheckResult({}).status, CheckStatus::kNotApplicable);
}

// With the spec (--spec), the blob's size is checked too: the steps a scheduler writes decide
// whether a list "has the wrong length", so a size the spec does not give fails the audit.
TEST(AuditVerdictsEvidence, WithTheSpecTheSizeIsCheckedToo) {
  const World w;
  auto how_of = [&](const std::optional<verify::EvidenceSpec>& spec) {
    const auto results = CheckEvidence("job-1", w.Entries(), w.Source(), spec);
    const EvidenceResult& r = results.at(kTask);
    EXPECT_TRUE(r.recomputed) << r.problem;
    return r.how;
  };
  EXPECT_NE(how_of(std::nullopt).find("8 inner steps, is the scheduler's word (--spec checks it)"),
            std::string::npos)
      << how_of(std::nullopt);
  const verify::EvidenceSpec spec{verify::EvidenceKind::kTrain, kSteps, 0, 0};
  EXPECT_NE(how_of(spec).find("8 inner steps, is the spec's"), std::string::npos) << how_of(spec);

  const verify::EvidenceSpec other{verify::EvidenceKind::kTrain, 2 * kSteps, 0, 0};
  const auto results = CheckEvidence("job-1", w.Entries(), w.Source(), other);
  EXPECT_FALSE(results.at(kTask).recomputed);
  EXPECT_NE(results.at(kTask).problem.find("8 inner steps; the spec gives 16"), std::string::npos)
      << results.at(kTask).problem;
  EXPECT_EQ(EvidenceCheckResult(results).status, CheckStatus::kProblem);
}

}  // namespace
}  // namespace plume::cli
