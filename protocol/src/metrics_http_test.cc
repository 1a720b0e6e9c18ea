// The /metrics server against hostile clients on a real loopback socket: one that connects and
// sends nothing, one that trickles its request a byte at a time, and a crowd that holds every
// slot. A scraper is answered while they are all still connected, and the slow ones are cut.
#include "plume/protocol/metrics_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace plume {
namespace {

int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A whole scrape; "" when the server does not answer within `wait_ms` (far above what an
// answer takes, so only a blocked server misses it).
std::string Scrape(int port, int wait_ms = 4000) {
  const int fd = Connect(port);
  if (fd < 0) return "";
  const std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string body;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, wait_ms) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    body.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return body;
}

// True once the server has closed `fd` (recv sees end of stream), waiting at most `wait_ms`.
bool ClosedByServer(int fd, int wait_ms) {
  char buf[64];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, wait_ms) <= 0) return false;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return true;
  }
}

TEST(MetricsHttp, SlowClientsNeitherBlockAScrapeNorStay) {
  auto server = MetricsHttpServer::Start("127.0.0.1", 0, [] { return "plume_up 1\n"; });
  ASSERT_TRUE(server) << server.error().message;
  const int port = (*server)->port();

  const int silent = Connect(port);  // connects and never sends a byte
  ASSERT_GE(silent, 0);
  const int trickler = Connect(port);
  ASSERT_GE(trickler, 0);
  std::atomic<bool> stop{false};
  std::thread trickle([&] {  // "GET /metr..." one byte every 50 ms, never finishing
    const std::string partial = "GET /metrics HTTP/1.1\r\nX-Pad: ";
    for (size_t i = 0; !stop.load(); ++i) {
      const char c = i < partial.size() ? partial[i] : 'a';
      if (::send(trickler, &c, 1, MSG_NOSIGNAL) != 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the attack's pace, not a sync
    }
  });

  // Both attackers are connected; a scrape is answered anyway, and both are still connected.
  const std::string body = Scrape(port);
  EXPECT_NE(body.find("200 OK"), std::string::npos) << body;
  EXPECT_NE(body.find("plume_up 1"), std::string::npos) << body;
  EXPECT_FALSE(ClosedByServer(silent, 0)) << "the silent client was still within its deadline";

  // Then the server cuts both (each exchange has a few seconds in all, not per byte).
  EXPECT_TRUE(ClosedByServer(silent, 15'000));
  EXPECT_TRUE(ClosedByServer(trickler, 15'000));
  stop = true;
  trickle.join();
  ::close(silent);
  ::close(trickler);
}

TEST(MetricsHttp, HoldingEverySlotDoesNotLockAScraperOut) {
  auto server = MetricsHttpServer::Start("127.0.0.1", 0, [] { return "plume_up 1\n"; });
  ASSERT_TRUE(server) << server.error().message;
  const int port = (*server)->port();
  std::vector<int> crowd;
  for (int i = 0; i < 64; ++i) {  // more than the server keeps at once
    const int fd = Connect(port);
    ASSERT_GE(fd, 0);
    crowd.push_back(fd);
  }
  const std::string body = Scrape(port);
  EXPECT_NE(body.find("plume_up 1"), std::string::npos) << body;
  for (int fd : crowd) ::close(fd);
}

TEST(MetricsHttp, OnlyGetMetricsIsServed) {
  auto server = MetricsHttpServer::Start("127.0.0.1", 0, [] { return "x 1\n"; });
  ASSERT_TRUE(server);
  const int fd = Connect((*server)->port());
  const std::string req = "POST /metrics HTTP/1.1\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string reply(256, '\0');
  pollfd p{fd, POLLIN, 0};
  ASSERT_GT(::poll(&p, 1, 4000), 0);
  reply.resize(static_cast<size_t>(std::max<ssize_t>(0, ::recv(fd, reply.data(), reply.size(), 0))));
  EXPECT_NE(reply.find("400 Bad Request"), std::string::npos) << reply;
  ::close(fd);
  EXPECT_FALSE(MetricsHttpServer::Start("not-an-ip", 0, [] { return ""; }));
}

}  // namespace
}  // namespace plume
