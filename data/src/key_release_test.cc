// The key service's decision: a valid grant is released once and repeated after, and every
// other request is refused with its own reason (size, rate, dataset not served, undecodable,
// forged, other ledger, expired, other agent, other dataset, other task). The rate limiter
// refills, bounds the peers it tracks, and forgets only peers that lost nothing.
#include "plume/data/key_release.h"

#include <gtest/gtest.h>

namespace plume::data {
namespace {

constexpr uint64_t kNow = 5'000'000;

struct Fixture {
  Identity scheduler = Identity::Generate();
  Identity agent = Identity::Generate();
  KeyServicePolicy policy;
  Grant grant;
  std::vector<uint8_t> bytes;
  PeerRate rate{1000, 100};
  std::set<std::string> released;
  Fixture() {
    policy.ledger_id = Blake2b256(std::string_view("ledger"));
    policy.scheduler = scheduler.public_key();
    policy.datasets = {std::string(32, 'd')};
    grant.dataset = std::string(32, 'd');
    grant.job = "job-1";
    grant.task = "7";
    grant.attempt = 1;
    grant.agent = agent.public_key();
    grant.issued_unix_ms = kNow - 1000;
    grant.expires_unix_ms = kNow + 60'000;
    Sign(grant);
  }
  void Sign(Grant& g, const Identity* by = nullptr, const Hash256* ledger = nullptr) {
    g.scheduler_signature = SignGrant(g, ledger ? *ledger : policy.ledger_id, by ? *by : scheduler);
    bytes = EncodeGrant(g);
  }
  KeyRequest Request(const PublicKey& peer, uint64_t now = kNow) const {
    return KeyRequest{grant.dataset, grant.job, grant.task, bytes, 300, peer, now};
  }
  Decision Decide(const KeyRequest& r) { return DecideRelease(policy, r, rate, released); }
};

TEST(KeyRelease, ValidGrantIsReleasedThenRepeatedToTheSameAgent) {
  Fixture f;
  Decision d = f.Decide(f.Request(f.agent.public_key()));
  ASSERT_EQ(d.verdict, ReleaseVerdict::kRelease) << d.Reason();
  EXPECT_EQ(d.grant, f.grant);
  EXPECT_EQ(d.grant_key, GrantKey(f.grant));
  EXPECT_TRUE(d.Reason().empty());
  f.released.insert(d.grant_key);
  EXPECT_EQ(f.Decide(f.Request(f.agent.public_key())).verdict, ReleaseVerdict::kRepeat);
  // A repeat still needs everything a first release needs: another agent gets nothing.
  Decision other = f.Decide(f.Request(Identity::Generate().public_key()));
  EXPECT_EQ(other.verdict, ReleaseVerdict::kGrantRefused);
  EXPECT_EQ(other.check, GrantCheck::kWrongAgent);
  EXPECT_FALSE(other.released());
}

TEST(KeyRelease, EachBadRequestIsRefusedWithItsReason) {
  const auto refused = [](Fixture& f, const KeyRequest& r, GrantCheck want) {
    Decision d = f.Decide(r);
    EXPECT_EQ(d.verdict, ReleaseVerdict::kGrantRefused) << ReleaseVerdictName(d.verdict);
    EXPECT_EQ(d.check, want) << GrantCheckName(d.check);
    EXPECT_NE(d.Reason().find(GrantCheckName(want)), std::string::npos) << d.Reason();
    EXPECT_FALSE(d.released());
  };
  {  // forged: signed by a key that is not the scheduler's
    Fixture f;
    const Identity forger = Identity::Generate();
    f.Sign(f.grant, &forger);
    refused(f, f.Request(f.agent.public_key()), GrantCheck::kBadSignature);
  }
  {  // the scheduler's key, another ledger's id
    Fixture f;
    const Hash256 other = Blake2b256(std::string_view("other ledger"));
    f.Sign(f.grant, nullptr, &other);
    refused(f, f.Request(f.agent.public_key()), GrantCheck::kBadSignature);
  }
  {  // expired
    Fixture f;
    refused(f, f.Request(f.agent.public_key(), f.grant.expires_unix_ms), GrantCheck::kExpired);
  }
  {  // another agent presents it
    Fixture f;
    refused(f, f.Request(Identity::Generate().public_key()), GrantCheck::kWrongAgent);
  }
  {  // names another task than the grant's
    Fixture f;
    KeyRequest r = f.Request(f.agent.public_key());
    r.task = "8";
    refused(f, r, GrantCheck::kWrongTask);
  }
  {  // the grant is for another dataset this service also serves
    Fixture f;
    f.policy.datasets.insert(std::string(32, 'e'));
    KeyRequest r = f.Request(f.agent.public_key());
    r.dataset = *f.policy.datasets.rbegin();
    refused(f, r, GrantCheck::kWrongDataset);
  }
  Fixture f;
  KeyRequest r = f.Request(f.agent.public_key());
  r.dataset = std::string(32, 'z');
  EXPECT_EQ(f.Decide(r).verdict, ReleaseVerdict::kNotServed);
  r = f.Request(f.agent.public_key());
  std::vector<uint8_t> garbage(40, 7);
  r.grant = garbage;
  EXPECT_EQ(f.Decide(r).verdict, ReleaseVerdict::kBadGrant);
  r = f.Request(f.agent.public_key());
  r.request_bytes = kKeyRequestBytesMax + 1;
  EXPECT_EQ(f.Decide(r).verdict, ReleaseVerdict::kTooLarge);
  EXPECT_FALSE(f.Decide(r).Reason().empty());
}

TEST(KeyRelease, PeerRateThrottlesRefillsAndStaysBounded) {
  PeerRate rate(3, 2);
  const PublicKey a = Identity::Generate().public_key(), b = Identity::Generate().public_key(),
                  c = Identity::Generate().public_key();
  EXPECT_TRUE(rate.Allow(a, 0));
  EXPECT_TRUE(rate.Allow(a, 0));
  EXPECT_TRUE(rate.Allow(a, 0));
  EXPECT_FALSE(rate.Allow(a, 0));
  EXPECT_FALSE(rate.Allow(a, 19'000));  // one token per 20 s
  EXPECT_TRUE(rate.Allow(a, 20'000));
  EXPECT_TRUE(rate.Allow(b, 20'000));
  // The table is full and both peers are throttled or partly spent: a newcomer waits.
  EXPECT_FALSE(rate.Allow(c, 20'000));
  EXPECT_EQ(rate.tracked(), 2u);
  // Once their buckets are full again they are forgotten and the newcomer is let in.
  EXPECT_TRUE(rate.Allow(c, 200'000));
  EXPECT_LE(rate.tracked(), 2u);
  // Through DecideRelease: a throttled peer is refused before its grant is even read.
  Fixture f;
  f.rate = PeerRate(1, 10);
  EXPECT_EQ(f.Decide(f.Request(f.agent.public_key())).verdict, ReleaseVerdict::kRelease);
  EXPECT_EQ(f.Decide(f.Request(f.agent.public_key())).verdict, ReleaseVerdict::kRateLimited);
}

}  // namespace
}  // namespace plume::data
