// What hostile connections can cost a TransportServer: the send byte budget (send_budget.h) and
// the connection caps (conn_table.h), first as pure decisions, then with real CURVE sockets on
// loopback: a peer that asks for 1 MiB replies and never reads leaves the server holding at most
// its budget (the queue counter and this process's VmRSS say so) while another client is still
// served; handshakes past the per-address and total caps are refused and counted, and the
// refused client gets in once an idle connection closes; raw TCP connections that never finish
// (or garble) the handshake hold their slots only until libzmq drops them. Loopback is all of
// 127.0.0.0/8 on Linux, so clients bind 127.0.0.2, .3, ... as their source to be "other
// addresses".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "conn_table.h"
#include "plume/protocol/limits.h"
#include "plume/protocol/transport.h"
#include "send_budget.h"
#include "zap.h"

namespace plume {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(SendBudgetTest, PeerCapTotalCapAndFloor) {
  const detail::SendLimits l{100, 250, 20};
  EXPECT_TRUE(detail::MayQueue(0, 0, 100, l));
  EXPECT_FALSE(detail::MayQueue(1, 1, 100, l));     // past the connection's budget
  EXPECT_TRUE(detail::MayQueue(50, 200, 50, l));    // total exactly full
  EXPECT_FALSE(detail::MayQueue(50, 201, 50, l));   // past the total, past the floor
  EXPECT_TRUE(detail::MayQueue(0, 1000, 20, l));    // past the total, within the floor
  EXPECT_FALSE(detail::MayQueue(10, 1000, 11, l));  // the floor counts what is queued
}

TEST(SendBudgetTest, BytesComeBackWhenLibzmqFreesTheMessage) {
  detail::SendBudget budget({100, 1000, 0});
  auto a = budget.Frame("p", std::string(60, 'x'));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(budget.peer_queued_bytes("p"), 60u);
  EXPECT_FALSE(budget.Frame("p", std::string(60, 'y')).has_value());  // 120 > 100
  EXPECT_EQ(std::string(static_cast<const char*>(a->data()), 3), "xxx");
  a.reset();  // libzmq closing the message
  EXPECT_EQ(budget.peer_queued_bytes("p"), 0u);
  EXPECT_EQ(budget.queued_bytes(), 0u);
  EXPECT_TRUE(budget.Frame("p", std::string(60, 'y')).has_value());
}

TEST(HandshakeFailureTextTest, TellsATimeoutFromAWrongKeyFromGarbage) {
  using detail::HandshakeFailureText;
  EXPECT_NE(HandshakeFailureText(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, 0).find("timed out"),
            std::string::npos);
  EXPECT_NE(HandshakeFailureText(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                                 ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
                .find("wrong scheduler id"),
            std::string::npos);
  const std::string garbage = HandshakeFailureText(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                                                   ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED);
  EXPECT_NE(garbage.find("not a ZeroMQ CURVE handshake (protocol error 0x10000000)"),
            std::string::npos)
      << garbage;
  EXPECT_EQ(garbage.find("wrong scheduler id"), std::string::npos);
  EXPECT_NE(HandshakeFailureText(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400).find("status 400"),
            std::string::npos);
}

TEST(ConnectionTableTest, CountsByAddressAndHealsReusedDescriptors) {
  detail::ConnectionTable t;
  const detail::ConnectionCaps caps{3, 2};
  t.Accepted(7, "10.0.0.1");
  t.Accepted(8, "10.0.0.1");
  EXPECT_EQ(t.Admit("10.0.0.1", caps), detail::Admission::kAdmit);  // 2 of 2, this one counted
  t.Accepted(9, "10.0.0.1");
  EXPECT_EQ(t.Admit("10.0.0.1", caps), detail::Admission::kAddressFull);
  t.Accepted(10, "10.0.0.2");
  EXPECT_EQ(t.Admit("10.0.0.2", caps), detail::Admission::kTotalFull);
  t.Closed(9);
  t.Closed(9);  // twice: no harm
  EXPECT_EQ(t.live_from("10.0.0.1"), 2u);
  EXPECT_EQ(t.Admit("10.0.0.2", caps), detail::Admission::kAdmit);
  // fd 8 closed without an event, then reused by another address: counted once, there.
  t.Accepted(8, "10.0.0.2");
  EXPECT_EQ(t.live(), 3u);
  EXPECT_EQ(t.live_from("10.0.0.1"), 1u);
  EXPECT_EQ(t.live_from("10.0.0.2"), 2u);
}

std::unique_ptr<TransportServer> StartServer(const Identity& id, ServerOptions options = {}) {
  auto server = TransportServer::Bind(id, std::move(options));
  EXPECT_TRUE(server) << server.error().message;
  return server ? std::move(*server) : nullptr;
}

// A server with small connection caps: `total` live connections, `per_address` from one address.
std::unique_ptr<TransportServer> StartCappedServer(size_t total, size_t per_address) {
  ServerOptions options;
  options.connections_max = total;
  options.connections_per_address_max = per_address;
  return StartServer(Identity::Generate(), std::move(options));
}

// A client whose connection starts from `source` (a loopback address) rather than 127.0.0.1.
std::unique_ptr<TransportClient> ConnectFrom(const TransportServer& server, const Identity& id,
                                             const std::string& source) {
  const std::string endpoint =
      "tcp://" + source + ":0;127.0.0.1:" + std::to_string(server.port());
  auto client = TransportClient::Connect(endpoint, server.identity().public_key(), id);
  EXPECT_TRUE(client) << client.error().message;
  return client ? std::move(*client) : nullptr;
}

// Serves the server side until the client's ping is answered; false when no pong came within
// `tries` seconds (a ping sent before the connection was admitted is lost, so it asks again).
bool PingPong(TransportServer& server, TransportClient& client, int tries = 10) {
  for (int attempt = 0; attempt < tries; ++attempt) {
    auto ping = client.NewRequest();
    ping.body().setPing();
    if (!client.Send(ping)) return false;
    const auto deadline = Clock::now() + 1s;
    while (Clock::now() < deadline) {
      auto in = server.Recv(50ms);
      if (in && *in && (*in)->message.kind() == MessageKind::PING) {
        MessageBuilder pong((*in)->message.request_id(), server.identity().public_key());
        pong.body().setPong();
        (void)server.Send((*in)->peer, pong);
      }
      auto reply = client.Recv(10ms);
      if (reply && *reply && (*reply)->kind() == MessageKind::PONG &&
          (*reply)->request_id() == ping.request_id()) {
        return true;
      }
    }
  }
  return false;
}

uint64_t VmRssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// A CURVE DEALER that never reads: libzmq's receive queue holds one message and the kernel's
// receive buffer is 4 KiB, so everything the server sends it stays on the server's side.
struct NonReader {
  zmq::context_t context{1};
  zmq::socket_t socket{context, zmq::socket_type::dealer};
  Identity id = Identity::Generate();
  NonReader(const TransportServer& server) {
    socket.set(zmq::sockopt::rcvhwm, 1);
    socket.set(zmq::sockopt::rcvbuf, 4096);
    socket.set(zmq::sockopt::linger, 0);
    auto server_curve = CurvePublicFromEd25519(server.identity().public_key());
    socket.set(zmq::sockopt::curve_serverkey, Z85Key(*server_curve));
    socket.set(zmq::sockopt::curve_publickey, Z85Key(id.CurvePublic()));
    socket.set(zmq::sockopt::curve_secretkey, Z85Key(id.CurveSecret()));
    socket.connect(server.endpoint());
  }
  void Ask() {
    MessageBuilder ping(1, id.public_key());
    ping.body().setPing();
    auto frame = ping.Encode();
    (void)socket.send(zmq::buffer(*frame), zmq::send_flags::dontwait);
  }
};

TEST(TransportBoundsTest, PeerThatNeverReadsHoldsAtMostItsByteBudget) {
  Identity sched = Identity::Generate();
  auto server = StartServer(sched);
  ASSERT_TRUE(server);
  NonReader reader(*server);
  const uint64_t rss_before = VmRssBytes();
  // 300 replies of 1 MiB (a blob chunk's size): without a byte bound the server would hold
  // nearly all of them (300 MiB; libzmq's message bound alone allows 256 x 8 MiB).
  const std::string chunk(limits::kBlobChunkBytes, 'c');
  int answered = 0;
  for (const auto deadline = Clock::now() + 60s; answered < 300 && Clock::now() < deadline;) {
    reader.Ask();
    auto in = server->Recv(200ms);
    if (!in || !*in) continue;
    (void)server->Send((*in)->peer, chunk);
    ++answered;
  }
  ASSERT_EQ(answered, 300);
  const TransportStats s = server->stats();
  EXPECT_LE(s.send_queue_bytes, limits::kPeerSendQueueBytesMax);
  EXPECT_GE(s.replies_dropped, 300u - limits::kPeerSendQueueBytesMax / chunk.size() - 16)
      << "most replies past the budget are dropped, not queued";
  const uint64_t rss_after = VmRssBytes();
  // The budget, the encoder's copy of one message, slack for the allocator.
  EXPECT_LT(rss_after, rss_before + limits::kPeerSendQueueBytesMax + (64ull << 20))
      << "VmRSS grew by " << (rss_after - rss_before) / (1 << 20) << " MiB";
  // Someone who reads is still served, the small pong and a full chunk.
  Identity agent = Identity::Generate();
  auto client = ConnectFrom(*server, agent, "127.0.0.1");
  ASSERT_TRUE(client);
  ASSERT_TRUE(PingPong(*server, *client));
  // The non-reader goes away: what was queued to it is given back.
  reader.socket.close();
  const auto deadline = Clock::now() + 10s;
  while (server->stats().send_queue_bytes > 0 && Clock::now() < deadline) (void)server->Recv(50ms);
  EXPECT_EQ(server->stats().send_queue_bytes, 0u);
}

// Waits (serving the server) until `done` holds or 10 s pass.
template <typename F>
bool AwaitServing(TransportServer& server, F done) {
  for (const auto deadline = Clock::now() + 10s; Clock::now() < deadline;) {
    if (done()) return true;
    (void)server.Recv(50ms);
  }
  return done();
}

TEST(TransportBoundsTest, ConnectionsPastTheCapsAreRefusedAndCounted) {
  auto server = StartCappedServer(4, 2);
  ASSERT_TRUE(server);
  std::vector<std::unique_ptr<TransportClient>> idle;
  for (int i = 0; i < 2; ++i) {
    idle.push_back(ConnectFrom(*server, Identity::Generate(), "127.0.0.1"));
    ASSERT_TRUE(PingPong(*server, *idle.back())) << "connection " << i << " within the caps";
  }
  // A third from the same address: refused, again and again as libzmq retries.
  auto third = ConnectFrom(*server, Identity::Generate(), "127.0.0.1");
  ASSERT_TRUE(AwaitServing(*server, [&] { return server->stats().refused_connections_address > 0; }));
  EXPECT_FALSE(PingPong(*server, *third, 2));
  // Another address still gets in (3 live of 4, the refused one closed).
  auto other = ConnectFrom(*server, Identity::Generate(), "127.0.0.2");
  ASSERT_TRUE(PingPong(*server, *other));
  EXPECT_EQ(server->stats().refused_connections_total, 0u);
  // One idle connection closes: the retrying third is admitted.
  idle.pop_back();
  ASSERT_TRUE(PingPong(*server, *third)) << "refused client admitted after an idle one left";
  // Now 4 live (1 + third from .1, .2, and .3 below): a fifth from a fresh address is refused by
  // the total cap.
  auto fourth = ConnectFrom(*server, Identity::Generate(), "127.0.0.3");
  ASSERT_TRUE(PingPong(*server, *fourth));
  auto fifth = ConnectFrom(*server, Identity::Generate(), "127.0.0.4");
  ASSERT_TRUE(AwaitServing(*server, [&] { return server->stats().refused_connections_total > 0; }));
  EXPECT_FALSE(PingPong(*server, *fifth, 2));
  // The fifth is counted while it handshakes, not between its retries.
  EXPECT_GE(server->stats().connections_live, 4u);
  EXPECT_LE(server->stats().connections_live, 5u);
}

// A plain TCP connection from `source` to the server, below ZeroMQ: what a flood of SYNs that
// complete the TCP handshake but never the ZMTP/CURVE one looks like. -1 when it fails.
int RawConnect(const TransportServer& server, const char* source) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in from{}, to{};
  from.sin_family = to.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  to.sin_port = htons(server.port());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Whether the server has closed `fd`: reads what it sent (its ZMTP greeting) until end of file
// or a reset, without blocking.
bool ClosedByPeer(int fd) {
  char buf[512];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
  }
}

// A key costs nothing and neither does a TCP connection: a flood of connections that say nothing
// (or garbage) after the TCP handshake is counted against the caps from its ACCEPTED, and libzmq
// drops each one when its handshake interval (limits.h kHandshakeIvlMs) runs out or its greeting
// is malformed, giving the slot back. While they hold, their address is full and every other
// address is served; once they are gone, a real client from their address gets in.
TEST(TransportBoundsTest, ConnectionsThatNeverHandshakeHoldTheirSlotsOnlyForTheHandshakeInterval) {
  // Room in the total for the four raw connections, the refused client's retries and one more.
  auto server = StartCappedServer(6, 2);
  ASSERT_TRUE(server);
  // Two silent connections fill 127.0.0.5; from 127.0.0.6, one silent and one that sends bytes
  // that are no ZMTP greeting.
  std::vector<int> raw;
  for (const char* source : {"127.0.0.5", "127.0.0.5", "127.0.0.6", "127.0.0.6"}) {
    raw.push_back(RawConnect(*server, source));
    ASSERT_GE(raw.back(), 0) << "raw connect from " << source << ": " << std::strerror(errno);
  }
  const std::string garbage(64, '\xff');
  ASSERT_EQ(::send(raw[3], garbage.data(), garbage.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(garbage.size()));
  const auto flooded = Clock::now();
  ASSERT_TRUE(AwaitServing(*server, [&] { return server->stats().connections_live >= 3; }))
      << "the silent connections are counted from their ACCEPTED";
  // A real client from the flooded address is refused while the two silent ones hold it (asked
  // at once: the interval is 5 s).
  auto blocked = ConnectFrom(*server, Identity::Generate(), "127.0.0.5");
  ASSERT_TRUE(blocked);
  const bool silent_still_open = !ClosedByPeer(raw[0]) && !ClosedByPeer(raw[1]);
  ASSERT_TRUE(
      AwaitServing(*server, [&] { return server->stats().refused_connections_address > 0; }));
  // (Refused only if the silent ones were still there when it asked; they were, unless this
  // machine stalled for the whole interval, which this would then show.)
  EXPECT_TRUE(silent_still_open);
  // Another address is served while they hold.
  auto other = ConnectFrom(*server, Identity::Generate(), "127.0.0.7");
  ASSERT_TRUE(other);
  ASSERT_TRUE(PingPong(*server, *other));
  // Every raw connection is closed by the server: the silent ones when the interval runs out,
  // the garbled one at once. Waited on with a deadline of three intervals.
  std::vector<bool> closed(raw.size(), false);
  const auto deadline = flooded + 3 * std::chrono::milliseconds(limits::kHandshakeIvlMs);
  while (Clock::now() < deadline &&
         !std::all_of(closed.begin(), closed.end(), [](bool c) { return c; })) {
    for (size_t i = 0; i < raw.size(); ++i) closed[i] = closed[i] || ClosedByPeer(raw[i]);
    (void)server->Recv(20ms);
  }
  for (size_t i = 0; i < raw.size(); ++i) EXPECT_TRUE(closed[i]) << "raw connection " << i;
  for (int fd : raw) ::close(fd);
  // Their slots came back: the refused client from 127.0.0.5 is admitted on its next retry, and
  // only the two real clients are live.
  ASSERT_TRUE(PingPong(*server, *blocked)) << "admitted once the silent connections were dropped";
  EXPECT_TRUE(AwaitServing(*server, [&] { return server->stats().connections_live == 2; }))
      << server->stats().connections_live << " live";
}

}  // namespace
}  // namespace plume
