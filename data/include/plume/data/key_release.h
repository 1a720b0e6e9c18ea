// The owner's key service decision (`plume data serve`, docs/data-owners.md "Key release"):
// whether one request for a data key is answered, apart from sockets, files and the ledger.
//
// A request names a dataset, a job, a task and carries the scheduler's grant; the peer is the
// key the CURVE handshake proved. The verdict is kRelease (first release of this grant: record
// it in the ledger, then send the sealed key), kRepeat (this grant was released before, to the
// same agent, and is still valid: send the key again, no new record; the ledger keeps one
// record per grant and a lost reply must not strand the agent), or a refusal with its reason.
// A per-peer token bucket keeps one key from occupying the service. Pure; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "plume/data/grant.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"

namespace plume::data {

// Bounds of the key service. A request is a few hundred bytes; anything larger is refused
// before it is parsed. A well-behaved agent asks once per task and retries a few times.
inline constexpr size_t kKeyRequestBytesMax = 4096;
inline constexpr uint32_t kKeyRequestsPerPeerPerMinute = 20;
inline constexpr size_t kKeyServicePeersMax = 4096;  // rate records kept; past it, new peers wait

// Requests per peer: a token bucket of `per_minute` tokens refilled evenly. At most
// `peers_max` peers are tracked; a full table forgets peers whose bucket is full again (they
// lose nothing), and refuses newcomers only while every tracked peer is still throttled.
class PeerRate {
 public:
  PeerRate(uint32_t per_minute, size_t peers_max) : per_minute_(per_minute), peers_max_(peers_max) {}
  bool Allow(const PublicKey& peer, uint64_t now_ms);
  size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    uint64_t at_ms = 0;
  };
  double Refilled(const Bucket& b, uint64_t now_ms) const;
  uint32_t per_minute_;
  size_t peers_max_;
  std::map<PublicKey, Bucket> buckets_;
};

enum class ReleaseVerdict : uint8_t {
  kRelease = 0,
  kRepeat,
  kTooLarge,      // request over kKeyRequestBytesMax
  kNotServed,     // this service does not hold that dataset's key
  kBadGrant,      // the grant bytes do not decode
  kGrantRefused,  // CheckGrant said no (Decision::check says why)
  kRateLimited,
};
std::string_view ReleaseVerdictName(ReleaseVerdict v);

struct KeyRequest {
  std::string_view dataset, job, task;
  std::span<const uint8_t> grant;
  size_t request_bytes = 0;  // the whole message, as received
  PublicKey peer{};          // from the CURVE handshake, never from the request
  uint64_t now_unix_ms = 0;
};

struct Decision {
  ReleaseVerdict verdict = ReleaseVerdict::kNotServed;
  GrantCheck check = GrantCheck::kOk;  // with kGrantRefused
  Grant grant;                         // with kRelease and kRepeat
  std::string grant_key;               // GrantKey(grant), with kRelease and kRepeat
  bool released() const {
    return verdict == ReleaseVerdict::kRelease || verdict == ReleaseVerdict::kRepeat;
  }
  // For the peer and the log: what was refused and what to do.
  std::string Reason() const;
};

struct KeyServicePolicy {
  Hash256 ledger_id{};
  PublicKey scheduler{};
  std::set<std::string> datasets;  // ids whose keys this service holds
};

// The checks in order: size, rate, dataset served, grant decodes, CheckGrant (signature first,
// then expiry, agent, dataset, task), then whether `released` (grant keys recorded before)
// already has it. The rate is charged for every request that reaches it.
Decision DecideRelease(const KeyServicePolicy& policy, const KeyRequest& request, PeerRate& rate,
                       const std::set<std::string>& released);

}  // namespace plume::data
