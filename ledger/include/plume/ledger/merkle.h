// Merkle tree over ledger entries with RFC 9162 (Certificate Transparency v2) hashing, using
// BLAKE2b-256 as the hash: leaf = H(0x00 || data), node = H(0x01 || left || right), the tree
// hash MTH of n leaves splits at the largest power of two below n (RFC 9162 section 2.1.1).
// Inclusion and consistency proofs follow sections 2.1.3 and 2.1.4, generation and checking.
//
// MerkleTree keeps every complete subtree hash (about 2 hashes per leaf), so roots at any past
// size and proofs cost O(log^2 n) hashes. Thread-compatible.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "plume/protocol/hash.h"

namespace plume::ledger {

Hash256 MerkleLeafHash(std::span<const uint8_t> data);
Hash256 MerkleNodeHash(const Hash256& left, const Hash256& right);
// MTH of an empty tree: H() of no bytes.
Hash256 MerkleEmptyRoot();

class MerkleTree {
 public:
  void AddLeafHash(const Hash256& leaf_hash);
  uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  const Hash256& LeafHash(uint64_t index) const { return levels_[0][index]; }

  // Preconditions (programmer errors): size <= this->size(), index < size, old <= size.
  Hash256 Root(uint64_t size) const;
  Hash256 Root() const { return Root(size()); }
  std::vector<Hash256> InclusionProof(uint64_t index, uint64_t size) const;
  std::vector<Hash256> ConsistencyProof(uint64_t old_size, uint64_t size) const;

 private:
  Hash256 SubtreeHash(uint64_t begin, uint64_t end) const;
  void Path(uint64_t index, uint64_t begin, uint64_t end, std::vector<Hash256>& out) const;
  void SubProof(uint64_t m, uint64_t begin, uint64_t end, bool whole,
                std::vector<Hash256>& out) const;
  // levels_[h][i] = hash of leaves [i * 2^h, (i + 1) * 2^h).
  std::vector<std::vector<Hash256>> levels_;
};

// RFC 9162 2.1.3.2: true when `proof` shows leaf `index` with `leaf_hash` is in the tree of
// `size` leaves with root `root`.
bool VerifyInclusion(uint64_t index, uint64_t size, const Hash256& leaf_hash,
                     std::span<const Hash256> proof, const Hash256& root);
// RFC 9162 2.1.4.2: true when the tree of `size` with `root` extends the one of `old_size`
// with `old_root`. Equal sizes need an empty proof and equal roots; old_size 0 is always
// consistent (with an empty proof).
bool VerifyConsistency(uint64_t old_size, uint64_t size, const Hash256& old_root,
                       const Hash256& root, std::span<const Hash256> proof);

// Reference MTH straight from the RFC's recursive definition (for tests and Verify).
Hash256 ReferenceRoot(std::span<const Hash256> leaf_hashes);

}  // namespace plume::ledger
