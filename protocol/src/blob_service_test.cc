// Blob transfer over real CURVE sockets on loopback: a client pushes a multi-chunk blob to a
// server's BlobService, an authorised agent pulls it, and an agent the read policy does not
// allow is refused and counted.
#include "plume/protocol/blob_service.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "plume/protocol/limits.h"

namespace plume {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

class BlobServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("plume-blobsvc-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    server_store_ = std::move(*BlobStore::Open(dir_ / "server"));
    auto server = TransportServer::Bind(sched_, {});
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(*server);
    service_ = std::make_unique<BlobService>(
        *server_store_, sched_.public_key(),
        // As in the scheduler, whoever uploaded a blob may read it (and so re-push it at once).
        [this](const PublicKey& who, const Hash256&) {
          return readers_.contains(who) ||
                 std::find(stored_by_.begin(), stored_by_.end(), who) != stored_by_.end();
        },
        nullptr,
        [this](const PublicKey& who, const Hash256&, uint64_t) { stored_by_.push_back(who); });
  }
  void TearDown() override {
    StopServing();
    fs::remove_all(dir_);
  }
  // The server and its BlobService live on this thread until StopServing.
  void StartServing() {
    serving_ = std::thread([this] {
      while (!stop_.load()) {
        auto in = server_->Recv(20ms);
        if (!in || !*in) continue;
        auto& msg = (*in)->message;
        if (msg.kind() == MessageKind::BLOB_GET) {
          (void)server_->Send((*in)->peer, service_->OnBlobGet((*in)->principal, msg));
        } else if (msg.kind() == MessageKind::BLOB_PUT) {
          (void)server_->Send((*in)->peer, service_->OnBlobPut((*in)->principal, msg));
        }
      }
    });
  }
  void StopServing() {
    stop_.store(true);
    if (serving_.joinable()) serving_.join();
  }
  std::unique_ptr<TransportClient> Connect(const Identity& id) {
    return std::move(*TransportClient::Connect(server_->endpoint(), sched_.public_key(), id));
  }

  fs::path dir_;
  Identity sched_ = Identity::Generate();
  std::unique_ptr<BlobStore> server_store_;
  std::unique_ptr<TransportServer> server_;
  std::unique_ptr<BlobService> service_;
  std::set<PublicKey> readers_;
  std::vector<PublicKey> stored_by_;
  std::thread serving_;
  std::atomic<bool> stop_{false};
};

TEST_F(BlobServiceTest, PushThenAuthorisedPullRoundTrips) {
  Identity cli = Identity::Generate(), agent = Identity::Generate();
  readers_.insert(agent.public_key());
  std::mt19937_64 rng(99);
  std::string data(limits::kBlobChunkBytes * 2 + 4321, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  auto cli_store = std::move(*BlobStore::Open(dir_ / "cli"));
  Hash256 hash = *cli_store->Put(data);
  StartServing();

  auto cli_conn = Connect(cli);
  auto pushed = PushBlob(*cli_conn, *cli_store, hash, 5000ms);
  ASSERT_TRUE(pushed) << pushed.error().message;
  auto agent_store = std::move(*BlobStore::Open(dir_ / "agent"));
  auto agent_conn = Connect(agent);
  auto pulled = PullBlob(*agent_conn, *agent_store, hash, 5000ms);
  ASSERT_TRUE(pulled) << pulled.error().message;
  EXPECT_EQ(*agent_store->Get(hash), data);
  // Pushing again is a no-op: the server already has it.
  ASSERT_TRUE(PushBlob(*cli_conn, *cli_store, hash, 5000ms));
  StopServing();
  EXPECT_EQ(*server_store_->Get(hash), data);
  ASSERT_EQ(stored_by_.size(), 1u);
  EXPECT_EQ(stored_by_[0], cli.public_key());
  EXPECT_EQ(service_->stats().blobs_stored, 1u);
  EXPECT_EQ(service_->stats().bytes_served, data.size());
}

TEST_F(BlobServiceTest, ReaderOutsidePolicyIsRefused) {
  Identity other_agent = Identity::Generate();
  Hash256 hash = *server_store_->Put(std::string_view("weights of someone else's task"));
  StartServing();
  auto conn = Connect(other_agent);
  auto store = std::move(*BlobStore::Open(dir_ / "other"));
  auto pulled = PullBlob(*conn, *store, hash, 5000ms);
  ASSERT_FALSE(pulled);
  EXPECT_NE(pulled.error().message.find("may not read"), std::string::npos) << pulled.error().message;
  EXPECT_FALSE(store->Has(hash));
  StopServing();
  EXPECT_EQ(service_->stats().refused_reads, 1u);
  EXPECT_EQ(service_->stats().bytes_served, 0u);
}

TEST_F(BlobServiceTest, MissingBlobIsNotFound) {
  Identity agent = Identity::Generate();
  readers_.insert(agent.public_key());
  StartServing();
  auto conn = Connect(agent);
  auto store = std::move(*BlobStore::Open(dir_ / "agent"));
  auto pulled = PullBlob(*conn, *store, Blake2b256(std::string_view("never uploaded")), 5000ms);
  ASSERT_FALSE(pulled);
  EXPECT_NE(pulled.error().message.find("not found"), std::string::npos);
}

}  // namespace
}  // namespace plume
