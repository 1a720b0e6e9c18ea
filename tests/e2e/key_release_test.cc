// Key release end to end (docs/data-owners.md "Key release"): a real plume-scheduler with its
// ledger, real plume-agent processes and the owner's real `plume data serve` on loopback.
//  - An encrypted dataset trains to the end and pays its royalties; the release log and the
//    ledger's data_access records (`plume data access`) match one to one; no file the scheduler
//    or any agent wrote, nor their logs, holds a piece of the plaintext.
//  - A hostile client with its own key asks the running key service with grants that are forged,
//    expired, for another task, for another agent, for another ledger: each is refused with its
//    reason and leaves no ledger record; a valid grant for that client is released (the checks
//    can pass) and is the only record.
//  - kill -9 of the key service mid-job: the agent's task fails retryable, and once the service
//    is back the job finishes; a service killed between the ledger and its reply releases the
//    grant it recorded after a restart, with no second record.
//  - With replay audits on, the auditing agent gets its own grant and its own ledger record.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "marked_text.h"
#include "network.h"
#include "paid_network.h"
#include "plume/data/crypt.h"
#include "plume/data/grant.h"
#include "plume/ledger/data_entries.h"
#include "plume/ledger/entry.h"
#include "plume/protocol/message.h"
#include "plume/protocol/transport.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

uint16_t FreePort() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(s);
  return ntohs(a.sin_port);
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

uint64_t UnixMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

class KeyReleaseE2E : public ::testing::Test {
 protected:
  // Replay audits on: each new provider's results are re-run by another agent.
  virtual bool Audits() const { return false; }
  void SetUp() override {
    owner_id_ = MakeKey(owner_key());
    std::string why;
    if (Audits()) net_.EnableAudits();
    ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
    CommandResult mint = paid_.Mint("mint:team", 50'000'000'000, paid_.operator_key());
    ASSERT_EQ(mint.exit_code, 0) << mint.out << mint.err << net_.Logs();
    endpoint_ = "tcp://127.0.0.1:" + std::to_string(FreePort());
    const fs::path text = WriteMarkedText(net_.dir().path(), "secret.txt", 600);
    CommandResult r = net_.Cli({"data", "publish", text.string(), "--encrypt", "--key-service",
                                endpoint_, "--royalty", std::to_string(kRate), "--keys-dir",
                                keys_dir().string(), "--json", "--key", owner_key().string()});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err << net_.Logs();
    dataset_ = json::parse(r.out).value("dataset", "");
    ASSERT_EQ(dataset_.size(), 32u) << r.out;
    ASSERT_TRUE(StartService()) << ReadAll(service_log());
  }
  void TearDown() override {
    if (service_) service_->Kill();
  }

  static constexpr uint64_t kRate = 1'000'000'000;
  fs::path owner_key() const { return net_.dir() / "keys" / "owner.key"; }
  fs::path keys_dir() const { return net_.dir() / "owner-data-keys"; }
  fs::path release_log() const { return net_.dir() / "releases.jsonl"; }
  fs::path service_log() const { return net_.dir() / "data-serve.log"; }

  // Starts `plume data serve` and waits until it listens (its log says so).
  bool StartService() {
    const size_t before = ReadAll(service_log()).size();
    service_ = Process::Spawn({PLUME_CLI_BIN, "data", "serve", dataset_, "--keys-dir",
                               keys_dir().string(), "--log", release_log().string(), "--key",
                               owner_key().string(), "--scheduler", net_.endpoint(),
                               "--scheduler-id", net_.scheduler_id()},
                              service_log());
    if (!service_) return false;
    for (int i = 0; i < 300; ++i) {
      const std::string log = ReadAll(service_log());
      if (log.find(" on " + endpoint_, before) != std::string::npos) return true;
      if (!service_->Running()) return false;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // Release log lines of `event`.
  std::vector<json> LogLines(const std::string& event) const {
    std::vector<json> out;
    std::ifstream in(release_log());
    std::string line;
    while (std::getline(in, line)) {
      auto j = json::parse(line, nullptr, false);
      if (j.is_object() && j.value("event", "") == event) out.push_back(j);
    }
    return out;
  }
  json Access() {
    std::string why;
    auto a = net_.CliJson({"data", "access", dataset_, "--key", owner_key().string()}, &why);
    EXPECT_TRUE(a) << why;
    return a ? *a : json::array();
  }
  std::string Submit(int rounds) {
    TrainShape shape;
    shape.workers = 1;
    shape.rounds = rounds;
    shape.local_steps = 3;
    const fs::path spec = paid_.WriteSpec("secret-job", WriteTrainingText(net_.dir().path(), 4096),
                                          shape, 1'000'000'000'000);
    std::string why;
    auto ack = net_.CliJson({"submit", spec.string(), "--dataset", dataset_}, &why);
    EXPECT_TRUE(ack) << why << net_.Logs();
    return ack ? ack->value("job_id", "") : "";
  }
  // Files any process but the owner's wrote that hold the marker.
  std::vector<std::string> PlaintextOutsideTheOwner(const std::vector<std::string>& agents) const {
    std::vector<std::string> hits = FilesWithMarker(net_.dir().path() / "scheduler-data");
    const auto add = [&](const fs::path& p) {
      for (auto& h : FilesWithMarker(p)) hits.push_back(h);
    };
    add(net_.scheduler_log());
    for (const std::string& a : agents) {
      add(net_.dir().path() / ("agent-" + a + "-cache"));
      add(net_.agent_log(a));
    }
    return hits;
  }

  // Asks the key service with `g` as `who`; "" when a key came back that `who` can open, else
  // the refusal's text.
  std::string Ask(TransportClient& c, const Identity& who, const data::Grant& g,
                  const std::string& task) {
    auto req = c.NewRequest();
    auto q = req.body().initDataRequest();
    q.setDataset(dataset_);
    q.setJob(g.job);
    q.setTask(task);
    q.setGrant(AsData(data::EncodeGrant(g)));
    auto reply = c.Call(req, 15s);
    if (!reply) return "no answer";
    if (reply->kind() == MessageKind::ERROR) return reply->body().getError().getMessage().cStr();
    last_index_ = reply->body().getDataReply().getAccessIndex();
    auto sealed = reply->body().getDataReply().getSealedKey();
    auto key = data::OpenDataKey(std::vector<uint8_t>(sealed.begin(), sealed.end()), who);
    return key ? "" : "a key that does not open";
  }
  // The scheduler's identity (the test made its key) and its ledger's id, as a hostile client
  // could not have them: to make grants only the scheduler could make.
  Hash256 LedgerId(const Identity& asker) {
    Hash256 id{};
    auto server = PublicKeyFromHex(net_.scheduler_id());
    auto c = TransportClient::Connect(net_.endpoint(), *server, asker);
    if (!c) return id;
    auto req = (*c)->NewRequest();
    req.body().initLedgerQuery().setHead();
    auto reply = (*c)->Call(req, 10s);
    if (!reply || reply->kind() != MessageKind::LEDGER_REPLY) return id;
    auto bytes = reply->body().getLedgerReply().getHead().getLedgerId();
    if (bytes.size() == id.size()) std::copy(bytes.begin(), bytes.end(), id.begin());
    return id;
  }
  data::Grant GrantFor(const Identity& scheduler, const Hash256& ledger_id, const PublicKey& agent,
                       const std::string& task) const {
    data::Grant g;
    g.dataset = dataset_;
    g.job = "job-hostile";
    g.task = task;
    g.attempt = 1;
    g.agent = agent;
    g.issued_unix_ms = UnixMs();
    g.expires_unix_ms = g.issued_unix_ms + 600'000;
    g.scheduler_signature = data::SignGrant(g, ledger_id, scheduler);
    return g;
  }

  uint64_t last_index_ = 0;
  Network net_{"keyrelease"};
  PaidNetwork paid_{net_};
  std::string owner_id_;
  std::string endpoint_;
  std::string dataset_;
  std::optional<Process> service_;
};

TEST_F(KeyReleaseE2E, EncryptedDatasetTrainsPaysAndEveryReleaseIsInTheLedger) {
  std::string why;
  ASSERT_TRUE(net_.StartAgent("a", &why, {"--price", "1000000000000"})) << why;
  ASSERT_TRUE(net_.StartAgent("b", &why, {"--price", "1000000000000"})) << why;
  ASSERT_TRUE(net_.WaitActiveNodes(2, 30s)) << net_.Logs();
  const int rounds = 2;
  const std::string job = Submit(rounds);
  ASSERT_FALSE(job.empty());
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, 180s);
  ASSERT_TRUE(done) << net_.Logs();
  ASSERT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs() << ReadAll(service_log());

  // Royalties: one leg per settle of the job, the figure the spec gives.
  const uint64_t tokens = uint64_t{3} * 8 * 32;
  const int64_t per_task = static_cast<int64_t>(tokens * kRate / 1'000'000);
  auto history = paid_.History(&why);
  ASSERT_TRUE(history) << why;
  int settles = 0;
  for (const json& e : *history) {
    if (e["type"] != "settle" || e["job"] != job) continue;
    ++settles;
    ASSERT_EQ(e["legs"].size(), 1u) << e.dump();
    EXPECT_EQ(e["legs"][0]["account"], "team:" + owner_id_);
    EXPECT_EQ(e["legs"][0]["amount_micro_plume"], per_task) << e.dump();
  }
  EXPECT_EQ(settles, rounds);

  // Every release has its ledger record and every record its release: the same grants, the same
  // (job, task, attempt, agent); each went to one of the network's agents.
  const std::vector<json> releases = LogLines("release");
  ASSERT_GE(releases.size(), static_cast<size_t>(rounds)) << ReadAll(release_log());
  const json access = Access();
  std::set<std::string> from_log, from_ledger;
  const std::set<std::string> agents{net_.agent_id("a"), net_.agent_id("b")};
  for (const json& r : releases) {
    EXPECT_EQ(r["job"], job);
    EXPECT_TRUE(agents.count(r["agent"].get<std::string>())) << r.dump();
    from_log.insert(r["task"].get<std::string>() + "/" + std::to_string(r["attempt"].get<int>()) +
                    "/" + r["agent"].get<std::string>());
  }
  for (const json& a : access) {
    from_ledger.insert(a["task"].get<std::string>() + "/" +
                       std::to_string(a["attempt"].get<int>()) + "/" +
                       a["agent"].get<std::string>());
  }
  EXPECT_EQ(from_log, from_ledger) << ReadAll(release_log()) << access.dump();
  EXPECT_EQ(access.size(), from_ledger.size());

  // No plaintext in anything the scheduler or either agent wrote (the scan finds it in the
  // owner's own file, so it would find a copy).
  EXPECT_EQ(FilesWithMarker(net_.dir().path() / "secret.txt").size(), 1u);
  EXPECT_EQ(PlaintextOutsideTheOwner({"a", "b"}), std::vector<std::string>{});
  CommandResult verify = net_.Cli({"ledger", "verify", paid_.ledger_dir()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

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
  EXPECT_TRUE(LogLines("release").empty()) << ReadAll(release_log());
  EXPECT_TRUE(LogLines("intent").empty()) << ReadAll(release_log());
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
  ASSERT_EQ(releases.size(), 2u) << ReadAll(release_log());
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
  EXPECT_EQ(service_->Wait(10'000ms), std::optional<int>(0)) << ReadAll(service_log());
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
  ASSERT_TRUE(StartService()) << ReadAll(service_log());
  auto c = TransportClient::Connect(endpoint_, owner->public_key(), agent);
  ASSERT_TRUE(c);
  EXPECT_EQ(Ask(**c, agent, g, "9"), "") << ReadAll(service_log());
  EXPECT_EQ(last_index_, index);
  EXPECT_EQ(Access().size(), 1u);
  ASSERT_EQ(LogLines("release").size(), 1u);
  EXPECT_EQ(LogLines("release")[0]["index"], index);
}

TEST_F(KeyReleaseE2E, KeyServiceKilledMidJobTheJobFinishesOnceItIsBack) {
  std::string why;
  ASSERT_TRUE(net_.StartAgent("a", &why, {"--price", "1000000000000"})) << why;
  ASSERT_TRUE(net_.WaitActiveNodes(1, 30s)) << net_.Logs();
  const std::string job = Submit(3);
  ASSERT_FALSE(job.empty());
  // Round 0's key is released; then the service dies without a word.
  for (int i = 0; i < 600 && LogLines("release").empty(); ++i) std::this_thread::sleep_for(100ms);
  ASSERT_FALSE(LogLines("release").empty()) << net_.Logs() << ReadAll(service_log());
  service_->Signal(SIGKILL);
  (void)service_->Wait(5000ms);
  // A later round's task cannot get its key: the agent reports a retryable failure, not a crash.
  for (int i = 0; i < 900 && !net_.AgentLogHas("a", "no data key for dataset"); ++i) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(net_.AgentLogHas("a", "no data key for dataset")) << net_.Logs();
  EXPECT_TRUE(net_.agent("a").Running());
  ASSERT_TRUE(StartService()) << ReadAll(service_log());
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, 240s);
  ASSERT_TRUE(done) << net_.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs() << ReadAll(service_log());
  // Still one record per released grant, across the restart.
  std::set<std::string> logged;
  for (const json& r : LogLines("release")) logged.insert(r["grant_key"].get<std::string>());
  EXPECT_EQ(Access().size(), logged.size());
  EXPECT_EQ(PlaintextOutsideTheOwner({"a"}), std::vector<std::string>{});
}

// Replay audits read the data too: a new provider's result is re-run by the other agent, which
// gets a grant of its own for the audit run, and that release is in the ledger like the first.
class KeyReleaseAuditE2E : public KeyReleaseE2E {
 protected:
  bool Audits() const override { return true; }
};

TEST_F(KeyReleaseAuditE2E, AReplayAuditOfAnEncryptedTaskGetsItsOwnGrant) {
  std::string why;
  ASSERT_TRUE(net_.StartAgent("a", &why, {"--price", "1000000000000"})) << why;
  ASSERT_TRUE(net_.StartAgent("b", &why, {"--price", "1000000000000"})) << why;
  ASSERT_TRUE(net_.WaitActiveNodes(2, 30s)) << net_.Logs();
  const std::string job = Submit(1);
  ASSERT_FALSE(job.empty());
  const auto agents_released = [&] {
    std::set<std::string> agents;
    for (const json& r : LogLines("release")) agents.insert(r["agent"].get<std::string>());
    return agents;
  };
  for (int i = 0; i < 1200 && agents_released().size() < 2; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(agents_released(),
            (std::set<std::string>{net_.agent_id("a"), net_.agent_id("b")}))
      << net_.Logs() << ReadAll(service_log());
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, 180s);
  ASSERT_TRUE(done) << net_.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();
  EXPECT_TRUE(net_.AgentLogHas("a", "decrypted in memory"));
  EXPECT_TRUE(net_.AgentLogHas("b", "decrypted in memory"));
  std::set<std::string> logged, recorded;
  for (const json& r : LogLines("release")) {
    logged.insert(r["task"].get<std::string>() + "/" + r["agent"].get<std::string>());
  }
  for (const json& a : Access()) {
    recorded.insert(a["task"].get<std::string>() + "/" + a["agent"].get<std::string>());
  }
  EXPECT_EQ(logged, recorded);
  EXPECT_EQ(PlaintextOutsideTheOwner({"a", "b"}), std::vector<std::string>{});
}

}  // namespace
}  // namespace plume::itest
