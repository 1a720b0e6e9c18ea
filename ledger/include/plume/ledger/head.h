// Signed tree heads: the ledger key's signature over (tree size, time, Merkle root). A client
// that holds a head checks inclusion proofs against it (merkle.h) and consistency proofs
// between two heads, so it needs to trust only the ledger's public key.
#pragma once

#include <cstdint>
#include <vector>

#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"

namespace plume::ledger {

struct SignedTreeHead {
  uint64_t tree_size = 0;
  uint64_t timestamp_unix_ms = 0;
  Hash256 root{};
  Signature signature{};
  bool operator==(const SignedTreeHead&) const = default;
};

std::vector<uint8_t> HeadSigningBytes(const SignedTreeHead& head);
SignedTreeHead SignHead(uint64_t tree_size, uint64_t timestamp_unix_ms, const Hash256& root,
                        const Identity& ledger);
bool VerifyHead(const SignedTreeHead& head, const PublicKey& ledger);

}  // namespace plume::ledger
