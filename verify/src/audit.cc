// Replay-audit policy (audit.h): rates, draws, verdicts and commitment chains.
#include "plume/verify/audit.h"

#include <algorithm>
#include <cstring>

#include "plume/protocol/hash.h"

namespace plume::verify {
namespace {

constexpr uint32_t kAlways = 1'000'000;
// Domain tags keep an audit draw or a chain link from ever equalling another hash of the system.
constexpr std::string_view kDrawTag = "plume/audit-draw/1";
constexpr std::string_view kLinkTag = "plume/commit-link/1";

}  // namespace

uint32_t AuditRatePpm(const ProviderRecord& record, const AuditParams& params) {
  if (record.consecutive_valid < std::max<int64_t>(params.trust_after, 1)) return kAlways;
  const uint32_t floor = std::min(params.p_min_ppm, kAlways);
  const auto inverse = static_cast<uint32_t>(kAlways / record.consecutive_valid);
  return std::max(floor, inverse);
}

bool ShouldAudit(const Digest& seed, std::string_view task_key, uint32_t rate_ppm) {
  if (rate_ppm >= kAlways) return true;
  if (rate_ppm == 0) return false;
  Hasher h;
  h.Update(kDrawTag);
  h.Update(std::span<const uint8_t>(seed));
  h.Update(task_key);
  const Hash256 d = h.Final();
  uint64_t x = 0;
  std::memcpy(&x, d.data(), sizeof x);
  // 2^64 is not a multiple of 10^6; the bias is below 10^-13, far under any rate we set.
  return x % kAlways < rate_ppm;
}

const char* Name(Outcome o) {
  switch (o) {
    case Outcome::kMatched: return "matched";
    case Outcome::kNeedsReferee: return "needs_referee";
    case Outcome::kOriginalFaulty: return "original_faulty";
    case Outcome::kAuditorFaulty: return "auditor_faulty";
    case Outcome::kUndecided: return "undecided";
  }
  return "unknown";
}

Outcome Decide(const Digest& original, const Digest& audit, const std::optional<Digest>& referee) {
  if (original == audit) return Outcome::kMatched;
  if (!referee) return Outcome::kNeedsReferee;
  if (*referee == audit) return Outcome::kOriginalFaulty;
  if (*referee == original) return Outcome::kAuditorFaulty;
  return Outcome::kUndecided;
}

ProviderRecord Apply(ProviderRecord r, Event event) {
  switch (event) {
    case Event::kValid:
      ++r.valid;
      ++r.consecutive_valid;
      break;
    case Event::kRefused:
      ++r.refused;
      r.consecutive_valid = 0;
      break;
    case Event::kAudited:
      ++r.audited;
      break;
    case Event::kProvenFaulty:
      ++r.proven_faulty;
      r.consecutive_valid = 0;
      break;
  }
  return r;
}

int64_t CommitmentInterval(int64_t inner_steps) {
  if (inner_steps <= 0) return 1;
  return (inner_steps + kMaxCommitmentLinks - 1) / kMaxCommitmentLinks;
}

Digest ChainLink(const Digest& previous, const Digest& state) {
  Hasher h;
  h.Update(kLinkTag);
  h.Update(std::span<const uint8_t>(previous));
  h.Update(std::span<const uint8_t>(state));
  return h.Final();
}

std::optional<size_t> FirstDifferingLink(std::span<const Digest> a, std::span<const Digest> b) {
  const size_t common = std::min(a.size(), b.size());
  for (size_t i = 0; i < common; ++i) {
    if (a[i] != b[i]) return i;
  }
  if (a.size() != b.size()) return common;  // one chain stops early: it parts where it stops
  return std::nullopt;
}

double DetectionProbability(std::span<const double> audit_probabilities, double q) {
  double escape = 1.0;
  for (double p : audit_probabilities) escape *= 1.0 - std::clamp(p * q, 0.0, 1.0);
  return 1.0 - escape;
}

}  // namespace plume::verify
