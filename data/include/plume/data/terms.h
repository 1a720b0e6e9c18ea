// Dataset terms: what a data owner signs when publishing a dataset (the body of a ledger
// dataset-publish entry, signed there by the owner's key), and the check of a job against them.
//
// A dataset's id is derived from its terms (DatasetId), so the same terms always name the same
// dataset and different terms never do; terms never change after publishing (an owner who wants
// other terms publishes again and revokes the old id). Pure; thread-compatible.
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

// Kinds of job a dataset may be used for, as bits of Terms::kinds.
enum class JobKind : uint8_t { kTrain = 1, kEvaluate = 2 };
inline constexpr uint8_t kAllJobKinds = 3;
std::string_view JobKindName(JobKind kind);

struct Terms {
  PublicKey owner{};  // signs the publish and revoke entries and every data-access record
  std::string name;   // for people; printable ASCII, <= kDatasetNameBytesMax
  // The stored blob's BLAKE2b-256: of the ciphertext (crypt.h) when encrypted, else of the data.
  Hash256 blob_hash{};
  uint64_t bytes = 0;   // the plaintext's size
  uint64_t tokens = 0;  // tokens in the dataset (byte tokenizer: == bytes); quotes read this,
                        // never the blob, so nobody needs the plaintext to price a job
  bool encrypted = false;
  // Encrypted only: where the owner's key service listens ("tcp://host:port"); its CURVE key is
  // derived from `owner`, so an agent knows whom it talks to.
  std::string key_service;
  uint8_t kinds = static_cast<uint8_t>(JobKind::kTrain);  // JobKind bits, non-zero
  bool any_team = false;
  std::vector<PublicKey> teams;  // when !any_team: 1..kTermsTeamsMax client keys, sorted, unique
  uint64_t royalty_micro_plume_per_mtoken = 0;  // per million tokens trained; 0 = free

  bool operator==(const Terms&) const = default;
};

// Canonical encoding and its inverse (refuses trailing bytes and anything over the limits).
std::vector<uint8_t> EncodeTerms(const Terms& terms);
Result<Terms> DecodeTerms(std::span<const uint8_t> bytes);
// Empty when the terms are well formed, else why not (for people: names the field).
std::string TermsProblem(const Terms& terms);
// 32 lowercase hex digits: the first 16 bytes of BLAKE2b-256 over a domain tag and the encoding.
std::string DatasetId(const Terms& terms);
bool IsDatasetId(std::string_view text);

// What an owner signs to revoke a dataset (the body of a ledger dataset-revoke entry): new jobs
// are refused from then on; jobs that started before finish under the terms they started with.
struct Revocation {
  std::string dataset;  // DatasetId
  PublicKey owner{};    // must be the terms' owner (the ledger checks)
  bool operator==(const Revocation&) const = default;
};
std::vector<uint8_t> EncodeRevocation(const Revocation& revocation);
Result<Revocation> DecodeRevocation(std::span<const uint8_t> bytes);

enum class Refusal : uint8_t { kNone = 0, kTeamNotAllowed, kKindNotAllowed, kRevoked };
std::string_view RefusalName(Refusal refusal);
// Whether `team` may run a job of `kind` on a dataset with these terms (revocation is the
// registry's business: the terms themselves never change).
Refusal Allows(const Terms& terms, const PublicKey& team, JobKind kind);

}  // namespace plume::data
