// RFC 9162 Merkle tree hashing, proofs and proof checking (see merkle.h).
#include "plume/ledger/merkle.h"

#include <bit>
#include <cassert>

namespace plume::ledger {
namespace {
// Largest power of two strictly below n (n >= 2).
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }
}  // namespace

Hash256 MerkleLeafHash(std::span<const uint8_t> data) {
  Hasher h;
  const uint8_t prefix = 0x00;
  h.Update(std::span(&prefix, 1));
  h.Update(data);
  return h.Final();
}

Hash256 MerkleNodeHash(const Hash256& left, const Hash256& right) {
  uint8_t buf[65];
  buf[0] = 0x01;
  std::copy(left.begin(), left.end(), buf + 1);
  std::copy(right.begin(), right.end(), buf + 33);
  return Blake2b256(std::span<const uint8_t>(buf, sizeof(buf)));
}

Hash256 MerkleEmptyRoot() { return Blake2b256(std::span<const uint8_t>()); }

void MerkleTree::AddLeafHash(const Hash256& leaf_hash) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf_hash);
  // Complete every subtree the new leaf closes.
  for (size_t h = 0; levels_[h].size() % 2 == 0; ++h) {
    if (levels_.size() == h + 1) levels_.emplace_back();
    const size_t n = levels_[h].size();
    levels_[h + 1].push_back(MerkleNodeHash(levels_[h][n - 2], levels_[h][n - 1]));
  }
}

Hash256 MerkleTree::SubtreeHash(uint64_t begin, uint64_t end) const {
  const uint64_t n = end - begin;
  assert(n >= 1);
  if (std::has_single_bit(n) && begin % n == 0) {
    const int h = std::countr_zero(n);
    return levels_[h][begin >> h];
  }
  const uint64_t k = SplitPoint(n);
  return MerkleNodeHash(SubtreeHash(begin, begin + k), SubtreeHash(begin + k, end));
}

Hash256 MerkleTree::Root(uint64_t n) const {
  assert(n <= size());
  return n == 0 ? MerkleEmptyRoot() : SubtreeHash(0, n);
}

void MerkleTree::Path(uint64_t index, uint64_t begin, uint64_t end,
                      std::vector<Hash256>& out) const {
  const uint64_t n = end - begin;
  if (n == 1) return;
  const uint64_t k = SplitPoint(n);
  if (index < k) {
    Path(index, begin, begin + k, out);
    out.push_back(SubtreeHash(begin + k, end));
  } else {
    Path(index - k, begin + k, end, out);
    out.push_back(SubtreeHash(begin, begin + k));
  }
}

std::vector<Hash256> MerkleTree::InclusionProof(uint64_t index, uint64_t n) const {
  assert(index < n && n <= size());
  std::vector<Hash256> out;
  Path(index, 0, n, out);
  return out;
}

void MerkleTree::SubProof(uint64_t m, uint64_t begin, uint64_t end, bool whole,
                          std::vector<Hash256>& out) const {
  const uint64_t n = end - begin;
  if (m == n) {
    if (!whole) out.push_back(SubtreeHash(begin, end));
    return;
  }
  const uint64_t k = SplitPoint(n);
  if (m <= k) {
    SubProof(m, begin, begin + k, whole, out);
    out.push_back(SubtreeHash(begin + k, end));
  } else {
    SubProof(m - k, begin + k, end, false, out);
    out.push_back(SubtreeHash(begin, begin + k));
  }
}

std::vector<Hash256> MerkleTree::ConsistencyProof(uint64_t old_size, uint64_t n) const {
  assert(old_size <= n && n <= size());
  std::vector<Hash256> out;
  if (old_size == 0 || old_size == n) return out;
  SubProof(old_size, 0, n, true, out);
  return out;
}

bool VerifyInclusion(uint64_t index, uint64_t size, const Hash256& leaf_hash,
                     std::span<const Hash256> proof, const Hash256& root) {
  if (index >= size) return false;
  uint64_t fn = index;
  uint64_t sn = size - 1;
  Hash256 r = leaf_hash;
  for (const Hash256& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      r = MerkleNodeHash(p, r);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = MerkleNodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool VerifyConsistency(uint64_t old_size, uint64_t size, const Hash256& old_root,
                       const Hash256& root, std::span<const Hash256> proof) {
  if (old_size > size) return false;
  if (old_size == 0) return proof.empty();
  if (old_size == size) return proof.empty() && old_root == root;
  if (proof.empty()) return false;
  std::vector<Hash256> path;
  if (std::has_single_bit(old_size)) path.push_back(old_root);
  path.insert(path.end(), proof.begin(), proof.end());
  uint64_t fn = old_size - 1;
  uint64_t sn = size - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash256 fr = path[0];
  Hash256 sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Hash256& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      fr = MerkleNodeHash(c, fr);
      sr = MerkleNodeHash(c, sr);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = MerkleNodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return fr == old_root && sr == root && sn == 0;
}

Hash256 ReferenceRoot(std::span<const Hash256> leaves) {
  if (leaves.empty()) return MerkleEmptyRoot();
  if (leaves.size() == 1) return leaves[0];
  const uint64_t k = SplitPoint(leaves.size());
  return MerkleNodeHash(ReferenceRoot(leaves.first(k)), ReferenceRoot(leaves.subspan(k)));
}

}  // namespace plume::ledger
