// Transport tests on loopback with ephemeral ports and real CURVE sockets: who may talk, who is
// refused and counted, and that garbage (random frames, raw TCP bytes, oversized frames) leaves
// the server answering the next good request.
#include "plume/protocol/transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "plume/protocol/limits.h"

namespace plume {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<TransportServer> StartServer(const Identity& id, ServerOptions options = {}) {
  auto server = TransportServer::Bind(id, std::move(options));
  EXPECT_TRUE(server) << server.error().message;
  return std::move(*server);
}

std::unique_ptr<TransportClient> ConnectClient(const TransportServer& server,
                                               const Identity& id) {
  auto client = TransportClient::Connect(server.endpoint(), server.identity().public_key(), id);
  EXPECT_TRUE(client) << client.error().message;
  return std::move(*client);
}

// Sends a ping and serves the server side until the pong arrives; retries a few times because a
// connection the server just dropped loses what was queued on it.
bool PingPong(TransportServer& server, TransportClient& client) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto ping = client.NewRequest();
    ping.body().setPing();
    if (!client.Send(ping)) return false;
    auto in = server.Recv(1000ms);
    if (!in || !*in) continue;
    if ((*in)->message.kind() != MessageKind::PING) continue;
    MessageBuilder pong((*in)->message.request_id(), server.identity().public_key());
    pong.body().setPong();
    if (!server.Send((*in)->peer, pong)) return false;
    auto reply = client.Recv(1000ms);
    if (reply && *reply && (*reply)->kind() == MessageKind::PONG &&
        (*reply)->request_id() == ping.request_id()) {
      return true;
    }
  }
  return false;
}

TEST(TransportTest, ClientWithRightKeyTalksAndIsIdentified) {
  Identity sched = Identity::Generate(), agent = Identity::Generate();
  auto server = StartServer(sched);
  EXPECT_NE(server->port(), 0);
  EXPECT_NE(server->endpoint().find(std::to_string(server->port())), std::string::npos);
  auto client = ConnectClient(*server, agent);

  auto req = client->NewRequest();
  req.body().initRegister().setName("gpu-box-1");
  ASSERT_TRUE(client->Send(req));
  auto in = server->Recv(5000ms);
  ASSERT_TRUE(in) << in.error().message;
  ASSERT_TRUE(*in);
  EXPECT_EQ((*in)->principal, agent.public_key());
  ASSERT_EQ((*in)->message.kind(), MessageKind::REGISTER);
  EXPECT_EQ(std::string((*in)->message.body().getRegister().getName().cStr()), "gpu-box-1");

  MessageBuilder ack((*in)->message.request_id(), sched.public_key());
  ack.body().initRegisterAck().setLeaseMs(10000);
  ASSERT_TRUE(server->Send((*in)->peer, ack));
  auto reply = client->Recv(5000ms);
  ASSERT_TRUE(reply && *reply);
  ASSERT_EQ((*reply)->kind(), MessageKind::REGISTER_ACK);
  EXPECT_EQ((*reply)->request_id(), req.request_id());
  EXPECT_EQ((*reply)->body().getRegisterAck().getLeaseMs(), 10000u);
  EXPECT_EQ(server->stats().messages_received, 1u);
  EXPECT_GE(server->stats().handshakes_accepted, 1u);
}

TEST(TransportTest, WrongServerKeyGetsNoAnswerAndIsCounted) {
  Identity sched = Identity::Generate(), impostor = Identity::Generate();
  Identity agent = Identity::Generate();
  int refusals = 0;
  ServerOptions options;
  options.on_refusal = [&](RefusalReason r, std::string_view) {
    if (r == RefusalReason::kHandshakeFailed) ++refusals;
  };
  auto server = StartServer(sched, options);
  // The client believes the scheduler is `impostor`.
  auto client = TransportClient::Connect(server->endpoint(), impostor.public_key(), agent);
  ASSERT_TRUE(client);
  auto req = (*client)->NewRequest();
  req.body().setPing();
  ASSERT_TRUE((*client)->Send(req));
  // Serve until the failed handshake is counted and reported (bounded wait on the condition).
  // The monitor thread counts it at once, but on_refusal runs inside the next Recv, so wait for
  // both rather than only the counter.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((server->stats().handshakes_failed == 0 || refusals == 0) &&
         std::chrono::steady_clock::now() < deadline) {
    auto in = server->Recv(50ms);
    ASSERT_TRUE(in);
    EXPECT_FALSE(*in) << "a client with the wrong server key got a message through";
  }
  EXPECT_GE(server->stats().handshakes_failed, 1u);
  EXPECT_GE(refusals, 1);
  EXPECT_EQ(server->stats().messages_received, 0u);
  auto reply = (*client)->Recv(300ms);
  ASSERT_TRUE(reply);
  EXPECT_FALSE(*reply);
}

TEST(TransportTest, AllowListRefusesUnknownAgentButNotClients) {
  Identity sched = Identity::Generate(), listed = Identity::Generate();
  Identity stranger = Identity::Generate();
  ServerOptions options;
  options.agent_allow_list = std::vector<PublicKey>{listed.public_key()};
  std::vector<RefusalReason> refusals;
  options.on_refusal = [&](RefusalReason r, std::string_view) { refusals.push_back(r); };
  auto server = StartServer(sched, options);

  auto bad = ConnectClient(*server, stranger);
  auto reg = bad->NewRequest();
  reg.body().initRegister().setName("unlisted");
  ASSERT_TRUE(bad->Send(reg));
  auto in = server->Recv(1000ms);
  ASSERT_TRUE(in);
  EXPECT_FALSE(*in);
  auto reply = bad->Recv(5000ms);
  ASSERT_TRUE(reply && *reply);
  ASSERT_EQ((*reply)->kind(), MessageKind::ERROR);
  EXPECT_EQ((*reply)->body().getError().getCode(), wire::ErrorCode::UNAUTHORIZED);
  EXPECT_EQ((*reply)->request_id(), reg.request_id());
  EXPECT_EQ(server->stats().refused_unlisted_agent, 1u);
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_EQ(refusals[0], RefusalReason::kUnlistedAgent);

  // The same key acting as a CLI client is not restricted by the agent list.
  auto list = bad->NewRequest();
  list.body().initListJobs();
  ASSERT_TRUE(bad->Send(list));
  in = server->Recv(5000ms);
  ASSERT_TRUE(in && *in);
  EXPECT_EQ((*in)->message.kind(), MessageKind::LIST_JOBS);

  auto good = ConnectClient(*server, listed);
  auto ok = good->NewRequest();
  ok.body().initRegister().setName("listed");
  ASSERT_TRUE(good->Send(ok));
  in = server->Recv(5000ms);
  ASSERT_TRUE(in && *in);
  EXPECT_EQ((*in)->principal, listed.public_key());
  EXPECT_EQ(server->stats().messages_received, 2u);
}

TEST(TransportTest, SenderFieldMustMatchConnectionKey) {
  Identity sched = Identity::Generate(), mallory = Identity::Generate();
  Identity victim = Identity::Generate();
  auto server = StartServer(sched);
  auto client = ConnectClient(*server, mallory);
  MessageBuilder forged(5, victim.public_key());  // claims to be someone else
  forged.body().initCancelJob().setJobId("job-of-victim");
  ASSERT_TRUE(client->Send(forged));
  auto in = server->Recv(1000ms);
  ASSERT_TRUE(in);
  EXPECT_FALSE(*in);
  auto reply = client->Recv(5000ms);
  // The reply names the server as sender, so the client accepts it.
  ASSERT_TRUE(reply && *reply);
  ASSERT_EQ((*reply)->kind(), MessageKind::ERROR);
  EXPECT_EQ((*reply)->body().getError().getCode(), wire::ErrorCode::UNAUTHORIZED);
  EXPECT_EQ(server->stats().refused_sender_mismatch, 1u);
}

// The sign-bit twin of a key: the point -A, a different ed25519 key with the same CURVE key.
PublicKey Twin(PublicKey key) {
  key[31] ^= 0x80;
  return key;
}

TEST(TransportTest, TheSignBitTwinOfAKeyIsNotASecondPrincipal) {
  Identity sched = Identity::Generate(), agent = Identity::Generate();
  const PublicKey twin = Twin(agent.public_key());
  ASSERT_NE(twin, agent.public_key());
  // The twin really does map to the agent's CURVE key, so the CURVE check alone cannot tell them
  // apart: this is what the checks below have to catch.
  ASSERT_EQ(CurvePublicFromEd25519(twin).value(), agent.CurvePublic());
  ServerOptions options;
  options.agent_allow_list = std::vector<PublicKey>{agent.public_key()};
  auto server = StartServer(sched, options);
  const auto refused = [&](TransportClient& c, uint64_t rid) {
    auto in = server->Recv(1000ms);
    ASSERT_TRUE(in);
    EXPECT_FALSE(*in);
    auto reply = c.Recv(5000ms);
    ASSERT_TRUE(reply && *reply);
    ASSERT_EQ((*reply)->kind(), MessageKind::ERROR);
    EXPECT_EQ((*reply)->body().getError().getCode(), wire::ErrorCode::UNAUTHORIZED);
    EXPECT_EQ((*reply)->request_id(), rid);
  };

  // A fresh connection whose first message registers as the twin: not on the allow-list.
  auto first = ConnectClient(*server, agent);
  MessageBuilder as_twin(7, twin);
  as_twin.body().initRegister().setName("twin");
  ASSERT_TRUE(first->Send(as_twin));
  refused(*first, 7);
  EXPECT_EQ(server->stats().refused_unlisted_agent, 1u);

  // A connection that spoke as the agent cannot switch to the twin, even for a client message
  // the allow-list does not cover.
  auto second = ConnectClient(*server, agent);
  auto reg = second->NewRequest();
  reg.body().initRegister().setName("real");
  ASSERT_TRUE(second->Send(reg));
  auto in = server->Recv(5000ms);
  ASSERT_TRUE(in && *in);
  EXPECT_EQ((*in)->principal, agent.public_key());
  MessageBuilder list(8, twin);
  list.body().initListJobs();
  ASSERT_TRUE(second->Send(list));
  refused(*second, 8);
  EXPECT_EQ(server->stats().refused_sender_mismatch, 1u);
  // ...while the agent's own key goes on working on that connection.
  auto again = second->NewRequest();
  again.body().initListJobs();
  ASSERT_TRUE(second->Send(again));
  in = server->Recv(5000ms);
  ASSERT_TRUE(in && *in);
  EXPECT_EQ((*in)->principal, agent.public_key());
  EXPECT_EQ(server->stats().messages_received, 2u);
}

TEST(TransportTest, GarbageLeavesServerAnswering) {
  Identity sched = Identity::Generate(), agent = Identity::Generate();
  auto server = StartServer(sched);
  auto client = ConnectClient(*server, agent);
  std::mt19937_64 rng(7);
  // Random and truncated frames through a real CURVE connection reach the decoder.
  constexpr int kFrames = 300;
  for (int i = 0; i < kFrames; ++i) {
    std::string frame(rng() % 200, '\0');
    for (auto& c : frame) c = static_cast<char>(rng());
    ASSERT_TRUE(client->Send(frame));
  }
  // Raw bytes on the TCP port, below ZeroMQ's framing: the handshake fails, nothing else.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::string junk(4096, '\0');
  for (auto& c : junk) c = static_cast<char>(rng());
  (void)!::write(fd, junk.data(), junk.size());
  ::close(fd);

  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (server->stats().messages_malformed < kFrames && std::chrono::steady_clock::now() < deadline) {
    auto in = server->Recv(100ms);
    ASSERT_TRUE(in);
    EXPECT_FALSE(*in);
  }
  EXPECT_EQ(server->stats().messages_malformed, static_cast<uint64_t>(kFrames));
  // Each bad frame was answered with an Error; drain them from the client.
  int errors = 0;
  while (auto reply = client->Recv(200ms)) {
    if (!*reply) break;
    if ((*reply)->kind() == MessageKind::ERROR) ++errors;
  }
  EXPECT_EQ(errors, kFrames);
  EXPECT_TRUE(PingPong(*server, *client));
}

TEST(TransportTest, OversizedMessagesAreRefused) {
  Identity sched = Identity::Generate(), agent = Identity::Generate();
  auto server = StartServer(sched);
  auto client = ConnectClient(*server, agent);
  ASSERT_TRUE(PingPong(*server, *client));
  // Just over our limit: reaches the decoder, refused with tooLarge.
  std::string over(limits::kMessageBytesMax + 8, '\0');
  ASSERT_TRUE(client->Send(over));
  auto in = server->Recv(5000ms);
  ASSERT_TRUE(in);
  EXPECT_FALSE(*in);
  auto reply = client->Recv(5000ms);
  ASSERT_TRUE(reply && *reply);
  ASSERT_EQ((*reply)->kind(), MessageKind::ERROR);
  EXPECT_EQ((*reply)->body().getError().getCode(), wire::ErrorCode::TOO_LARGE);
  EXPECT_EQ(server->stats().messages_malformed, 1u);
  // Far over: libzmq drops the connection before buffering it; the client reconnects.
  std::string huge(limits::kSocketFrameBytesMax + 1024, '\0');
  ASSERT_TRUE(client->Send(huge));
  EXPECT_TRUE(PingPong(*server, *client));
  EXPECT_EQ(server->stats().messages_received, 2u);  // the two pings
}

TEST(TransportTest, CallSkipsOtherRepliesAndTimesOutWithAdvice) {
  Identity sched = Identity::Generate(), cli = Identity::Generate();
  auto server = StartServer(sched);
  auto client = ConnectClient(*server, cli);
  // The server lives on its own thread from here on (thread-confined: only that thread uses it).
  std::thread serve([&] {
    auto in = server->Recv(10000ms);
    if (!in || !*in) return;
    // An unrelated message first (e.g. a late reply to an earlier request), then the answer.
    (void)server->SendError((*in)->peer, 999, wire::ErrorCode::RETRY_LATER, "unrelated");
    MessageBuilder status((*in)->message.request_id(), sched.public_key());
    status.body().initJobStatusReply().initJob().setJobId("job-2");
    (void)server->Send((*in)->peer, status);
  });
  auto req = client->NewRequest();
  req.body().initJobStatus().setJobId("job-2");
  auto reply = client->Call(req, 10000ms);
  serve.join();
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->request_id(), req.request_id());
  ASSERT_EQ(reply->kind(), MessageKind::JOB_STATUS_REPLY);
  EXPECT_EQ(std::string(reply->body().getJobStatusReply().getJob().getJobId().cStr()), "job-2");

  // Nobody serves now: Call times out with a message that says what to check.
  auto again = client->NewRequest();
  again.body().setPing();
  auto timed_out = client->Call(again, 200ms);
  ASSERT_FALSE(timed_out);
  EXPECT_NE(timed_out.error().message.find("scheduler id"), std::string::npos);
}

TEST(TransportTest, ClientsCanShareOneContext) {
  Identity sched = Identity::Generate();
  auto server = StartServer(sched);
  auto context = TransportContext::Create(1);
  std::vector<Identity> ids;
  std::vector<std::unique_ptr<TransportClient>> clients;
  for (int i = 0; i < 8; ++i) {
    ids.push_back(Identity::Generate());
    auto c = TransportClient::Connect(server->endpoint(), sched.public_key(), ids.back(), context);
    ASSERT_TRUE(c);
    clients.push_back(std::move(*c));
  }
  context.reset();  // the clients keep it alive
  for (auto& c : clients) {
    auto req = c->NewRequest();
    req.body().setPing();
    ASSERT_TRUE(c->Send(req));
  }
  std::set<PublicKey> seen;
  for (size_t i = 0; i < clients.size(); ++i) {
    auto in = server->Recv(5000ms);
    ASSERT_TRUE(in && *in);
    seen.insert((*in)->principal);
  }
  EXPECT_EQ(seen.size(), clients.size());
}

TEST(TransportTest, BindFailsClearlyOnBadEndpoint) {
  ServerOptions options;
  options.endpoint = "tcp://nonsense";
  auto server = TransportServer::Bind(Identity::Generate(), options);
  ASSERT_FALSE(server);
  EXPECT_NE(server.error().message.find("cannot bind"), std::string::npos);
  auto client = TransportClient::Connect("bogus://x", Identity::Generate().public_key(),
                                         Identity::Generate());
  EXPECT_FALSE(client);
}

}  // namespace
}  // namespace plume
