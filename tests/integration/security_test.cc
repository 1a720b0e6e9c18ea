// Issue 3, integration test 5: the scheduler refuses what it must and survives bad input.
//  - a client or an agent that expects the wrong scheduler key gets no service;
//  - an agent not on the allow-list is refused;
//  - random and truncated bytes (raw TCP and inside a CURVE session) leave it running and
//    answering; an oversized message is refused;
//  - an agent asking for a blob of another agent's task is refused;
//  - registers and failure reports whose text is not UTF-8 or is huge are refused with an error,
//    and the scheduler and `plume nodes/status --json` keep working, also after a restart.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "network.h"
#include "plume/protocol/limits.h"
#include "plume/protocol/message.h"
#include "plume/protocol/transport.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

int PortOf(const std::string& endpoint) {
  return std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
}

// Opens a plain TCP connection, writes bytes, closes (no ZMTP, no CURVE).
void SendRawTcp(int port, const std::string& bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  [[maybe_unused]] ssize_t n = ::write(fd, bytes.data(), bytes.size());
  ::close(fd);
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// A CURVE session to the scheduler as a fresh principal.
std::unique_ptr<TransportClient> Connect(const Network& net, const Identity& id) {
  auto server = PublicKeyFromHex(net.scheduler_id());
  if (!server) return nullptr;
  auto c = TransportClient::Connect(net.endpoint(), *server, id);
  return c ? std::move(*c) : nullptr;
}

// Whether the scheduler still answers a ListNodes on this session.
bool Answers(TransportClient& c) {
  auto req = c.NewRequest();
  req.body().initListNodes();
  auto reply = c.Call(req, std::chrono::seconds(10));
  return reply && reply->kind() == MessageKind::LIST_NODES_REPLY;
}

// The next Error reply's code, skipping anything else, or nullopt after the timeout.
std::optional<wire::ErrorCode> NextError(TransportClient& c) {
  const auto deadline = Clock::now() + seconds(10);
  while (Clock::now() < deadline) {
    auto in = c.Recv(milliseconds(200));
    if (in && in->has_value() && (*in)->kind() == MessageKind::ERROR) {
      return (*in)->body().getError().getCode();
    }
  }
  return std::nullopt;
}

TEST(SecurityIntegration, WrongSchedulerKeyGetsNoService) {
  Network net("wrong-key");
  std::string why;
  ASSERT_TRUE(net.StartScheduler(&why)) << why;
  const std::string impostor = MakeKey(net.dir() / "impostor.key");
  // A client that expects another scheduler key: the CURVE handshake fails, nothing answers.
  CommandResult r = net.Cli({"nodes", "--scheduler-id", impostor}, seconds(30),
                            {{"PLUME_TIMEOUT_MS", "2000"}});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("scheduler-id"), std::string::npos) << r.err;
  // An agent with the wrong scheduler key never registers, while a correct one does.
  ASSERT_TRUE(net.StartAgent("rogue", &why, {}, impostor)) << why;
  ASSERT_TRUE(net.StartAgent("good", &why)) << why;
  ASSERT_TRUE(net.WaitActiveNodes(1, seconds(60))) << net.Logs();
  ASSERT_TRUE(WaitUntil([&] { return net.AgentLogHas("rogue", "registering with"); }, seconds(30)))
      << net.Logs();
  auto nodes = net.CliJson({"nodes"}, &why);
  ASSERT_TRUE(nodes) << why;
  ASSERT_EQ(nodes->size(), 1u) << nodes->dump();
  EXPECT_EQ((*nodes)[0]["agent"], net.agent_id("good"));
  // A key file that others can read is refused before connecting (exit 2: fix your input).
  const fs::path loose = net.dir() / "loose.key";
  MakeKey(loose);
  fs::permissions(loose, fs::perms::others_read, fs::perm_options::add);
  CommandResult bad = net.Cli({"nodes", "--key", loose.string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("chmod 600"), std::string::npos) << bad.err;
}

TEST(SecurityIntegration, AgentNotOnTheAllowListIsRefused) {
  Network net("allow-list");
  // Make the listed agent's key first so its id can go into the list.
  std::string why;
  const fs::path list = net.dir() / "allow.txt";
  fs::create_directories(net.dir() / "keys");
  const std::string listed = MakeKey(net.dir() / "keys" / "agent-listed.key");
  std::ofstream(list) << "# agents allowed to join\n" << listed << "\n";
  ASSERT_TRUE(net.StartScheduler(&why, {"--allow-list", list.string()})) << why;
  ASSERT_TRUE(net.StartAgent("stranger", &why)) << why;
  // StartAgent reuses an existing key file of that name.
  ASSERT_TRUE(net.StartAgent("listed", &why)) << why;
  ASSERT_TRUE(net.WaitActiveNodes(1, seconds(60))) << net.Logs();
  ASSERT_TRUE(WaitUntil([&] { return net.AgentLogHas("stranger", "registration refused"); },
                        seconds(30)))
      << net.Logs();
  auto nodes = net.CliJson({"nodes"}, &why);
  ASSERT_TRUE(nodes) << why;
  ASSERT_EQ(nodes->size(), 1u) << nodes->dump();
  EXPECT_EQ((*nodes)[0]["agent"], listed);
}

TEST(SecurityIntegration, GarbageTruncatedAndOversizedInputLeaveTheSchedulerAnswering) {
  Network net("garbage");
  std::string why;
  ASSERT_TRUE(net.StartScheduler(&why)) << why;
  const int port = PortOf(net.endpoint());
  // Raw TCP: random bytes, a truncated ZMTP greeting, an empty connection.
  for (uint32_t seed = 1; seed <= 20; ++seed) SendRawTcp(port, RandomBytes(1 + seed * 97, seed));
  SendRawTcp(port, std::string("\xff\0\0\0\0\0\0\0\x01\x7f", 10));
  SendRawTcp(port, "");

  Identity me = Identity::Generate();
  auto c = Connect(net, me);
  ASSERT_TRUE(c);
  ASSERT_TRUE(Answers(*c)) << net.Logs();
  // Inside a CURVE session: random frames, a valid request cut short, a wrong version.
  for (uint32_t seed = 1; seed <= 10; ++seed) ASSERT_TRUE(c->Send(RandomBytes(8 * seed, seed)));
  auto req = c->NewRequest();
  req.body().initListNodes();
  auto frame = req.Encode();
  ASSERT_TRUE(frame);
  for (size_t cut : {size_t{1}, size_t{7}, size_t{8}, frame->size() / 2, frame->size() - 8}) {
    ASSERT_TRUE(c->Send(std::string_view(*frame).substr(0, cut)));
  }
  ASSERT_TRUE(Answers(*c)) << "scheduler stopped answering after malformed frames\n" << net.Logs();

  // Oversized: above the decoder's limit but below libzmq's: refused with an Error reply.
  ASSERT_TRUE(c->Send(std::string(limits::kMessageBytesMax + 1024, 'x')));
  auto code = NextError(*c);
  ASSERT_TRUE(code.has_value()) << "no error reply to an oversized message";
  EXPECT_TRUE(*code == wire::ErrorCode::TOO_LARGE || *code == wire::ErrorCode::BAD_MESSAGE);
  ASSERT_TRUE(Answers(*c)) << net.Logs();
  // Far above libzmq's frame limit: the connection is dropped, the scheduler carries on.
  {
    Identity other = Identity::Generate();
    auto big = Connect(net, other);
    ASSERT_TRUE(big);
    (void)big->Send(std::string(static_cast<size_t>(limits::kSocketFrameBytesMax) * 2, 'y'));
  }
  auto fresh = Connect(net, Identity::Generate());
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(Answers(*fresh)) << net.Logs();
  EXPECT_TRUE(net.scheduler().Running());
}

TEST(SecurityIntegration, AgentCannotReadBlobsOfAnotherAgentsTask) {
  Network net("blob-acl");
  std::string why;
  ASSERT_TRUE(net.StartScheduler(&why)) << why;
  ASSERT_TRUE(net.StartAgent("a", &why)) << why;
  ASSERT_TRUE(net.WaitActiveNodes(1, seconds(60))) << net.Logs();
  const fs::path data = WriteTrainingText(net.dir().path(), 30'000);
  TrainShape shape;
  shape.workers = 1;
  shape.rounds = 1;
  shape.local_steps = 5;
  CommandResult submit = net.Cli(
      {"submit", WriteTrainSpec(net.dir().path(), "acl", data, shape).string(), "--json"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  // The "data" blob the CLI uploaded: the file minus its validation tail.
  const std::string text = ReadFile(data);
  const size_t val_n = static_cast<size_t>(std::floor(double(text.size()) * shape.val_fraction));
  const Hash256 data_hash = Blake2b256(text.substr(0, text.size() - val_n));

  // An intruder registers as an agent (with nothing to offer, so it is never given work) and
  // asks for the blob of agent a's task.
  Identity intruder = Identity::Generate();
  auto c = Connect(net, intruder);
  ASSERT_TRUE(c);
  auto reg = c->NewRequest();
  auto r = reg.body().initRegister();
  r.setName("intruder");
  r.setPriceMicroPlumePerPflop(1);  // a price <= 0 is refused before anything else
  r.initGpus(0);
  auto ack = c->Call(reg, std::chrono::seconds(10));
  ASSERT_TRUE(ack) << ack.error().message;
  ASSERT_EQ(ack->kind(), MessageKind::REGISTER_ACK) << KindName(ack->kind());
  auto get = c->NewRequest();
  auto g = get.body().initBlobGet();
  g.setHash(AsData(data_hash));
  g.setOffset(0);
  auto reply = c->Call(get, std::chrono::seconds(10));
  ASSERT_TRUE(reply) << reply.error().message;
  ASSERT_EQ(reply->kind(), MessageKind::ERROR) << "the blob was served to a stranger";
  EXPECT_EQ(reply->body().getError().getCode(), wire::ErrorCode::UNAUTHORIZED);
  EXPECT_TRUE(Answers(*c));
}

// Register once over its own CURVE session; the reply's kind and, for an error, its code.
std::pair<MessageKind, wire::ErrorCode> RegisterAs(TransportClient& c, const std::string& name,
                                                   const std::string& gpu_name) {
  auto req = c.NewRequest();
  auto r = req.body().initRegister();
  r.setName(capnp::Text::Reader(name.data(), name.size()));
  r.setPriceMicroPlumePerPflop(1);  // only the text is hostile
  auto gpu = r.initGpus(1)[0];
  gpu.setName(capnp::Text::Reader(gpu_name.data(), gpu_name.size()));
  gpu.setBackend(wire::Backend::CPU);
  gpu.setMemoryBytes(1u << 30);
  gpu.setCount(1);
  gpu.setSelftestPassed(true);
  auto reply = c.Call(req, std::chrono::seconds(30));
  if (!reply) return {MessageKind::ERROR, wire::ErrorCode::INTERNAL};
  const MessageKind kind = reply->kind();
  return {kind, kind == MessageKind::ERROR ? reply->body().getError().getCode()
                                           : wire::ErrorCode::INTERNAL};
}

// The crash of the hostile-client run: one register whose GPU name was not UTF-8 stopped the
// scheduler at its next save (JSON type_error 316); a non-UTF-8 agent name was saved and broke
// `plume nodes/status --json` for everyone, and 3 MiB names broke the listings. Each is now
// refused with an error before anything is kept; the same key then registers honestly.
TEST(SecurityIntegration, HostileRegisterTextIsRefusedAndListingsKeepWorking) {
  Network net("hostile-text");
  std::string why;
  ASSERT_TRUE(net.StartScheduler(&why)) << why;
  auto c = Connect(net, Identity::Generate());
  ASSERT_TRUE(c);
  const std::string huge(3u << 20, 'n');
  const std::pair<std::string, std::string> hostile[] = {
      {"rig", "c\x80u"}, {"bad\x80name", "cpu"}, {huge, "cpu"}, {huge, "cpu"}, {huge, "cpu"},
      {"rig", std::string(1000, 'g')}, {"esc\x1b[2J", "cpu"}};
  for (const auto& [name, gpu] : hostile) {
    auto [kind, code] = RegisterAs(*c, name, gpu);
    ASSERT_EQ(kind, MessageKind::ERROR) << KindName(kind) << " for a hostile register\n"
                                        << net.Logs();
    EXPECT_EQ(code, wire::ErrorCode::BAD_MESSAGE);
    ASSERT_TRUE(net.scheduler().Running()) << net.Logs();
  }
  // A failure report with a reason that is not UTF-8 is refused the same way.
  auto failed = c->NewRequest();
  failed.body().initTaskFailed().setReason("oom \xfe\xff");
  ASSERT_TRUE(c->Send(failed));
  auto code = NextError(*c);
  ASSERT_TRUE(code.has_value()) << net.Logs();
  EXPECT_EQ(*code, wire::ErrorCode::BAD_MESSAGE);
  // The check refuses what is bad, not everything: the same key registers with honest text.
  auto [kind, unused] = RegisterAs(*c, "gr\xc3\xbcn-01", "NVIDIA H100 80GB HBM3");
  ASSERT_EQ(kind, MessageKind::REGISTER_ACK) << KindName(kind) << "\n" << net.Logs();
  for (int restart = 0; restart < 2; ++restart) {
    auto nodes = net.CliJson({"nodes"}, &why);
    ASSERT_TRUE(nodes) << why << "\n" << net.Logs();
    ASSERT_EQ(nodes->size(), 1u) << nodes->dump();
    EXPECT_EQ((*nodes)[0]["name"], "gr\xc3\xbcn-01");
    CommandResult status = net.Cli({"status", "--json"});
    EXPECT_EQ(status.exit_code, 0) << status.err;
    EXPECT_TRUE(nlohmann::json::accept(status.out)) << status.out.substr(0, 200);
    // What was saved loads again: the restarted scheduler comes up and lists the same.
    net.scheduler().Kill();
    ASSERT_TRUE(net.StartScheduler(&why)) << why;
  }
}

}  // namespace
}  // namespace plume::itest
