// Verdict entries (entry.h type 30): what a replay audit concluded, in the ledger, beside the
// receipts it was decided on, so that a third party recomputes it from the ledger alone.
//
// A settle says a run was paid and a slash that one was punished, but not which runs were
// compared or what the comparison gave: a matched audit, or a conviction whose faulty run was
// never paid, left only the scheduler's word. A verdict entry names the runs (original, audit,
// referee: each by its receipt's task id and output hash) and the outcome; the runs' receipts
// are in the same ledger (settle, slash, or a zero-money task_receipt for a run nobody paid), so
//
//   VerdictProblem(fact, the receipts' output hashes) == ""
//
// is what `plume audit JOB` and `plume ledger verify` check: the outcome follows from the output
// hashes by the majority rule (verify/audit.h Decide), and the hashes the verdict names are those
// the agents signed. The ledger itself checks the shape and the ledger key's signature only (a
// verdict may be appended before a receipt it names, in the order the scheduler decided them).
//
//  - id "verdict:<original task>", job = the job, body = EncodeVerdict, no amount, accounts,
//    receipt, legs, memo or time; signed by the ledger key.
//
// A dispute decided on commitments (policy "dispute/1": training chains, inference completion
// lists) compares lists the ledger does not hold (a list of 65536 completion hashes is 2 MiB, far
// past kBodyBytesMax). The verdict names them instead: `evidence` is the BLAKE2b-256 of an
// evidence blob (verify/evidence.h) in the scheduler's blob store, holding both runs' lists, the
// referee's recomputed commitments and the agents' signed receipts that commit to each list.
// VerdictProblem checks what the ledger alone shows (the receipts' hashes, and that the original
// and the audit differ); verify::DisputeEvidenceProblem recomputes the outcome from the blob
// (`plume audit JOB` fetches it). Body: the fields below in order; `evidence`, when set, is
// appended as u8 1 and its 32 bytes, so a body of an older scheduler (ending after the share)
// decodes as one without evidence and keeps its id and signature.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "plume/ledger/entry.h"
#include "plume/protocol/error.h"
#include "plume/protocol/hash.h"

namespace plume::ledger {

enum class VerdictOutcome : uint8_t {
  kMatched = 1,         // original == audit
  kOriginalFaulty = 2,  // the audit and the referee agree against the original
  kAuditorFaulty = 3,   // the original and the referee agree against the audit run
  kUndecided = 4,       // no majority (all differ, or no referee could be found)
};
std::string_view VerdictOutcomeName(VerdictOutcome o);

struct VerdictRun {
  std::string task;  // the receipt's task_id (the scheduler's wire id, decimal)
  Hash256 output{};  // the receipt's output hash
  bool operator==(const VerdictRun&) const = default;
};

struct VerdictFact {
  std::string task;    // the original's task id in the scheduler ("<job>/r<round>/w<worker>")
  std::string policy;  // "audit/1" (hashes decide) or "dispute/1" (commitment chains decide)
  VerdictOutcome outcome = VerdictOutcome::kMatched;
  std::vector<VerdictRun> runs;  // original, audit, then the referee if one ran: 2 or 3
  int32_t dispute_link = -1;     // dispute/1: the link the chains parted at; else -1
  uint32_t recomputed_ppm = 0;   // the share of the task the referee recomputed, ppm
  // dispute/1: the hash of the evidence blob (verify/evidence.h); none before evidence was kept.
  std::optional<Hash256> evidence;
  bool operator==(const VerdictFact&) const = default;
};

inline constexpr size_t kVerdictPolicyBytesMax = 32;
inline constexpr size_t kVerdictRunsMax = 3;

std::vector<uint8_t> EncodeVerdict(const VerdictFact& fact);
// Refuses trailing bytes, a run count outside 2..3, an unknown outcome, an empty task or policy,
// a link below -1, a share over 1e6 and an evidence marker other than 1.
Result<VerdictFact> DecodeVerdict(std::span<const uint8_t> body);

std::string VerdictEntryId(std::string_view task);
// Unsigned; sign with SignEntry by the ledger key.
Entry MakeVerdict(std::string job, const VerdictFact& fact);

// "" when `fact` is what its runs' receipts show, else why not. `receipt_outputs[i]` is the
// output hash of the receipt of fact.runs[i] found in the ledger, nullopt where the ledger has
// none (then that run is the scheduler's word and only the others are compared).
std::string VerdictProblem(const VerdictFact& fact,
                           std::span<const std::optional<Hash256>> receipt_outputs);

// " verdict=<outcome> policy=.. task=.. run=..[ evidence=..]" for DescribeEntry; empty otherwise.
std::string DescribeVerdict(const Entry& e);

}  // namespace plume::ledger
