// RFC 9162 Merkle proofs: for every tree size up to 300 the incremental tree's root matches the
// recursive definition; inclusion and consistency proofs verify (all pairs for small sizes, a
// sample for larger ones) and stop verifying when the leaf, the path or the head changes.
#include "plume/ledger/merkle.h"

#include <gtest/gtest.h>

#include <random>

namespace plume::ledger {
namespace {

constexpr uint64_t kMaxSize = 300;
constexpr uint64_t kAllPairsUpTo = 40;

class MerkleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (uint64_t i = 0; i < kMaxSize; ++i) {
      const std::string data = "leaf-" + std::to_string(i);
      leaves_.push_back(
          MerkleLeafHash(std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size())));
      tree_.AddLeafHash(leaves_.back());
    }
  }
  Hash256 RefRoot(uint64_t n) { return ReferenceRoot(std::span(leaves_).first(n)); }
  // (index, size) pairs: all for small sizes, a seeded sample for the rest.
  template <class Fn>
  void ForPairs(Fn fn) {
    std::mt19937_64 rng(7);
    for (uint64_t n = 1; n <= kMaxSize; ++n) {
      if (n <= kAllPairsUpTo) {
        for (uint64_t m = 0; m < n; ++m) fn(m, n);
      } else {
        for (uint64_t m : {uint64_t{0}, n - 1, n / 2, rng() % n, rng() % n}) fn(m, n);
      }
    }
  }
  std::vector<Hash256> leaves_;
  MerkleTree tree_;
};

TEST_F(MerkleTest, RootMatchesTheRecursiveDefinitionAtEverySize) {
  EXPECT_EQ(tree_.Root(0), MerkleEmptyRoot());
  for (uint64_t n = 1; n <= kMaxSize; ++n) ASSERT_EQ(tree_.Root(n), RefRoot(n)) << n;
  // Leaf and node hashes are domain-separated: a node is never a leaf of its children's bytes.
  std::vector<uint8_t> concat(64);
  std::copy(leaves_[0].begin(), leaves_[0].end(), concat.begin());
  std::copy(leaves_[1].begin(), leaves_[1].end(), concat.begin() + 32);
  EXPECT_NE(MerkleLeafHash(concat), MerkleNodeHash(leaves_[0], leaves_[1]));
}

TEST_F(MerkleTest, InclusionProofsVerifyAndDetectChanges) {
  ForPairs([&](uint64_t m, uint64_t n) {
    const Hash256 root = RefRoot(n);
    std::vector<Hash256> path = tree_.InclusionProof(m, n);
    ASSERT_TRUE(VerifyInclusion(m, n, leaves_[m], path, root)) << m << "/" << n;
    // Altered leaf, head (root), index, size.
    Hash256 other = leaves_[m];
    other[5] ^= 0x10;
    EXPECT_FALSE(VerifyInclusion(m, n, other, path, root));
    Hash256 bad_root = root;
    bad_root[31] ^= 1;
    EXPECT_FALSE(VerifyInclusion(m, n, leaves_[m], path, bad_root));
    if (n > 1) {
      EXPECT_FALSE(VerifyInclusion((m + 1) % n, n, leaves_[m], path, root));
    }
    if (n < kMaxSize) {
      EXPECT_FALSE(VerifyInclusion(m, n + 1, leaves_[m], path, RefRoot(n + 1)));
    }
    EXPECT_FALSE(VerifyInclusion(n, n, leaves_[m], path, root));
    // Altered path: each element flipped, one dropped, one added.
    for (size_t i = 0; i < path.size(); ++i) {
      path[i][0] ^= 1;
      EXPECT_FALSE(VerifyInclusion(m, n, leaves_[m], path, root));
      path[i][0] ^= 1;
    }
    if (!path.empty()) {
      EXPECT_FALSE(VerifyInclusion(m, n, leaves_[m], std::span(path).first(path.size() - 1), root));
    }
    path.push_back(leaves_[0]);
    EXPECT_FALSE(VerifyInclusion(m, n, leaves_[m], path, root));
  });
}

TEST_F(MerkleTest, ConsistencyProofsVerifyAndDetectChanges) {
  ForPairs([&](uint64_t m_index, uint64_t n) {
    const uint64_t m = m_index + 1;  // old sizes 1..n
    const Hash256 old_root = RefRoot(m);
    const Hash256 new_root = RefRoot(n);
    std::vector<Hash256> proof = tree_.ConsistencyProof(m, n);
    ASSERT_TRUE(VerifyConsistency(m, n, old_root, new_root, proof)) << m << "->" << n;
    if (m == n) {
      EXPECT_TRUE(proof.empty());
      return;
    }
    Hash256 bad = old_root;
    bad[0] ^= 1;
    EXPECT_FALSE(VerifyConsistency(m, n, bad, new_root, proof));
    bad = new_root;
    bad[0] ^= 1;
    EXPECT_FALSE(VerifyConsistency(m, n, old_root, bad, proof));
    for (size_t i = 0; i < proof.size(); ++i) {
      proof[i][3] ^= 4;
      EXPECT_FALSE(VerifyConsistency(m, n, old_root, new_root, proof))
          << m << "->" << n << " " << i;
      proof[i][3] ^= 4;
    }
    EXPECT_FALSE(
        VerifyConsistency(m, n, old_root, new_root, std::span(proof).first(proof.size() - 1)));
    // A proof for other sizes does not pass as this one.
    if (n < kMaxSize) {
      EXPECT_FALSE(VerifyConsistency(m, n + 1, old_root, RefRoot(n + 1), proof));
    }
  });
}

}  // namespace
}  // namespace plume::ledger
