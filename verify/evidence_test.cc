// Dispute evidence (evidence.h): an honest blob recomputes its verdict, and each piece a
// scheduler could bend (a link, a list, the outcome, the link index, the referee's commitments,
// a receipt) is caught with a reason that names it.
#include "plume/verify/evidence.h"

#include <gtest/gtest.h>

#include "plume/protocol/receipt.h"
#include "plume/verify/dispute.h"

namespace plume::verify {
namespace {

using ledger::VerdictOutcome;
using Roots = std::vector<std::optional<Hash256>>;

constexpr int64_t kSteps = 64;
const std::string kJob = "job-1";

Hash256 H(const std::string& s) { return Blake2b256(s); }

std::vector<Hash256> Chain(const std::string& seed, size_t n) {
  std::vector<Hash256> out;
  for (size_t i = 0; i < n; ++i) out.push_back(H(seed + std::to_string(i)));
  return out;
}

// A run's receipt, signed by `agent`, committing to `list`.
EvidenceRun SignedRun(const Identity& agent, uint64_t task, const Hash256& output,
                std::vector<Hash256> list) {
  ReceiptFields f;
  f.job_id = kJob;
  f.task_id = task;
  f.attempt = 1;
  f.output = output;
  f.commitment = CommitmentRoot(list);
  auto s = SignReceipt(agent, f);
  EXPECT_TRUE(s.has_value());
  return EvidenceRun{std::move(list), s->bytes,
                     std::string(s->signature.begin(), s->signature.end())};
}

struct Case {
  ledger::VerdictFact fact;
  DisputeEvidence evidence;
  std::vector<std::optional<PublicKey>> agents;
};

// Training: the chains part at link 5; the referee's link is the audit's, so the original is
// faulty, and the referee recomputed one link's share of the steps.
Case Train() {
  static const Identity a = Identity::Generate(), b = Identity::Generate(),
                        c = Identity::Generate();
  const size_t links = static_cast<size_t>(CommitmentLinks(kSteps));
  std::vector<Hash256> orig = Chain("honest", links), audit = orig;
  for (size_t i = 5; i < links; ++i) orig[i] = H("faulty" + std::to_string(i));
  Case c_;
  c_.evidence = {"job-1/r0/w0", EvidenceKind::kTrain, kSteps,
                 {SignedRun(a, 10, H("out A"), orig), SignedRun(b, 11, H("out B"), audit),
                  SignedRun(c, 12, H("state 5"), {audit[5]})}};
  c_.fact.task = "job-1/r0/w0";
  c_.fact.policy = kDisputePolicy;
  c_.fact.outcome = VerdictOutcome::kOriginalFaulty;
  c_.fact.runs = {{"10", H("out A")}, {"11", H("out B")}, {"12", H("state 5")}};
  c_.fact.dispute_link = 5;
  const Segment seg = LinkSegment(kSteps, 5);
  c_.fact.recomputed_ppm =
      static_cast<uint32_t>(static_cast<double>(seg.steps()) / kSteps * 1'000'000.0 + 0.5);
  c_.agents = {a.public_key(), b.public_key(), c.public_key()};
  return c_;
}

// Inference: 10 prompts, the lists differ at positions 2 and 7; the referee regenerated those
// two and matches the original, so the audit run is faulty.
Case Infer() {
  static const Identity a = Identity::Generate(), b = Identity::Generate(),
                        c = Identity::Generate();
  std::vector<Hash256> orig = Chain("completion", 10), audit = orig;
  audit[2] = H("bad 2");
  audit[7] = H("bad 7");
  Case c_;
  c_.evidence = {"job-1/s3", EvidenceKind::kInfer, 10,
                 {SignedRun(a, 20, H("jsonl A"), orig), SignedRun(b, 21, H("jsonl B"), audit),
                  SignedRun(c, 22, H("jsonl R"), {orig[2], orig[7]})}};
  c_.fact.task = "job-1/s3";
  c_.fact.policy = kDisputePolicy;
  c_.fact.outcome = VerdictOutcome::kAuditorFaulty;
  c_.fact.runs = {{"20", H("jsonl A")}, {"21", H("jsonl B")}, {"22", H("jsonl R")}};
  c_.fact.dispute_link = 2;
  c_.fact.recomputed_ppm = 200'000;
  c_.agents = {a.public_key(), b.public_key(), c.public_key()};
  return c_;
}

// The whole third-party check: receipts first, then the lists.
std::string Problem(const Case& c) {
  const EvidenceRoots r = ReceiptRoots(c.fact, kJob, c.evidence, c.agents);
  if (!r.problem.empty()) return r.problem;
  return DisputeEvidenceProblem(c.fact, c.evidence, r.roots);
}

TEST(DisputeEvidence, RoundTripsAndRefusesOtherEncodings) {
  const Case c = Infer();
  const std::vector<uint8_t> bytes = EncodeEvidence(c.evidence);
  auto back = DecodeEvidence(bytes);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(*back, c.evidence);
  for (size_t cut = 0; cut < bytes.size(); cut += 7) {
    EXPECT_FALSE(DecodeEvidence(std::span(bytes).first(cut)).has_value()) << cut;
  }
  std::vector<uint8_t> trailing = bytes;
  trailing.push_back(0);
  EXPECT_FALSE(DecodeEvidence(trailing).has_value());
  std::vector<uint8_t> tag = bytes;
  tag[4] ^= 1;  // the first byte of the tag
  EXPECT_FALSE(DecodeEvidence(tag).has_value());
  DisputeEvidence one = c.evidence;
  one.runs.resize(1);
  EXPECT_FALSE(DecodeEvidence(EncodeEvidence(one)).has_value());
  EXPECT_NE(EvidenceHash(bytes), EvidenceHash(EncodeEvidence(Train().evidence)));
}

TEST(DisputeEvidence, HonestEvidenceRecomputesTheVerdict) {
  EXPECT_EQ(Problem(Train()), "");
  EXPECT_EQ(Problem(Infer()), "");
  // A chain of the wrong length convicts its sender with no referee and nothing recomputed.
  Case c = Train();
  c.evidence.runs[1].commitments.pop_back();
  c.evidence.runs[1] = SignedRun(Identity::Generate(), 11, H("out B"), c.evidence.runs[1].commitments);
  c.evidence.runs.pop_back();
  c.fact.runs.pop_back();
  c.agents = {c.agents[0], std::nullopt};
  c.fact.outcome = VerdictOutcome::kAuditorFaulty;
  c.fact.dispute_link = -1;
  c.fact.recomputed_ppm = 0;
  EXPECT_EQ(Problem(c), "");
}

TEST(DisputeEvidence, EachTamperedPieceFailsWithItsReason) {
  auto expect = [](const Case& c, const std::string& words) {
    const std::string p = Problem(c);
    EXPECT_NE(p.find(words), std::string::npos) << "problem: '" << p << "', want: " << words;
  };
  {  // a changed link: the list is no longer what the original's receipt signs
    Case c = Train();
    c.evidence.runs[0].commitments[3] = H("changed");
    expect(c, "the original run's list in the evidence");
  }
  {  // the two lists swapped: neither is what its receipt signs
    Case c = Infer();
    std::swap(c.evidence.runs[0].commitments, c.evidence.runs[1].commitments);
    expect(c, "is not what its receipt commits to");
  }
  {  // a wrong outcome
    Case c = Train();
    c.fact.outcome = VerdictOutcome::kAuditorFaulty;
    expect(c, "the verdict says auditor_faulty but the referee's recomputed commitments give "
              "original_faulty");
  }
  {  // a wrong link index
    Case c = Train();
    c.fact.dispute_link = 4;
    expect(c, "the verdict names link 4, the lists part at 5");
  }
  {  // a wrong share
    Case c = Infer();
    c.fact.recomputed_ppm = 100'000;
    expect(c, "ppm of the task was recomputed");
  }
  {  // a referee matching neither run convicts nobody: a conviction on it is refused
    for (Case c : {Train(), Infer()}) {
      auto& ref = c.evidence.runs[2];
      std::vector<Hash256> other(ref.commitments.size(), H("neither"));
      const Identity r = Identity::Generate();
      ref = SignedRun(r, c.evidence.kind == EvidenceKind::kTrain ? 12 : 22, c.fact.runs[2].output, other);
      c.agents[2] = r.public_key();
      expect(c, "give undecided");
      c.fact.outcome = VerdictOutcome::kUndecided;
      EXPECT_EQ(Problem(c), "");  // and the honest "undecided" is what it shows
    }
  }
  {  // a referee list swapped in by the scheduler: its receipt does not sign it
    Case c = Infer();
    c.evidence.runs[2].commitments = {c.evidence.runs[1].commitments[2],
                                      c.evidence.runs[1].commitments[7]};
    expect(c, "the referee run's list in the evidence");
  }
  {  // a receipt of another agent than the ledger's
    Case c = Train();
    c.agents[1] = Identity::Generate().public_key();
    expect(c, "the audit run's receipt in the evidence is signed by");
  }
  {  // a receipt of another output than the verdict names
    Case c = Infer();
    c.fact.runs[0].output = H("other");
    expect(c, "the original run's receipt in the evidence signs output");
  }
  {  // a forged signature
    Case c = Train();
    c.evidence.runs[0].receipt_signature[0] ^= 1;
    expect(c, "does not verify");
  }
  {  // no receipt: the list is only the scheduler's word
    Case c = Train();
    c.evidence.runs[2].receipt.clear();
    c.evidence.runs[2].receipt_signature.clear();
    expect(c, "no signed receipt commits to the referee run's list");
  }
  {  // a referee kept out of the evidence
    Case c = Train();
    c.evidence.runs.pop_back();
    expect(c, "the evidence has 2 runs, the verdict names 3");
  }
  {  // equal lists never give a dispute/1 verdict
    Case c = Infer();
    c.evidence.runs[1] = SignedRun(Identity::Generate(), 21, H("jsonl B"), c.evidence.runs[0].commitments);
    c.agents[1] = std::nullopt;
    expect(c, "the two lists give no dispute");
  }
}

// The size a scheduler writes into a blob is checked against the spec: the inner steps of a
// training task, the prompts of the shard an inference task's id names.
TEST(DisputeEvidence, TheSizeIsTheOneTheSpecGives) {
  // 7 prompts over 3 workers: shards of 3, 2, 2; more workers than prompts: one each.
  EXPECT_EQ(InferShardCount(3, 7), 3u);
  EXPECT_EQ(InferShardCount(0, 7), 1u);
  EXPECT_EQ(InferShardCount(9, 4), 4u);
  EXPECT_EQ(PromptsInShard(7, 3, 0), 3u);
  EXPECT_EQ(PromptsInShard(7, 3, 1), 2u);
  EXPECT_EQ(PromptsInShard(7, 3, 2), 2u);
  // Each shard starts where the shards before it end, and the last ends at the last prompt.
  for (uint32_t count : {1u, 7u, 10u, 64u}) {
    for (uint32_t shards : {1u, 2u, 3u, 4u}) {
      uint64_t next = 0;
      for (uint32_t s = 0; s < shards; ++s) {
        EXPECT_EQ(FirstPromptOfShard(count, shards, s), next) << count << "/" << shards << "/" << s;
        next += PromptsInShard(count, shards, s);
      }
      EXPECT_EQ(next, count);
    }
  }
  EXPECT_EQ(FirstPromptOfShard(7, 3, 2), 5u);

  const EvidenceSpec train{EvidenceKind::kTrain, 64, 0, 0};
  DisputeEvidence e{"job-1/r0/w1", EvidenceKind::kTrain, 64, {}};
  EXPECT_EQ(EvidenceSizeProblem(e, train), "");
  e.size = 32;  // a scheduler claiming half the steps, to convict a full honest chain
  EXPECT_NE(EvidenceSizeProblem(e, train).find("32 inner steps; the spec gives 64"),
            std::string::npos);

  const EvidenceSpec infer{EvidenceKind::kInfer, 0, 7, 3};
  DisputeEvidence i{"job-2/s0", EvidenceKind::kInfer, 3, {}};
  EXPECT_EQ(EvidenceSizeProblem(i, infer), "");
  i.task = "job-2/s2";
  EXPECT_NE(EvidenceSizeProblem(i, infer).find("3 prompts; the spec gives shard 2 of 3"),
            std::string::npos);
  i.size = 2;
  EXPECT_EQ(EvidenceSizeProblem(i, infer), "");
  for (const char* bad : {"job-2/s3", "job-2/s", "job-2/sx", "job-2/r0/w0", "job-2/s1/x"}) {
    i.task = bad;
    EXPECT_NE(EvidenceSizeProblem(i, infer), "") << bad;
  }
  EXPECT_NE(EvidenceSizeProblem(i, train).find("an inference task"), std::string::npos);
}

}  // namespace
}  // namespace plume::verify
