// Grants: a valid grant passes, and each way a grant can be wrong (forged, other ledger,
// expired, not yet issued, other agent, other dataset, other task, out of shape) is refused
// with its own answer.
#include "plume/data/grant.h"

#include <gtest/gtest.h>

#include "plume/data/limits.h"

namespace plume::data {
namespace {

struct Fixture {
  Identity scheduler = Identity::Generate();
  Identity agent = Identity::Generate();
  Hash256 ledger = Blake2b256(std::string_view("ledger"));
  Grant grant;
  Fixture() {
    grant.dataset = std::string(32, 'd');
    grant.job = "job-1";
    grant.task = "job-1/r0/t0";
    grant.attempt = 1;
    grant.agent = agent.public_key();
    grant.issued_unix_ms = 1'000'000;
    grant.expires_unix_ms = 1'000'000 + 3'600'000;
    grant.scheduler_signature = SignGrant(grant, ledger, scheduler);
  }
  GrantRequest Request(uint64_t now = 1'000'100) const {
    return GrantRequest{grant.dataset, grant.job, grant.task, agent.public_key(), now};
  }
  GrantCheck Check(const Grant& g, const GrantRequest& r) const {
    return CheckGrant(g, ledger, scheduler.public_key(), r);
  }
};

TEST(Grant, ValidGrantPassesAndRoundTrips) {
  Fixture f;
  EXPECT_EQ(f.Check(f.grant, f.Request()), GrantCheck::kOk);
  auto back = DecodeGrant(EncodeGrant(f.grant));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, f.grant);
  std::vector<uint8_t> bytes = EncodeGrant(f.grant);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeGrant(std::span(bytes.data(), n)).has_value()) << n;
  }
}

TEST(Grant, EachWrongGrantIsRefused) {
  Fixture f;
  // Forged: signed by someone else, or a field changed after signing.
  Grant forged = f.grant;
  forged.scheduler_signature = SignGrant(forged, f.ledger, Identity::Generate());
  EXPECT_EQ(f.Check(forged, f.Request()), GrantCheck::kBadSignature);
  Grant stretched = f.grant;
  stretched.expires_unix_ms += 1;
  EXPECT_EQ(f.Check(stretched, f.Request()), GrantCheck::kBadSignature);
  // Signed for another ledger.
  EXPECT_EQ(CheckGrant(f.grant, Blake2b256(std::string_view("other")), f.scheduler.public_key(),
                       f.Request()),
            GrantCheck::kBadSignature);
  // Expired, or issued later than any skew explains.
  EXPECT_EQ(f.Check(f.grant, f.Request(f.grant.expires_unix_ms)), GrantCheck::kExpired);
  EXPECT_EQ(f.Check(f.grant, f.Request(f.grant.issued_unix_ms - kClockSkewMsMax - 1)),
            GrantCheck::kExpired);
  EXPECT_EQ(f.Check(f.grant, f.Request(f.grant.issued_unix_ms - kClockSkewMsMax)),
            GrantCheck::kOk);
  // Another agent presents it.
  GrantRequest other_agent = f.Request();
  other_agent.peer = Identity::Generate().public_key();
  EXPECT_EQ(f.Check(f.grant, other_agent), GrantCheck::kWrongAgent);
  // For another dataset, job or task than asked.
  GrantRequest other_dataset = f.Request();
  const std::string ds(32, 'e');
  other_dataset.dataset = ds;
  EXPECT_EQ(f.Check(f.grant, other_dataset), GrantCheck::kWrongDataset);
  GrantRequest other_task = f.Request();
  other_task.task = "job-1/r0/t1";
  EXPECT_EQ(f.Check(f.grant, other_task), GrantCheck::kWrongTask);
  GrantRequest other_job = f.Request();
  other_job.job = "job-2";
  EXPECT_EQ(f.Check(f.grant, other_job), GrantCheck::kWrongTask);
}

TEST(Grant, OutOfShapeGrantsAreMalformedEvenWhenSigned) {
  Fixture f;
  const auto signed_copy = [&](auto change) {
    Grant g = f.grant;
    change(g);
    g.scheduler_signature = SignGrant(g, f.ledger, f.scheduler);
    return f.Check(g, f.Request());
  };
  EXPECT_EQ(signed_copy([](Grant& g) { g.expires_unix_ms = g.issued_unix_ms; }),
            GrantCheck::kMalformed);
  EXPECT_EQ(signed_copy([](Grant& g) {
              g.expires_unix_ms = g.issued_unix_ms + kGrantLifetimeMsMax + 1;
            }),
            GrantCheck::kMalformed);
  EXPECT_EQ(signed_copy([](Grant& g) { g.dataset = "short"; }), GrantCheck::kMalformed);
  EXPECT_EQ(signed_copy([](Grant& g) { g.task.clear(); }), GrantCheck::kMalformed);
}

}  // namespace
}  // namespace plume::data

namespace plume::data {
namespace {
TEST(Grant, AccessRecordRoundTripsAndRefusesDamage) {
  Fixture f;
  AccessRecord r{Identity::Generate().public_key(), f.grant, 1'000'200};
  const std::vector<uint8_t> bytes = EncodeAccessRecord(r);
  EXPECT_EQ(DecodeAccessRecord(bytes).value(), r);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeAccessRecord(std::span(bytes.data(), n)).has_value()) << n;
  }
  std::vector<uint8_t> longer = bytes;
  longer.push_back(1);
  EXPECT_FALSE(DecodeAccessRecord(longer).has_value());
  EXPECT_EQ(GrantKey(f.grant).size(), 32u);
  Grant other = f.grant;
  other.attempt += 1;
  EXPECT_NE(GrantKey(other), GrantKey(f.grant));
}
}  // namespace
}  // namespace plume::data
