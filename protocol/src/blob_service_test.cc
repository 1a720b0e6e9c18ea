// Blob transfer over real CURVE sockets on loopback: a client pushes a multi-chunk blob to a
// server's BlobService, an authorised agent pulls it, and an agent the read policy does not
// allow is refused and counted.
#include "plume/protocol/blob_service.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
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


// Hostile senders, driven straight through OnBlobPut (the bounds are the service's, not the
// socket's).
class BlobPutBoundsTest : public BlobServiceTest {
 protected:
  Message Put(const PublicKey& sender, const Hash256& hash, uint64_t offset, std::string_view bytes,
              uint64_t total) {
    MessageBuilder b(++request_id_, sender);
    auto put = b.body().initBlobPut();
    put.setHash(AsData(hash));
    put.setOffset(offset);
    put.setBytes(capnp::Data::Reader(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
    put.setTotalSizeBytes(total);
    return std::move(*Decode(*b.Encode()));
  }
  // Sends `m` from `sender`; returns the ack's next offset, or -1 on an error reply.
  int64_t Send(const PublicKey& sender, const Message& m) {
    auto reply = std::move(*Decode(*service_->OnBlobPut(sender, m).Encode()));
    if (reply.kind() != MessageKind::BLOB_ACK) return -1;
    return static_cast<int64_t>(reply.body().getBlobAck().getNextOffset());
  }
  size_t PartialFiles() const {
    size_t n = 0;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(dir_ / "server" / "partial", ec)) n += e.is_regular_file();
    return n;
  }
  uint64_t request_id_ = 0;
};

TEST_F(BlobPutBoundsTest, AStrangerKnowingTheHashCannotSpoilAnUpload) {
  const PublicKey victim = Identity::Generate().public_key();
  const PublicKey stranger = Identity::Generate().public_key();
  const std::string data(3000, 'v');
  const Hash256 hash = Blake2b256(data);
  ASSERT_EQ(Send(victim, Put(victim, hash, 0, std::string_view(data).substr(0, 1000), 3000)), 1000);
  // The stranger writes garbage at the victim's next offset and announces another size.
  EXPECT_EQ(Send(stranger, Put(stranger, hash, 1000, std::string(1000, 'x'), 3000)), 0);
  EXPECT_EQ(Send(stranger, Put(stranger, hash, 0, std::string(10, 'x'), 5000)), 10);
  ASSERT_EQ(Send(victim, Put(victim, hash, 1000, std::string_view(data).substr(1000), 3000)), 3000);
  EXPECT_EQ(*server_store_->Get(hash), data);
  EXPECT_EQ(service_->stats().failed_uploads, 0u);
  ASSERT_EQ(stored_by_.size(), 1u);
  EXPECT_EQ(stored_by_[0], victim);
}

TEST_F(BlobPutBoundsTest, OneSendersOpenUploadsAreBoundedAndTheirFilesDeleted) {
  const PublicKey sender = Identity::Generate().public_key();
  for (int i = 0; i < 10; ++i) {
    const std::string data(100, static_cast<char>('a' + i));
    ASSERT_EQ(Send(sender, Put(sender, Blake2b256(data), 0, std::string_view(data).substr(0, 50), 100)), 50);
  }
  EXPECT_EQ(service_->open_uploads(), limits::kBlobUploadsPerSenderMax);
  EXPECT_EQ(PartialFiles(), limits::kBlobUploadsPerSenderMax);
  EXPECT_EQ(service_->open_upload_bytes(), 100u * limits::kBlobUploadsPerSenderMax);
  // Another sender is not affected by this one's churn.
  const PublicKey other = Identity::Generate().public_key();
  const std::string mine(100, 'z');
  ASSERT_EQ(Send(other, Put(other, Blake2b256(mine), 0, mine, 100)), 100);
  EXPECT_TRUE(server_store_->Has(Blake2b256(mine)));
}

TEST_F(BlobPutBoundsTest, DeclaredBytesOfOpenUploadsStayUnderTheDiskBound) {
  // Keys are free: many senders each declare the largest blob. The declared total never passes
  // kBlobPartialBytesMax, and what is evicted leaves no file behind.
  const uint64_t big = limits::kBlobBytesMax;
  const size_t senders = limits::kBlobPartialBytesMax / big + 3;
  for (size_t i = 0; i < senders; ++i) {
    const PublicKey s = Identity::Generate().public_key();
    const std::string tag = "blob-" + std::to_string(i);
    ASSERT_EQ(Send(s, Put(s, Blake2b256(tag), 0, "x", big)), 1);
    EXPECT_LE(service_->open_upload_bytes(), limits::kBlobPartialBytesMax);
  }
  EXPECT_EQ(service_->open_uploads(), limits::kBlobPartialBytesMax / big);
  EXPECT_EQ(PartialFiles(), service_->open_uploads());
}

TEST_F(BlobPutBoundsTest, IdleUploadsAndOrphanPartialsAreRemoved) {
  const PublicKey sender = Identity::Generate().public_key();
  const std::string data(100, 'q');
  ASSERT_EQ(Send(sender, Put(sender, Blake2b256(data), 0, std::string_view(data).substr(0, 10), 100)), 10);
  // An orphan from an earlier run, last written long ago.
  const fs::path orphan = dir_ / "server" / "partial" / "orphan.part";
  { std::ofstream(orphan) << "old bytes"; }
  fs::last_write_time(orphan, fs::file_time_type::clock::now() - std::chrono::hours(2));
  EXPECT_EQ(service_->CloseIdleUploads(std::chrono::hours(1)), 1u);  // the orphan only
  EXPECT_FALSE(fs::exists(orphan));
  EXPECT_EQ(service_->open_uploads(), 1u);
  EXPECT_EQ(service_->CloseIdleUploads(std::chrono::seconds(0)), 1u);  // now the idle upload
  EXPECT_EQ(service_->open_uploads(), 0u);
  EXPECT_EQ(PartialFiles(), 0u);
}

}  // namespace
}  // namespace plume
