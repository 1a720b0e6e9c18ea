// What hostile clients can cost a real plume-scheduler process (docs/operators.md "What the
// scheduler refuses from peers"), each measured on the process itself:
//  - a connection that asks for blob chunks and never reads grows the scheduler's VmRSS by at
//    most its send budget (before: ~1 MiB per 150-byte request, for ever), and another client
//    still pulls the blob;
//  - connections past --connections-per-address-max are refused and logged, another address is
//    still served, and the refused client gets in when an idle one closes;
//  - 200 fake registrations are forgotten after --node-forget-s and `plume nodes` is empty.
#include <gtest/gtest.h>
#include <zmq.hpp>

#include <fstream>

#include "network.h"
#include "plume/protocol/blob_service.h"
#include "plume/protocol/blob_store.h"
#include "plume/protocol/limits.h"
#include "plume/protocol/message.h"
#include "plume/protocol/transport.h"

namespace plume::itest {
namespace {

uint64_t VmRssBytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

std::unique_ptr<TransportClient> Connect(const Network& net, const Identity& id,
                                         const std::string& source = "127.0.0.1") {
  auto server = PublicKeyFromHex(net.scheduler_id());
  if (!server) return nullptr;
  const std::string port = net.endpoint().substr(net.endpoint().rfind(':') + 1);
  auto c = TransportClient::Connect("tcp://" + source + ":0;127.0.0.1:" + port, *server, id);
  return c ? std::move(*c) : nullptr;
}

bool Answers(TransportClient& c, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto req = c.NewRequest();
  req.body().initListNodes();
  auto reply = c.Call(req, timeout);
  return reply && reply->kind() == MessageKind::LIST_NODES_REPLY;
}

TEST(BoundsIntegration, AClientThatNeverReadsCannotGrowTheScheduler) {
  Network net("bounds-nonreader");
  std::string why;
  ASSERT_TRUE(net.StartScheduler(&why)) << why;
  // The hostile key uploads a 4 MiB blob, which it may then read back.
  Identity hostile = Identity::Generate();
  auto store = BlobStore::Open(net.dir() / "client-blobs");
  ASSERT_TRUE(store) << store.error().message;
  std::string bytes(4u << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 2654435761u >> 24);
  auto hash = (*store)->Put(bytes);
  ASSERT_TRUE(hash);
  {
    auto up = Connect(net, hostile);
    ASSERT_TRUE(up);
    auto pushed = PushBlob(*up, **store, *hash, std::chrono::seconds(30));
    ASSERT_TRUE(pushed) << pushed.error().message << "\n" << net.Logs();
  }
  // Its second connection asks for 300 chunks and never reads: libzmq there holds one message,
  // the kernel a 4 KiB window, so everything else stays in the scheduler.
  zmq::context_t context(1);
  zmq::socket_t reader(context, zmq::socket_type::dealer);
  reader.set(zmq::sockopt::rcvhwm, 1);
  reader.set(zmq::sockopt::rcvbuf, 4096);
  reader.set(zmq::sockopt::linger, 0);
  auto server_curve = CurvePublicFromEd25519(*PublicKeyFromHex(net.scheduler_id()));
  reader.set(zmq::sockopt::curve_serverkey, Z85Key(*server_curve));
  reader.set(zmq::sockopt::curve_publickey, Z85Key(hostile.CurvePublic()));
  reader.set(zmq::sockopt::curve_secretkey, Z85Key(hostile.CurveSecret()));
  reader.connect(net.endpoint());
  const pid_t pid = net.scheduler().pid();
  const uint64_t rss_before = VmRssBytes(pid);
  for (uint64_t i = 0; i < 300; ++i) {
    MessageBuilder get(i + 1, hostile.public_key());
    auto g = get.body().initBlobGet();
    g.setHash(AsData(*hash));
    g.setOffset((i % 4) * limits::kBlobChunkBytes);
    auto frame = get.Encode();
    ASSERT_TRUE(frame);
    ASSERT_TRUE(reader.send(zmq::buffer(*frame), zmq::send_flags::none));
  }
  // All 300 asked and answered (or dropped): the log says so once the budget is reached.
  ASSERT_TRUE(WaitUntil(
      [&] { return ReadFile(net.scheduler_log()).find("dropped a") != std::string::npos; },
      seconds(30)))
      << net.Logs();
  // The same key on a new connection still pulls the blob, and a new key is answered.
  Identity other = Identity::Generate();
  auto c = Connect(net, hostile);
  ASSERT_TRUE(c);
  auto mine = BlobStore::Open(net.dir() / "other-blobs");
  ASSERT_TRUE(mine);
  auto pulled = PullBlob(*c, **mine, *hash, std::chrono::seconds(10));
  ASSERT_TRUE(pulled) << pulled.error().message << "\n" << net.Logs();
  EXPECT_TRUE((*mine)->Has(*hash));
  auto fresh = Connect(net, other);
  ASSERT_TRUE(fresh && Answers(*fresh));
  const uint64_t rss_after = VmRssBytes(pid);
  // Budget (32 MiB) + the encoder's one message + allocator slack; unbounded, it was ~300 MiB.
  EXPECT_LT(rss_after, rss_before + limits::kPeerSendQueueBytesMax + (64ull << 20))
      << "scheduler VmRSS grew by " << (rss_after - rss_before) / (1 << 20) << " MiB";
  std::printf("[ metric ] scheduler VmRSS %llu -> %llu MiB after 300 unread 1 MiB chunks\n",
              static_cast<unsigned long long>(rss_before >> 20),
              static_cast<unsigned long long>(rss_after >> 20));
}

TEST(BoundsIntegration, ConnectionsPastThePerAddressCapAreRefusedAndLogged) {
  Network net("bounds-conns");
  std::string why;
  ASSERT_TRUE(net.StartScheduler(&why, {"--connections-per-address-max", "3"})) << why;
  std::vector<std::unique_ptr<TransportClient>> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(Connect(net, Identity::Generate()));
    ASSERT_TRUE(idle.back() && Answers(*idle.back())) << "connection " << i << "\n" << net.Logs();
  }
  auto refused = Connect(net, Identity::Generate());
  ASSERT_TRUE(refused);
  EXPECT_FALSE(Answers(*refused, seconds(2))) << "a fourth from the same address got in";
  EXPECT_NE(ReadFile(net.scheduler_log()).find("too many connections from this address"),
            std::string::npos)
      << net.Logs();
  auto elsewhere = Connect(net, Identity::Generate(), "127.0.0.2");
  ASSERT_TRUE(elsewhere);
  EXPECT_TRUE(Answers(*elsewhere)) << "another address is still served\n" << net.Logs();
  idle.clear();  // the idle ones close: the refused client's libzmq retries and gets in
  EXPECT_TRUE(Answers(*refused)) << net.Logs();
}

TEST(BoundsIntegration, TwoHundredFakeRegistrationsAreForgotten) {
  Network net("bounds-forget");
  std::string why;
  ASSERT_TRUE(net.StartScheduler(&why, {"--lease-ms", "1000", "--node-forget-s", "2",
                                       "--connections-per-address-max", "1000"}))
      << why;
  for (int i = 0; i < 200; ++i) {
    auto c = Connect(net, Identity::Generate());  // one key, one connection, closed after
    ASSERT_TRUE(c);
    auto reg = c->NewRequest();
    auto r = reg.body().initRegister();
    r.setName("fake-" + std::to_string(i));
    r.setPriceMicroPlumePerPflop(1);
    r.initGpus(0);
    auto ack = c->Call(reg, seconds(10));
    ASSERT_TRUE(ack) << ack.error().message;
    ASSERT_EQ(ack->kind(), MessageKind::REGISTER_ACK) << KindName(ack->kind());
  }
  auto listed = net.CliJson({"nodes"}, &why);
  ASSERT_TRUE(listed) << why;
  EXPECT_GT(listed->size(), 0u);
  size_t last = listed->size();
  EXPECT_TRUE(WaitUntil(
      [&] {
        auto nodes = net.CliJson({"nodes"}, &why);
        if (nodes) last = nodes->size();
        return nodes && nodes->empty();
      },
      seconds(30)))
      << last << " still listed\n" << net.Logs();
}

}  // namespace
}  // namespace plume::itest
