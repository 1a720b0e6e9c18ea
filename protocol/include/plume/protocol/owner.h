// Owner attestations: an owner key's signed word that "agent key X is operated by owner O" on
// one scheduler's network. An agent sends it in Register.ownerAttestation; the scheduler checks
// it and keeps the owner in the node's record, so that replay audits, referees and the
// retryable=false rule count independent providers by owner, not by key (docs/providers.md,
// docs/verification.md). Without one the agent is its own owner.
//
// What is signed: kOwnerAttestationDomain (length-prefixed), then the owner, agent and
// scheduler keys (32 bytes each), in the canonical encoding of codec.h. The scheduler key binds
// the attestation to one network, so one made for a test network is no good on another.
//
// The file `plume owner attest` writes (text, at most limits::kOwnerAttestationFileBytesMax):
//   plume-owner-attestation-v1
//   owner <64 hex>
//   agent <64 hex>
//   scheduler <64 hex>
//   signature <128 hex>
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "plume/protocol/error.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/plume.capnp.h"

namespace plume {

inline constexpr std::string_view kOwnerAttestationDomain = "plume/owner-attestation/v1";
inline constexpr std::string_view kOwnerAttestationFileTag = "plume-owner-attestation-v1";

struct OwnerAttestation {
  PublicKey owner{};
  PublicKey agent{};
  PublicKey scheduler{};
  Signature signature{};  // by `owner` over OwnerAttestationSigningBytes

  bool operator==(const OwnerAttestation&) const = default;
};

std::vector<uint8_t> OwnerAttestationSigningBytes(const PublicKey& owner, const PublicKey& agent,
                                                  const PublicKey& scheduler);
// The owner's attestation that `agent` is its machine on the network of `scheduler`.
OwnerAttestation AttestOwner(const Identity& owner, const PublicKey& agent,
                             const PublicKey& scheduler);

// Why an attestation does not hold for (agent, scheduler); kOk when it does. Pure.
enum class AttestationCheck : uint8_t { kOk, kWrongAgent, kWrongScheduler, kBadSignature };
AttestationCheck CheckOwnerAttestation(const OwnerAttestation& a, const PublicKey& agent,
                                       const PublicKey& scheduler);
// A sentence for a refusal: what was wrong and what to do.
std::string AttestationRefusal(AttestationCheck check, const OwnerAttestation& a);

// The text file (format above). Parse refuses anything else: another tag, a missing or repeated
// line, a key of the wrong length, more than the size bound. It does not check the signature.
std::string FormatOwnerAttestation(const OwnerAttestation& a);
Result<OwnerAttestation> ParseOwnerAttestation(std::string_view text);
Result<OwnerAttestation> ReadOwnerAttestation(const std::filesystem::path& path);
// What an agent does at start: reads the file and checks it holds for its own key on the
// scheduler it was given, so a wrong file fails the start instead of every registration.
Result<OwnerAttestation> ReadOwnerAttestationFor(const std::filesystem::path& path,
                                                 const PublicKey& agent,
                                                 const PublicKey& scheduler);

// Register.ownerAttestation, both ways. From the wire, each field must have its exact length
// (a peer's bytes: an oversized or short one is refused, never truncated).
void OwnerAttestationToWire(const OwnerAttestation& a, wire::OwnerAttestation::Builder b);
Result<OwnerAttestation> OwnerAttestationFromWire(wire::OwnerAttestation::Reader r);

}  // namespace plume
