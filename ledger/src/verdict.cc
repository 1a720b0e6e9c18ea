// Verdict entries (verdict.h): their canonical body, constructor and the majority rule that a
// third party recomputes them with.
#include "plume/ledger/verdict.h"

#include "plume/ledger/limits.h"
#include "plume/protocol/codec.h"

namespace plume::ledger {
namespace codec = protocol::codec;

std::string_view VerdictOutcomeName(VerdictOutcome o) {
  switch (o) {
    case VerdictOutcome::kMatched:
      return "matched";
    case VerdictOutcome::kOriginalFaulty:
      return "original_faulty";
    case VerdictOutcome::kAuditorFaulty:
      return "auditor_faulty";
    case VerdictOutcome::kUndecided:
      return "undecided";
  }
  return "unknown";
}

std::vector<uint8_t> EncodeVerdict(const VerdictFact& f) {
  std::vector<uint8_t> out;
  codec::PutString(out, f.task);
  codec::PutString(out, f.policy);
  codec::PutU8(out, static_cast<uint8_t>(f.outcome));
  codec::PutU32(out, static_cast<uint32_t>(f.runs.size()));
  for (const VerdictRun& r : f.runs) {
    codec::PutString(out, r.task);
    codec::PutRaw(out, r.output);
  }
  codec::PutU32(out, static_cast<uint32_t>(f.dispute_link));  // two's complement: -1 is ~0
  codec::PutU32(out, f.recomputed_ppm);
  if (f.evidence) {  // appended only when set: a body without it is the older encoding, unchanged
    codec::PutU8(out, 1);
    codec::PutRaw(out, *f.evidence);
  }
  return out;
}

Result<VerdictFact> DecodeVerdict(std::span<const uint8_t> body) {
  codec::Reader in(body);
  VerdictFact f;
  f.task = in.String(kTaskIdBytesMax);
  f.policy = in.String(kVerdictPolicyBytesMax);
  if (f.task.empty() || f.policy.empty()) in.Fail();
  const uint8_t outcome = in.U8();
  if (outcome < 1 || outcome > 4) in.Fail();
  f.outcome = static_cast<VerdictOutcome>(outcome);
  const uint32_t n = in.U32();
  if (n < 2 || n > kVerdictRunsMax) in.Fail();
  for (uint32_t i = 0; in.ok() && i < n; ++i) {
    VerdictRun r;
    r.task = in.String(kTaskIdBytesMax);
    if (r.task.empty()) in.Fail();
    r.output = in.Raw<32>();
    f.runs.push_back(std::move(r));
  }
  f.dispute_link = static_cast<int32_t>(in.U32());
  f.recomputed_ppm = in.U32();
  if (f.dispute_link < -1 || f.recomputed_ppm > 1'000'000) in.Fail();
  if (in.ok() && !in.done()) {
    if (in.U8() != 1) in.Fail();
    f.evidence = in.Raw<32>();
  }
  if (!in.done()) return Fail("verdict body is malformed or has trailing bytes");
  return f;
}

std::string VerdictEntryId(std::string_view task) { return "verdict:" + std::string(task); }

Entry MakeVerdict(std::string job, const VerdictFact& fact) {
  Entry e;
  e.type = EntryType::kVerdict;
  e.id = VerdictEntryId(fact.task);
  e.job = std::move(job);
  e.body = EncodeVerdict(fact);
  return e;
}

namespace {

// The outcome the output hashes give under "audit/1" (verify/audit.h Decide, the same rule).
VerdictOutcome Majority(const VerdictFact& f) {
  const Hash256& original = f.runs[0].output;
  const Hash256& audit = f.runs[1].output;
  if (original == audit) return VerdictOutcome::kMatched;
  if (f.runs.size() < 3) return VerdictOutcome::kUndecided;  // nobody could referee
  const Hash256& referee = f.runs[2].output;
  if (referee == audit) return VerdictOutcome::kOriginalFaulty;
  if (referee == original) return VerdictOutcome::kAuditorFaulty;
  return VerdictOutcome::kUndecided;
}

}  // namespace

std::string VerdictProblem(const VerdictFact& f,
                           std::span<const std::optional<Hash256>> receipt_outputs) {
  if (f.runs.size() < 2 || f.runs.size() > kVerdictRunsMax) return "a verdict names 2 or 3 runs";
  static const char* kRole[] = {"original", "audit", "referee"};
  for (size_t i = 0; i < f.runs.size() && i < receipt_outputs.size(); ++i) {
    if (receipt_outputs[i] && *receipt_outputs[i] != f.runs[i].output) {
      return std::string("the ") + kRole[i] + " run's output in the verdict is " +
             ToHex(f.runs[i].output).substr(0, 16) + " but its receipt says " +
             ToHex(*receipt_outputs[i]).substr(0, 16);
    }
  }
  if (f.policy == "dispute/1") {
    // The chains decided; the ledger holds only the receipts: the runs must at least differ.
    if (f.runs[0].output == f.runs[1].output || f.outcome == VerdictOutcome::kMatched) {
      return "a dispute of two runs whose receipts agree";
    }
    return "";
  }
  const VerdictOutcome expected = Majority(f);
  if (f.outcome != expected) {
    return "the verdict says " + std::string(VerdictOutcomeName(f.outcome)) +
           " but the runs' output hashes give " + std::string(VerdictOutcomeName(expected));
  }
  return "";
}

std::string DescribeVerdict(const Entry& e) {
  if (e.type != EntryType::kVerdict) return {};
  auto f = DecodeVerdict(e.body);
  if (!f) return {};
  std::string out = " verdict=" + std::string(VerdictOutcomeName(f->outcome)) +
                    " policy=" + f->policy + " task=" + f->task;
  for (const VerdictRun& r : f->runs) out += " run=" + r.task + ":" + ToHex(r.output).substr(0, 16);
  if (f->evidence) out += " evidence=" + ToHex(*f->evidence).substr(0, 16);
  return out;
}

}  // namespace plume::ledger
