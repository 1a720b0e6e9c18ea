// Receipts: sign then verify gives the same fields; any changed byte, a wrong signer or a
// non-canonical encoding is refused. The commitment root binds every link of a chain, and a
// receipt without one encodes exactly as before the field existed.
#include "plume/protocol/receipt.h"

#include <gtest/gtest.h>

namespace plume {
namespace {

ReceiptFields Sample() {
  ReceiptFields f;
  f.job_id = "job-7";
  f.task_id = 3;
  f.attempt = 1;
  f.inputs = {Blake2b256(std::string_view("params")), Blake2b256(std::string_view("shard"))};
  f.output = Blake2b256(std::string_view("delta"));
  f.tokens = 65536;
  f.flops = 1.5e12;
  f.finished_at_ms = 1764000000000;
  return f;
}

std::span<const uint8_t> Span(const std::string& s) {
  return std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(ReceiptTest, SignVerifyRoundTripIsDeterministic) {
  Identity agent = Identity::Generate();
  auto a = SignReceipt(agent, Sample());
  auto b = SignReceipt(agent, Sample());
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->bytes, b->bytes);  // canonical: same fields, same bytes
  auto fields = VerifyReceipt(Span(a->bytes), a->signature);
  ASSERT_TRUE(fields) << fields.error().message;
  ReceiptFields want = Sample();
  want.agent = agent.public_key();
  EXPECT_EQ(*fields, want);
  EXPECT_EQ(ReceiptHash(Span(a->bytes)), Blake2b256(a->bytes));
}

TEST(ReceiptTest, TamperingOrWrongSignerIsRefused) {
  Identity agent = Identity::Generate(), other = Identity::Generate();
  auto r = *SignReceipt(agent, Sample());
  for (size_t i = 0; i < r.bytes.size(); i += 7) {
    std::string bad = r.bytes;
    bad[i] ^= 0x01;
    EXPECT_FALSE(VerifyReceipt(Span(bad), r.signature)) << "flip at byte " << i;
  }
  auto forged = *SignReceipt(other, Sample());
  EXPECT_FALSE(VerifyReceipt(Span(r.bytes), forged.signature));
  EXPECT_FALSE(VerifyReceipt(Span(r.bytes), std::span(r.signature).first(10)));
  EXPECT_FALSE(VerifyReceipt(Span(std::string("short")), r.signature));
}

std::vector<Hash256> Chain() {
  std::vector<Hash256> chain;
  for (int i = 0; i < 25; ++i) chain.push_back(Blake2b256("link " + std::to_string(i)));
  return chain;
}

TEST(ReceiptTest, TheCommitmentRootIsSignedAndBindsEveryLink) {
  Identity agent = Identity::Generate();
  const std::vector<Hash256> chain = Chain();
  ReceiptFields f = Sample();
  f.commitment = CommitmentRoot(chain);
  auto r = SignReceipt(agent, f);
  ASSERT_TRUE(r);
  auto fields = VerifyReceipt(Span(r->bytes), r->signature);
  ASSERT_TRUE(fields) << fields.error().message;
  ASSERT_TRUE(fields->commitment);
  EXPECT_EQ(*fields->commitment, CommitmentRoot(chain));
  // A chain changed after signing (any link, a link dropped) no longer matches the signed root.
  for (size_t i = 0; i < chain.size(); ++i) {
    std::vector<Hash256> tampered = chain;
    tampered[i][31] ^= 1;
    EXPECT_NE(CommitmentRoot(tampered), *fields->commitment) << "link " << i;
  }
  EXPECT_NE(CommitmentRoot(std::span(chain).first(24)), *fields->commitment);
  // And a root changed inside the signed bytes fails the signature.
  const std::string root(reinterpret_cast<const char*>(f.commitment->data()), 32);
  const size_t at = r->bytes.find(root);
  ASSERT_NE(at, std::string::npos);
  std::string bad = r->bytes;
  bad[at + 5] ^= 0x40;
  EXPECT_FALSE(VerifyReceipt(Span(bad), r->signature));
}

TEST(ReceiptTest, AReceiptWithoutCommitmentsEncodesAsBeforeTheField) {
  Identity agent = Identity::Generate();
  auto plain = SignReceipt(agent, Sample());
  ReceiptFields f = Sample();
  f.commitment = CommitmentRoot(Chain());
  auto committed = SignReceipt(agent, f);
  ASSERT_TRUE(plain && committed);
  // One more pointer (8 bytes) and its 32 bytes of data: nothing else moves, so a receipt with
  // no commitment keeps the exact bytes (and signature) older agents produced.
  EXPECT_EQ(committed->bytes.size(), plain->bytes.size() + 40);
  auto fields = VerifyReceipt(Span(plain->bytes), plain->signature);
  ASSERT_TRUE(fields);
  EXPECT_FALSE(fields->commitment);
}

}  // namespace
}  // namespace plume
