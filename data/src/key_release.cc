// The key service's decision (key_release.h).
#include "plume/data/key_release.h"

#include <algorithm>

#include "plume/data/limits.h"

namespace plume::data {

double PeerRate::Refilled(const Bucket& b, uint64_t now_ms) const {
  const double elapsed = now_ms > b.at_ms ? static_cast<double>(now_ms - b.at_ms) : 0.0;
  return std::min<double>(per_minute_, b.tokens + elapsed * per_minute_ / 60'000.0);
}

bool PeerRate::Allow(const PublicKey& peer, uint64_t now_ms) {
  auto it = buckets_.find(peer);
  if (it == buckets_.end()) {
    if (buckets_.size() >= peers_max_) {
      // Peers whose bucket is full again are indistinguishable from new ones: forget them.
      std::erase_if(buckets_, [&](const auto& kv) { return Refilled(kv.second, now_ms) >= per_minute_; });
      if (buckets_.size() >= peers_max_) return false;
    }
    it = buckets_.emplace(peer, Bucket{static_cast<double>(per_minute_), now_ms}).first;
  }
  Bucket& b = it->second;
  b.tokens = Refilled(b, now_ms);
  b.at_ms = std::max(b.at_ms, now_ms);
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

std::string_view ReleaseVerdictName(ReleaseVerdict v) {
  switch (v) {
    case ReleaseVerdict::kRelease: return "release";
    case ReleaseVerdict::kRepeat: return "repeat";
    case ReleaseVerdict::kTooLarge: return "too_large";
    case ReleaseVerdict::kNotServed: return "not_served";
    case ReleaseVerdict::kBadGrant: return "bad_grant";
    case ReleaseVerdict::kGrantRefused: return "grant_refused";
    case ReleaseVerdict::kRateLimited: return "rate_limited";
  }
  return "unknown";
}

std::string Decision::Reason() const {
  switch (verdict) {
    case ReleaseVerdict::kRelease:
    case ReleaseVerdict::kRepeat:
      return {};
    case ReleaseVerdict::kTooLarge:
      return "request over " + std::to_string(kKeyRequestBytesMax) + " bytes";
    case ReleaseVerdict::kNotServed:
      return "this key service does not hold that dataset's key";
    case ReleaseVerdict::kBadGrant:
      return "the grant is malformed";
    case ReleaseVerdict::kRateLimited:
      return "too many requests from this key: retry in a few seconds";
    case ReleaseVerdict::kGrantRefused:
      break;
  }
  switch (check) {
    case GrantCheck::kMalformed: return "grant refused (malformed): ids or times out of shape";
    case GrantCheck::kBadSignature:
      return "grant refused (bad_signature): not signed by this network's scheduler for its ledger";
    case GrantCheck::kExpired: return "grant refused (expired): ask the scheduler for the task again";
    case GrantCheck::kWrongAgent:
      return "grant refused (wrong_agent): the grant names another agent than the key asking";
    case GrantCheck::kWrongDataset: return "grant refused (wrong_dataset): the grant is for another dataset";
    case GrantCheck::kWrongTask: return "grant refused (wrong_task): the grant is for another job or task";
    case GrantCheck::kOk: break;
  }
  return "grant refused";
}

Decision DecideRelease(const KeyServicePolicy& policy, const KeyRequest& r, PeerRate& rate,
                       const std::set<std::string>& released) {
  Decision d;
  if (r.request_bytes > kKeyRequestBytesMax || r.grant.size() > kGrantBytesMax) {
    d.verdict = ReleaseVerdict::kTooLarge;
    return d;
  }
  if (!rate.Allow(r.peer, r.now_unix_ms)) {
    d.verdict = ReleaseVerdict::kRateLimited;
    return d;
  }
  if (!policy.datasets.count(std::string(r.dataset))) {
    d.verdict = ReleaseVerdict::kNotServed;
    return d;
  }
  auto grant = DecodeGrant(r.grant);
  if (!grant) {
    d.verdict = ReleaseVerdict::kBadGrant;
    return d;
  }
  d.check = CheckGrant(*grant, policy.ledger_id, policy.scheduler,
                       GrantRequest{r.dataset, r.job, r.task, r.peer, r.now_unix_ms});
  if (d.check != GrantCheck::kOk) {
    d.verdict = ReleaseVerdict::kGrantRefused;
    return d;
  }
  d.grant_key = GrantKey(*grant);
  d.grant = std::move(*grant);
  d.verdict = released.count(d.grant_key) ? ReleaseVerdict::kRepeat : ReleaseVerdict::kRelease;
  return d;
}

}  // namespace plume::data
