// Key grants: the scheduler's signed statement "agent A is assigned task T of job J, which reads
// dataset D, until time E". It goes with the task assignment to that agent only; the agent shows
// it to the owner's key service (plume data serve), which releases the data key sealed to A only
// when CheckGrant passes, and records the grant in the ledger (a data-access entry).
//
// Signing bytes: a versioned domain tag, the ledger id (the scheduler's ledger; a grant for one
// network is worthless on another), then every field but the signature. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plume/protocol/error.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"

namespace plume::data {

struct Grant {
  std::string dataset;  // terms.h DatasetId
  std::string job;
  std::string task;
  uint32_t attempt = 0;
  PublicKey agent{};
  uint64_t issued_unix_ms = 0;
  uint64_t expires_unix_ms = 0;  // issued < expires <= issued + kGrantLifetimeMsMax
  Signature scheduler_signature{};
  bool operator==(const Grant&) const = default;
};

std::vector<uint8_t> GrantSigningBytes(const Grant& grant, const Hash256& ledger_id);
Signature SignGrant(const Grant& grant, const Hash256& ledger_id, const Identity& scheduler);

// Full encoding (with the signature) and its inverse.
std::vector<uint8_t> EncodeGrant(const Grant& grant);
Result<Grant> DecodeGrant(std::span<const uint8_t> bytes);

enum class GrantCheck : uint8_t {
  kOk = 0,
  kMalformed,      // ids or times out of shape
  kBadSignature,   // not signed by the scheduler for this ledger
  kExpired,        // now is past expires (or before issued: a clock the grant does not fit)
  kWrongAgent,     // the peer asking is not the agent the grant names
  kWrongDataset,   // the grant is for another dataset
  kWrongTask,      // the grant is for another job or task than the request names
};
std::string_view GrantCheckName(GrantCheck check);

// What the key service asks for a release: the peer's key comes from its CURVE authentication,
// never from the request's bytes.
struct GrantRequest {
  std::string_view dataset;
  std::string_view job;
  std::string_view task;
  PublicKey peer{};
  uint64_t now_unix_ms = 0;
};
// The signature check comes first, so a forged grant reads as forged whatever else it says.
GrantCheck CheckGrant(const Grant& grant, const Hash256& ledger_id, const PublicKey& scheduler,
                      const GrantRequest& request);
// Shape and signature only (what the ledger checks of a data-access record).
GrantCheck CheckGrantSignature(const Grant& grant, const Hash256& ledger_id,
                               const PublicKey& scheduler);

// One key release, as the owner's key service records it in the ledger (the body of a
// data-access entry, signed there by `owner`): the grant it honoured and when.
struct AccessRecord {
  PublicKey owner{};  // the dataset's owner (the ledger checks it against the terms)
  Grant grant;
  uint64_t released_unix_ms = 0;  // within the grant's life (issued - skew .. expires)
  bool operator==(const AccessRecord&) const = default;
};
std::vector<uint8_t> EncodeAccessRecord(const AccessRecord& record);
Result<AccessRecord> DecodeAccessRecord(std::span<const uint8_t> bytes);
// 32 hex digits naming the grant (BLAKE2b-256 of its encoding): one access record per grant.
std::string GrantKey(const Grant& grant);

}  // namespace plume::data
