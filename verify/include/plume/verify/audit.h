// Replay audits: which results are re-run by another provider, what a comparison of output
// hashes proves, and where two training runs first part. Pure: records and hashes in,
// decisions out; the scheduler keeps the records and routes the tasks, and a third party given
// the ledger, the blobs and the audit seed recomputes every choice and every verdict.
//
// The rate adapts per provider as in BOINC's adaptive replication: every result of a provider
// is audited until it has `trust_after` consecutive valid results, then each result is audited
// with probability max(p_min, 1 / consecutive_valid). A refused or faulty result resets the run.
//
// What a verdict may say: within one kernel class (kernels/kernel_class.h) an honest task is
// bit-exact, so two different output hashes prove that one of the two providers is wrong, and a
// third run (the referee) says which: the odd one out is *proven* faulty. Nothing convicts on
// fewer than two matching runs, and runs of different classes are never compared bit for bit.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace plume::verify {

inline constexpr const char* kAuditPolicy = "audit/1";

using Digest = std::array<uint8_t, 32>;  // an output hash (BLAKE2b-256 of the result blob)

struct AuditParams {
  int64_t trust_after = 10;       // audit everything until this many consecutive valid results
  uint32_t p_min_ppm = 50'000;    // the floor of the audit probability, parts per million (5%)
};

// What the scheduler knows of one provider's results (persisted with the node).
struct ProviderRecord {
  int64_t consecutive_valid = 0;  // valid results since the last refusal or proven fault
  int64_t valid = 0;              // results that became final
  int64_t refused = 0;            // results refused by a screen
  int64_t audited = 0;            // results that were re-run by another provider
  int64_t proven_faulty = 0;      // results proven wrong by a referee
};

// The audit probability in parts per million (1'000'000 = always).
uint32_t AuditRatePpm(const ProviderRecord& record, const AuditParams& params);

// Whether the result of `task_key` (job, task and attempt) is audited, at `rate_ppm`. Drawn
// from BLAKE2b(seed || task_key): the scheduler keeps `seed` secret until the audit is settled
// (an agent cannot tell an audited task from another) and publishes it afterwards, so anyone
// can check that no result was singled out or spared.
bool ShouldAudit(const Digest& seed, std::string_view task_key, uint32_t rate_ppm);

enum class Outcome : uint8_t {
  kMatched,          // original == audit: the result stands
  kNeedsReferee,     // original != audit: a third run decides
  kOriginalFaulty,   // referee == audit != original: the original provider is proven faulty
  kAuditorFaulty,    // referee == original != audit: the auditor is proven faulty
  kUndecided,        // all three differ: nobody is convicted; the task is flagged
};
const char* Name(Outcome o);

// The verdict on one audited task from its output hashes (referee once there is one).
Outcome Decide(const Digest& original, const Digest& audit, const std::optional<Digest>& referee);

// The record after one event.
enum class Event : uint8_t { kValid, kRefused, kAudited, kProvenFaulty };
ProviderRecord Apply(ProviderRecord record, Event event);

// ---- commitments: where two runs of one training task part ----------------------------------

// A training receipt commits to the parameters every `interval` inner steps as a hash chain,
// link i = BLAKE2b(link i-1 || hash of the parameters after step i*interval), so that a round's
// commitment stays within 32 links (1 KiB). The interval for a task of `inner_steps` steps.
int64_t CommitmentInterval(int64_t inner_steps);
inline constexpr int kMaxCommitmentLinks = 32;
// The next link of the chain from the previous one (zeros for the first) and a state's hash.
Digest ChainLink(const Digest& previous, const Digest& state);

// The first link at which two chains differ, or nullopt when they agree everywhere (and have
// the same length). A referee recomputes only the segment ending at that link, from the state
// both runs agreed on before it: steps [i * interval, min((i + 1) * interval, inner_steps)).
std::optional<size_t> FirstDifferingLink(std::span<const Digest> a, std::span<const Digest> b);

// ---- the analytic detection curve the simulation is checked against --------------------------

// The probability that a provider cheating on each task with probability q is caught at least
// once over tasks audited with the given probabilities: 1 - prod(1 - p_i q).
double DetectionProbability(std::span<const double> audit_probabilities, double q);

}  // namespace plume::verify
