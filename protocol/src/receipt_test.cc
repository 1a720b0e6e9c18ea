// Receipts: sign then verify gives the same fields; any changed byte, a wrong signer or a
// non-canonical encoding is refused.
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

}  // namespace
}  // namespace plume
