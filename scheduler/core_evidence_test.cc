// Dispute evidence in the scheduler core (core_evidence.cc, core_verdict.cc): a dispute/1
// verdict names, in its ledger request, the hash of the evidence blob built from the runs it was
// decided on (both lists, the referee's recomputed commitments, each run's signed receipt), the
// blob's content is those lists, the pure check recomputes the verdict from it, only the job's
// owner may read it, and the store keeps all a restart needs to rebuild the same bytes.
#include <gtest/gtest.h>

#include <filesystem>

#include "core_test_util.h"
#include "plume/protocol/receipt.h"
#include "plume/scheduler/blob_access.h"
#include "plume/scheduler/dispute_evidence.h"
#include "plume/scheduler/store.h"
#include "plume/verify/dispute.h"
#include "verdict_memo.h"

namespace plume::scheduler {
namespace {

using testing::Agent;
using testing::Blob;
using testing::Harness;
using testing::InferSpec;
using testing::Only;
using testing::TrainSpec;

std::vector<std::string> Hex(size_t n, const std::string& seed, int differ_from = -1) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    const bool bad = differ_from >= 0 && static_cast<int>(i) >= differ_from;
    out.push_back(ToHex(Blake2b256((bad ? "bad-" : seed) + std::to_string(i))));
  }
  return out;
}

std::vector<Hash256> Digests(const std::vector<std::string>& hex) {
  std::vector<Hash256> out;
  for (const std::string& h : hex) out.push_back(*HashFromHex(h));
  return out;
}

// A result with its commitments and a (made-up) receipt: the core keeps the bytes, it never
// checks them (the reactor did).
TaskSucceeded Result(const SendTaskAssign& a, const std::string& output,
                     std::vector<std::string> list) {
  TaskSucceeded e{a.task, a.attempt, a.node, Blob(output), TaskMetrics{1.0, 10, 10}};
  e.commitments = std::move(list);
  e.receipt = "receipt of " + a.task + " by " + a.node;
  e.receipt_signature = std::string(64, static_cast<char>(a.node[0]));
  return e;
}

std::optional<ledger::VerdictFact> VerdictRequest(const Harness& h) {
  for (const LedgerOp& op : h.ledger) {
    if (op.kind == LedgerOpKind::kVerdict) return ParseVerdictMemo(op.memo);
  }
  return std::nullopt;
}

// The roots honest receipts would sign for the evidence's lists.
std::vector<std::optional<Hash256>> Roots(const verify::DisputeEvidence& e) {
  std::vector<std::optional<Hash256>> out;
  for (const verify::EvidenceRun& r : e.runs) out.push_back(CommitmentRoot(r.commitments));
  return out;
}

TEST(CoreEvidence, ATrainingDisputeVerdictNamesTheEvidenceItWasDecidedOn) {
  Harness h{Config{}};
  h.Do(AgentRegistered{Agent("cheat")});
  auto original = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", TrainSpec(1, 1)})).at(0);
  h.Do(AgentRegistered{Agent("b")});
  const auto honest = Hex(10, "link-"), cheat = Hex(10, "link-", 3);
  auto audit = Only<SendTaskAssign>(h.Do(Result(original, "junk", cheat))).at(0);
  h.Do(AgentRegistered{Agent("c", 200)});
  auto exp = Only<SendTaskAssign>(h.Do(Result(audit, "honest", honest))).at(0);
  auto referee = Only<SendTaskAssign>(h.Do(TaskSucceeded{exp.task, exp.attempt, exp.node,
                                                         Blob("state-2"), TaskMetrics{}}))
                     .at(0);
  h.Do(Result(referee, "link", {honest[3]}));
  ASSERT_EQ(h.TaskAt("j/r0/w0").audit, AuditStatus::kOriginalFaulty);

  const Verdict& v = h.core.state().verdicts.at("j/r0/w0");
  ASSERT_FALSE(v.evidence_blob.empty());
  auto e = DisputeEvidenceOf(h.core.state(), "j/r0/w0");
  ASSERT_TRUE(e.has_value());
  const std::vector<uint8_t> bytes = verify::EncodeEvidence(*e);
  EXPECT_EQ(ToHex(verify::EvidenceHash(bytes)), v.evidence_blob);
  EXPECT_EQ(e->task, "j/r0/w0");
  EXPECT_EQ(e->kind, verify::EvidenceKind::kTrain);
  EXPECT_EQ(e->size, 10u);
  ASSERT_EQ(e->runs.size(), 3u);
  EXPECT_EQ(e->runs[0].commitments, Digests(cheat));
  EXPECT_EQ(e->runs[1].commitments, Digests(honest));
  EXPECT_EQ(e->runs[2].commitments, Digests({honest[3]}));
  EXPECT_EQ(e->runs[0].receipt, "receipt of j/r0/w0 by cheat");
  EXPECT_EQ(e->runs[2].receipt, "receipt of j/r0/w0/referee by c");
  EXPECT_EQ(e->runs[1].receipt_signature, std::string(64, 'b'));

  // The request the ledger gets names the same hash, and the pure check recomputes it.
  auto f = VerdictRequest(h);
  ASSERT_TRUE(f.has_value());
  ASSERT_TRUE(f->evidence.has_value());
  EXPECT_EQ(ToHex(*f->evidence), v.evidence_blob);
  EXPECT_EQ(f->dispute_link, 3);
  const auto roots = Roots(*e);
  EXPECT_EQ(verify::DisputeEvidenceProblem(*f, *e, roots), "");
  ledger::VerdictFact lie = *f;
  lie.outcome = ledger::VerdictOutcome::kAuditorFaulty;
  EXPECT_NE(verify::DisputeEvidenceProblem(lie, *e, roots), "");

  // Only the job's owner may fetch it (through the index the reactor keeps per saved turn).
  BlobJobIndex index;
  index.Note(h.core.state(), h.core.TakeDirty());
  EXPECT_TRUE(MayReadBlob(h.core.state(), index, {}, "alice", v.evidence_blob));
  EXPECT_FALSE(MayReadBlob(h.core.state(), index, {}, "mallory", v.evidence_blob));
  EXPECT_FALSE(MayReadBlob(h.core.state(), index, {}, "cheat", v.evidence_blob));
}

TEST(CoreEvidence, AnInferenceDisputeVerdictNamesTheEvidenceAndARestartRebuildsIt) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("plume-evidence-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto store = Store::Open(dir / "s.db", Sync::kNormal);
  ASSERT_TRUE(store);
  Harness h{Config{}};
  h.Do(AgentRegistered{Agent("x")});
  auto original = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(8, 1)})).at(0);
  h.Do(AgentRegistered{Agent("y")});
  const auto good = Hex(8, "ok-");
  auto bad = good;
  bad[5] = ToHex(Blake2b256("junk"));
  auto audit = Only<SendTaskAssign>(h.Do(Result(original, "x-out", good))).at(0);
  h.Do(AgentRegistered{Agent("c", 200)});
  auto referee = Only<SendTaskAssign>(h.Do(Result(audit, "y-out", bad))).at(0);
  h.Do(Result(referee, "r-out", {good[5]}));
  ASSERT_EQ(h.TaskAt("j/s0").audit, AuditStatus::kAuditorFaulty);
  const Verdict& v = h.core.state().verdicts.at("j/s0");
  ASSERT_FALSE(v.evidence_blob.empty());
  auto e = DisputeEvidenceOf(h.core.state(), "j/s0");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, verify::EvidenceKind::kInfer);
  EXPECT_EQ(e->size, 8u);
  EXPECT_EQ(e->runs.at(2).commitments, Digests({good[5]}));
  auto f = VerdictRequest(h);
  ASSERT_TRUE(f && f->evidence);
  EXPECT_EQ(f->dispute_link, 5);
  EXPECT_EQ(verify::DisputeEvidenceProblem(*f, *e, Roots(*e)), "");

  // Saved and loaded, the state rebuilds the very bytes the verdict's hash names.
  ASSERT_TRUE(store->Save(h.core.TakeDirty()));
  auto loaded = store->Load();
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->verdicts.at("j/s0").evidence_blob, v.evidence_blob);
  EXPECT_EQ(loaded->tasks.at("j/s0/audit").receipt, h.TaskAt("j/s0/audit").receipt);
  auto again = DisputeEvidenceOf(*loaded, "j/s0");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(ToHex(verify::EvidenceHash(verify::EncodeEvidence(*again))), v.evidence_blob);
  std::filesystem::remove_all(dir);
}

TEST(CoreEvidence, AnAuditDecidedOnOutputsNamesNoEvidence) {
  Harness h{Config{}};
  h.Do(AgentRegistered{Agent("a")});
  auto original = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", TrainSpec(1, 1)})).at(0);
  h.Do(AgentRegistered{Agent("b")});
  // No chains: the full referee decides by majority (audit/1), which the ledger alone checks.
  auto audit = Only<SendTaskAssign>(h.Do(TaskSucceeded{original.task, original.attempt,
                                                       original.node, Blob("junk"),
                                                       TaskMetrics{}})).at(0);
  h.Do(AgentRegistered{Agent("c", 200)});
  auto referee = Only<SendTaskAssign>(h.Do(TaskSucceeded{audit.task, audit.attempt, audit.node,
                                                         Blob("honest"), TaskMetrics{}})).at(0);
  h.Do(TaskSucceeded{referee.task, referee.attempt, referee.node, Blob("honest"),
                     TaskMetrics{}});
  const Verdict& v = h.core.state().verdicts.at("j/r0/w0");
  EXPECT_EQ(v.policy, verify::kAuditPolicy);
  EXPECT_TRUE(v.evidence_blob.empty());
  EXPECT_FALSE(DisputeEvidenceOf(h.core.state(), "j/r0/w0").has_value());
  auto f = VerdictRequest(h);
  ASSERT_TRUE(f.has_value());
  EXPECT_FALSE(f->evidence.has_value());
}

}  // namespace
}  // namespace plume::scheduler
