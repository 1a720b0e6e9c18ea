// Dispute evidence (evidence.h): its encoding, and the checks that recompute a dispute/1 verdict
// from it with the very rules the scheduler decided it by (dispute.h).
#include "plume/verify/evidence.h"

#include <algorithm>

#include "plume/protocol/codec.h"
#include "plume/protocol/receipt.h"
#include "plume/verify/dispute.h"

namespace plume::verify {
namespace codec = protocol::codec;

namespace {

constexpr const char* kRoles[] = {"original", "audit", "referee"};
constexpr size_t kTaskBytesMax = 64;

std::string Short(const Hash256& h) { return ToHex(h).substr(0, 16); }

ledger::VerdictOutcome OutcomeOf(DisputeVerdict d) {
  switch (d) {
    case DisputeVerdict::kAFaulty:
      return ledger::VerdictOutcome::kOriginalFaulty;
    case DisputeVerdict::kBFaulty:
      return ledger::VerdictOutcome::kAuditorFaulty;
    default:
      return ledger::VerdictOutcome::kUndecided;
  }
}

// The share as the scheduler records it (core_verdict.cc RecordVerdict), from the same double.
uint32_t Ppm(double fraction) {
  return static_cast<uint32_t>(std::clamp(fraction, 0.0, 1.0) * 1'000'000.0 + 0.5);
}

// What the lists give: the link (or first differing prompt), the share recomputed, the outcome,
// and whether a referee must have run. `problem` set when the lists cannot give a dispute/1
// verdict at all.
struct Recomputed {
  int32_t link = -1;
  uint32_t ppm = 0;
  ledger::VerdictOutcome outcome = ledger::VerdictOutcome::kUndecided;
  bool referee = false;
  std::string problem;
};

Recomputed FromSettled(DisputeVerdict settled) {
  Recomputed r;
  if (settled != DisputeVerdict::kAFaulty && settled != DisputeVerdict::kBFaulty) {
    r.problem = std::string("the two lists give no dispute (") + Name(settled) +
                "): such a task is re-run in full and decided by audit/1";
    return r;
  }
  r.outcome = OutcomeOf(settled);
  return r;
}

Recomputed RecomputeTrain(const DisputeEvidence& e) {
  const auto& a = e.runs[0].commitments;
  const auto& b = e.runs[1].commitments;
  const auto H = static_cast<int64_t>(e.size);
  const DisputePlan plan = PlanDispute(H, a, b);
  if (plan.settled) return FromSettled(*plan.settled);
  Recomputed r;
  r.referee = true;
  r.link = static_cast<int32_t>(plan.link);
  r.ppm = Ppm(static_cast<double>(plan.segment.steps()) / static_cast<double>(H));
  if (e.runs.size() < 3) return r;
  // A referee that sent no single link decides nothing (core_dispute.cc JudgeSegment).
  const auto& ref = e.runs[2].commitments;
  r.outcome = OutcomeOf(ref.size() == 1 ? Judge(ref[0], a[plan.link], b[plan.link])
                                        : DisputeVerdict::kBothFaulty);
  return r;
}

Recomputed RecomputeInfer(const DisputeEvidence& e) {
  const auto& a = e.runs[0].commitments;
  const auto& b = e.runs[1].commitments;
  const InferDisputePlan plan = PlanInferDispute(e.size, a, b);
  if (plan.settled) return FromSettled(*plan.settled);
  Recomputed r;
  r.referee = true;
  r.link = static_cast<int32_t>(plan.prompts.front());
  r.ppm = Ppm(plan.fraction);
  if (plan.prompts.size() >= e.size) {
    r.problem = "every completion differs: such a shard is re-run in full and decided by audit/1";
    return r;
  }
  if (e.runs.size() < 3) return r;
  r.outcome = OutcomeOf(JudgeCompletions(plan.prompts, e.runs[2].commitments, a, b));
  return r;
}

}  // namespace

std::vector<uint8_t> EncodeEvidence(const DisputeEvidence& e) {
  std::vector<uint8_t> out;
  codec::PutString(out, kEvidenceTag);
  codec::PutString(out, e.task);
  codec::PutU8(out, static_cast<uint8_t>(e.kind));
  codec::PutU64(out, e.size);
  codec::PutU32(out, static_cast<uint32_t>(e.runs.size()));
  for (const EvidenceRun& r : e.runs) {
    codec::PutU32(out, static_cast<uint32_t>(r.commitments.size()));
    for (const Hash256& c : r.commitments) codec::PutRaw(out, c);
    codec::PutString(out, r.receipt);
    codec::PutString(out, r.receipt_signature);
  }
  return out;
}

Result<DisputeEvidence> DecodeEvidence(std::span<const uint8_t> bytes) {
  codec::Reader in(bytes);
  if (in.String(kEvidenceTag.size()) != kEvidenceTag) in.Fail();
  DisputeEvidence e;
  e.task = in.String(kTaskBytesMax);
  const uint8_t kind = in.U8();
  if (kind != 1 && kind != 2) in.Fail();
  e.kind = static_cast<EvidenceKind>(kind);
  e.size = in.U64();
  const uint32_t n = in.U32();
  if (n < 2 || n > 3) in.Fail();
  for (uint32_t i = 0; in.ok() && i < n; ++i) {
    EvidenceRun r;
    const uint32_t count = in.U32();
    if (count > kEvidenceListMax) in.Fail();
    for (uint32_t j = 0; in.ok() && j < count; ++j) r.commitments.push_back(in.Raw<32>());
    r.receipt = in.String(kEvidenceReceiptBytesMax);
    r.receipt_signature = in.String(64);
    if (!r.receipt_signature.empty() && r.receipt_signature.size() != 64) in.Fail();
    e.runs.push_back(std::move(r));
  }
  if (!in.done()) return Fail("dispute evidence is malformed or has trailing bytes");
  return e;
}

Hash256 EvidenceHash(std::span<const uint8_t> encoded) { return Blake2b256(encoded); }

EvidenceRoots ReceiptRoots(const ledger::VerdictFact& f, std::string_view job,
                           const DisputeEvidence& e,
                           std::span<const std::optional<PublicKey>> agents) {
  EvidenceRoots out;
  for (size_t i = 0; i < e.runs.size(); ++i) {
    const EvidenceRun& run = e.runs[i];
    out.roots.push_back(std::nullopt);
    if (run.receipt.empty() || !out.problem.empty()) continue;
    const std::string role = std::string("the ") + kRoles[std::min<size_t>(i, 2)] + " run's receipt";
    auto fields = VerifyReceipt(
        std::span(reinterpret_cast<const uint8_t*>(run.receipt.data()), run.receipt.size()),
        std::span(reinterpret_cast<const uint8_t*>(run.receipt_signature.data()),
                  run.receipt_signature.size()));
    if (!fields) {
      out.problem = role + " in the evidence does not verify: " + fields.error().message;
    } else if (fields->job_id != job) {
      out.problem = role + " in the evidence is for job " + fields->job_id.substr(0, 64);
    } else if (i >= f.runs.size() || std::to_string(fields->task_id) != f.runs[i].task) {
      out.problem = role + " in the evidence is task " + std::to_string(fields->task_id) +
                    ", not the run the verdict names";
    } else if (fields->output != f.runs[i].output) {
      out.problem = role + " in the evidence signs output " + Short(fields->output) +
                    ", the verdict names " + Short(f.runs[i].output);
    } else if (i < agents.size() && agents[i] && *agents[i] != fields->agent) {
      out.problem = role + " in the evidence is signed by " + Short(fields->agent) +
                    ", but the ledger's receipt of that run by " + Short(*agents[i]);
    } else {
      out.roots.back() = fields->commitment;
    }
  }
  return out;
}

std::string DisputeEvidenceProblem(const ledger::VerdictFact& f, const DisputeEvidence& e,
                                   std::span<const std::optional<Hash256>> roots) {
  if (f.policy != kDisputePolicy) return "evidence is kept for dispute/1 verdicts only";
  if (e.task != f.task) return "the evidence is for task " + e.task + ", not " + f.task;
  if (e.runs.size() != f.runs.size()) {
    return "the evidence has " + std::to_string(e.runs.size()) + " runs, the verdict names " +
           std::to_string(f.runs.size());
  }
  for (size_t i = 0; i < e.runs.size(); ++i) {
    const std::string role = kRoles[i];
    if (i >= roots.size() || !roots[i]) {
      return "no signed receipt commits to the " + role + " run's list";
    }
    const Hash256 root = CommitmentRoot(e.runs[i].commitments);
    if (root != *roots[i]) {
      return "the " + role + " run's list in the evidence (" +
             std::to_string(e.runs[i].commitments.size()) + " entries, root " + Short(root) +
             ") is not what its receipt commits to (" + Short(*roots[i]) + ")";
    }
  }
  const Recomputed r = e.kind == EvidenceKind::kTrain ? RecomputeTrain(e) : RecomputeInfer(e);
  if (!r.problem.empty()) return r.problem;
  const bool has_referee = e.runs.size() == 3;
  if (r.referee != has_referee) {
    return r.referee ? "the lists part at " + std::to_string(r.link) +
                           ", yet no referee run recomputed it"
                     : "a list of the wrong length settles it, yet a referee ran";
  }
  if (f.dispute_link != r.link) {
    return "the verdict names link " + std::to_string(f.dispute_link) + ", the lists part at " +
           std::to_string(r.link);
  }
  if (f.recomputed_ppm != r.ppm) {
    return "the verdict says " + std::to_string(f.recomputed_ppm) +
           " ppm of the task was recomputed, the plan gives " + std::to_string(r.ppm);
  }
  if (f.outcome != r.outcome) {
    return "the verdict says " + std::string(ledger::VerdictOutcomeName(f.outcome)) +
           " but the " + (has_referee ? "referee's recomputed commitments" : "lists' lengths") +
           " give " + std::string(ledger::VerdictOutcomeName(r.outcome));
  }
  return "";
}

uint32_t InferShardCount(uint32_t workers, uint32_t prompt_count) {
  return std::clamp<uint32_t>(workers, 1, std::max<uint32_t>(1, prompt_count));
}

uint32_t PromptsInShard(uint32_t prompt_count, uint32_t shards, uint32_t shard) {
  if (shards == 0) return 0;
  return prompt_count / shards + (shard < prompt_count % shards ? 1 : 0);
}

uint64_t FirstPromptOfShard(uint32_t prompt_count, uint32_t shards, uint32_t shard) {
  if (shards == 0) return 0;
  return uint64_t{shard} * (prompt_count / shards) + std::min(shard, prompt_count % shards);
}

std::string EvidenceSizeProblem(const DisputeEvidence& e, const EvidenceSpec& spec) {
  const auto kind = [](EvidenceKind k) {
    return std::string(k == EvidenceKind::kTrain ? "a training" : "an inference");
  };
  if (e.kind != spec.kind) {
    return "the evidence is of " + kind(e.kind) + " task, the spec of " + kind(spec.kind) + " job";
  }
  if (e.kind == EvidenceKind::kTrain) {
    if (e.size == spec.inner_steps) return "";
    return "its size is " + std::to_string(e.size) + " inner steps; the spec gives " +
           std::to_string(spec.inner_steps);
  }
  // The shard: the digits after the last "/s" of the task id, and nothing else after them.
  const size_t at = e.task.rfind("/s");
  const std::string digits = at == std::string::npos ? "" : e.task.substr(at + 2);
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "task " + e.task + " is not an inference shard's id (<job>/s<shard>)";
  }
  const auto shard = static_cast<uint32_t>(std::stoul(digits));
  if (shard >= spec.shards) {
    return "task " + e.task + " names shard " + digits + "; the spec gives " +
           std::to_string(spec.shards) + " shards";
  }
  const uint32_t want = PromptsInShard(spec.prompt_count, spec.shards, shard);
  if (e.size == want) return "";
  return "its size is " + std::to_string(e.size) + " prompts; the spec gives shard " + digits +
         " of " + std::to_string(spec.shards) + " over " + std::to_string(spec.prompt_count) +
         " prompts " + std::to_string(want);
}

}  // namespace plume::verify
