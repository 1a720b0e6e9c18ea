// The owner's key service under attack and across a crash (docs/data-owners.md "Key release"),
// as real processes (key_release_fixture.h):
//  - A hostile client with its own key asks with grants that are forged, expired, for another
//    task, for another agent, for another ledger, and with malformed, oversized and other-kind
//    messages: each is refused with its reason and leaves no ledger record; a valid grant for
//    that client is released (the checks can pass) once in the ledger however often asked; a key
//    asking without pause is throttled; SIGTERM stops the service cleanly.
//  - A service killed between the ledger and its reply releases the grant it recorded after a
//    restart, with the ledger's one record.
#include "key_release_fixture.h"
#include "plume/ledger/data_entries.h"
#include "plume/ledger/entry.h"

namespace plume::itest {
namespace {

TEST_F(KeyReleaseE2E, NoReleaseWithoutAValidGrant) {
  // What a hostile client can get: the scheduler's key and the ledger id are public; the test
  // also holds the scheduler's secret key, to make grants only the scheduler could make.
  auto scheduler = Identity::Load(net_.dir() / "keys" / "scheduler.key");
  ASSERT_TRUE(scheduler);
  const Identity hostile = Identity::Generate();
  const Identity bystander = Identity::Generate();
  const Hash256 ledger_id = LedgerId(hostile);
  ASSERT_NE(ledger_id, Hash256{});
  auto owner = PublicKeyFromHex(owner_id_);
  ASSERT_TRUE(owner);
  auto client = TransportClient::Connect(endpoint_, *owner, hostile);
  ASSERT_TRUE(client);
  const auto grant_for = [&](const PublicKey& agent, const std::string& task) {
    return GrantFor(*scheduler, ledger_id, agent, task);
  };

  data::Grant forged = grant_for(hostile.public_key(), "1");
  forged.scheduler_signature = data::SignGrant(forged, ledger_id, hostile);
  data::Grant expired = grant_for(hostile.public_key(), "2");
  expired.issued_unix_ms = UnixMs() - 120'000;
  expired.expires_unix_ms = UnixMs() - 60'000;
  expired.scheduler_signature = data::SignGrant(expired, ledger_id, *scheduler);
  const data::Grant other_task = grant_for(hostile.public_key(), "3");
  const data::Grant other_agent = grant_for(bystander.public_key(), "4");
  data::Grant other_ledger = grant_for(hostile.public_key(), "5");
  other_ledger.scheduler_signature =
      data::SignGrant(other_ledger, Blake2b256(std::string_view("another network")), *scheduler);

  EXPECT_NE(Ask(**client, hostile, forged, "1").find("bad_signature"), std::string::npos);
  EXPECT_NE(Ask(**client, hostile, expired, "2").find("expired"), std::string::npos);
  EXPECT_NE(Ask(**client, hostile, other_task, "33").find("wrong_task"), std::string::npos);
  EXPECT_NE(Ask(**client, hostile, other_agent, "4").find("wrong_agent"), std::string::npos);
  EXPECT_NE(Ask(**client, hostile, other_ledger, "5").find("bad_signature"), std::string::npos);
  // Malformed input: an undecodable grant, an oversized request, a message of another kind.
  {
    auto req = (*client)->NewRequest();
    auto q = req.body().initDataRequest();
    q.setDataset(dataset_);
    q.setGrant(AsData(std::vector<uint8_t>(40, 7)));
    auto reply = (*client)->Call(req, 15s);
    ASSERT_TRUE(reply && reply->kind() == MessageKind::ERROR);
    EXPECT_EQ(reply->body().getError().getCode(), wire::ErrorCode::BAD_MESSAGE);
    auto big = (*client)->NewRequest();
    auto g = big.body().initDataRequest();
    g.setDataset(dataset_);
    g.setGrant(AsData(std::vector<uint8_t>(8192, 1)));
    reply = (*client)->Call(big, 15s);
    ASSERT_TRUE(reply && reply->kind() == MessageKind::ERROR);
    EXPECT_EQ(reply->body().getError().getCode(), wire::ErrorCode::TOO_LARGE);
    auto ping = (*client)->NewRequest();
    ping.body().setPing();
    reply = (*client)->Call(ping, 15s);
    ASSERT_TRUE(reply && reply->kind() == MessageKind::ERROR);
    EXPECT_EQ(reply->body().getError().getCode(), wire::ErrorCode::UNEXPECTED);
  }
  EXPECT_TRUE(LogLines("release").empty()) << ReadFile(release_log());
  EXPECT_TRUE(LogLines("intent").empty()) << ReadFile(release_log());
  EXPECT_EQ(Access().size(), 0u);

  // The control: a grant the scheduler made for this very key and task is released, recorded
  // once, and asked again gives the same key with no second record.
  const data::Grant valid = grant_for(hostile.public_key(), "6");
  EXPECT_EQ(Ask(**client, hostile, valid, "6"), "");
  EXPECT_EQ(Ask(**client, hostile, valid, "6"), "");
  const json access = Access();
  ASSERT_EQ(access.size(), 1u) << access.dump();
  EXPECT_EQ(access[0]["task"], "6");
  EXPECT_EQ(access[0]["agent"], hostile.Id());
  const auto releases = LogLines("release");
  ASSERT_EQ(releases.size(), 2u) << ReadFile(release_log());
  EXPECT_FALSE(releases[0]["repeat"].get<bool>());
  EXPECT_TRUE(releases[1]["repeat"].get<bool>());
  EXPECT_EQ(releases[0]["index"], access[0]["index"]);

  // One key asking without pause is throttled (20 a minute), with a reason, and nothing more is
  // recorded; the service keeps running through all of it.
  std::string throttled;
  for (int i = 0; i < 40 && throttled.empty(); ++i) {
    const std::string r = Ask(**client, hostile, forged, "1");
    if (r.find("too many") != std::string::npos) throttled = r;
  }
  EXPECT_FALSE(throttled.empty());
  EXPECT_EQ(Access().size(), 1u);
  EXPECT_TRUE(service_->Running());
  // SIGTERM: a clean stop.
  service_->Signal(SIGTERM);
  EXPECT_EQ(service_->Wait(10'000ms), std::optional<int>(0)) << ReadFile(service_log());
}

// The crash window between the ledger and the reply: the service had written its record ahead
// and the ledger had applied it when it died. After a restart the agent's retry is answered with
// the key and the ledger's one record, not refused as a conflicting second record.
TEST_F(KeyReleaseE2E, ARestartedServiceReleasesAGrantItRecordedBeforeItDied) {
  auto scheduler = Identity::Load(net_.dir() / "keys" / "scheduler.key");
  auto owner = Identity::Load(owner_key());
  ASSERT_TRUE(scheduler && owner);
  const Identity agent = Identity::Generate();
  const Hash256 ledger_id = LedgerId(agent);
  const data::Grant g = GrantFor(*scheduler, ledger_id, agent.public_key(), "9");
  // What the dead service did: the intent line, then the entry applied by the ledger.
  const data::AccessRecord record{owner->public_key(), g, UnixMs()};
  service_->Signal(SIGKILL);
  (void)service_->Wait(5000ms);
  {
    std::ofstream log(release_log(), std::ios::app);
    log << json{{"event", "intent"},
                {"grant_key", data::GrantKey(g)},
                {"record", ToHex(data::EncodeAccessRecord(record))}}
               .dump()
        << "\n";
  }
  ledger::Entry e = ledger::MakeDataAccess(record);
  e.signatures.push_back(ledger::SignEntry(e, ledger_id, *owner));
  {
    auto c = TransportClient::Connect(net_.endpoint(), scheduler->public_key(), *owner);
    ASSERT_TRUE(c);
    auto req = (*c)->NewRequest();
    req.body().initLedgerSubmit().setEntry(AsData(ledger::Encode(e)));
    auto reply = (*c)->Call(req, 15s);
    ASSERT_TRUE(reply && reply->kind() == MessageKind::LEDGER_REPLY) << net_.Logs();
  }
  ASSERT_EQ(Access().size(), 1u);
  const uint64_t index = Access()[0]["index"].get<uint64_t>();
  ASSERT_TRUE(StartService()) << ReadFile(service_log());
  auto c = TransportClient::Connect(endpoint_, owner->public_key(), agent);
  ASSERT_TRUE(c);
  EXPECT_EQ(Ask(**c, agent, g, "9"), "") << ReadFile(service_log());
  EXPECT_EQ(last_index_, index);
  EXPECT_EQ(Access().size(), 1u);
  ASSERT_EQ(LogLines("release").size(), 1u);
  EXPECT_EQ(LogLines("release")[0]["index"], index);
}

}  // namespace
}  // namespace plume::itest
