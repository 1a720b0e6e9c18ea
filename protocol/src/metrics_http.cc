// See metrics_http.h for why Plume serves /metrics itself.
#include "plume/protocol/metrics_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

namespace plume {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kRequestBytesMax = 8192;  // a scrape request is a few hundred bytes
constexpr int kPollMs = 200;               // how quickly the thread notices a stop
// The whole exchange (request in, response out) of one connection; a client slower than this
// (one that sends nothing, trickles a byte at a time, or never reads) is dropped. Prometheus'
// own scrape timeout defaults to 10 s, so an honest scraper is never cut.
constexpr auto kExchangeDeadline = std::chrono::seconds(5);
// Connections served at once. When all are taken, the oldest is dropped for the newcomer, so
// holding connections open cannot lock a scraper out.
constexpr size_t kConnectionsMax = 16;

std::string Response(int code, const char* reason, const char* type, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

struct Connection {
  int fd = -1;
  Clock::time_point deadline;
  std::string in;
  std::string out;  // the response, once the request is complete
  size_t sent = 0;
  bool responding = false;
};

}  // namespace

struct MetricsHttpServer::Impl {
  int fd = -1;
  int port = 0;
  Render render;
  std::atomic<bool> stop{false};
  std::thread thread;
  std::vector<Connection> conns;  // oldest first

  // One thread, many connections: every socket is non-blocking and polled together, so one
  // slow client costs a slot, never the others' time.
  void Serve() {
    std::vector<pollfd> fds;
    while (!stop.load()) {
      fds.assign(1, pollfd{fd, POLLIN, 0});
      for (const auto& c : conns) {
        fds.push_back(pollfd{c.fd, static_cast<short>(c.responding ? POLLOUT : POLLIN), 0});
      }
      if (::poll(fds.data(), fds.size(), kPollMs) < 0 && errno != EINTR) continue;
      const auto now = Clock::now();
      for (size_t i = 0; i < conns.size(); ++i) {
        if (fds[i + 1].revents != 0) Step(conns[i]);
      }
      for (auto& c : conns) {
        if (c.fd >= 0 && now > c.deadline) Close(c);
      }
      std::erase_if(conns, [](const Connection& c) { return c.fd < 0; });
      if (fds[0].revents & POLLIN) Accept(now);
    }
    for (auto& c : conns) Close(c);
  }

  void Accept(Clock::time_point now) {
    const int client = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) return;
    if (conns.size() >= kConnectionsMax) {
      Close(conns.front());
      conns.erase(conns.begin());
    }
    conns.push_back(Connection{client, now + kExchangeDeadline, {}, {}, 0, false});
  }

  // Reads what arrived or writes what the socket takes; never blocks.
  void Step(Connection& c) {
    if (!c.responding) {
      char buf[1024];
      const ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (n <= 0) return Close(c);
      c.in.append(buf, static_cast<size_t>(n));
      if (c.in.find("\r\n\r\n") == std::string::npos && c.in.size() < kRequestBytesMax) return;
      c.out = Answer(c.in);
      c.responding = true;
    }
    const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) return Close(c);
    c.sent += static_cast<size_t>(n);
    if (c.sent == c.out.size()) Close(c);
  }

  static void Close(Connection& c) {
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
  }

  std::string Answer(const std::string& req) {
    const bool is_get = req.rfind("GET ", 0) == 0;
    const size_t path_end = req.find(' ', 4);
    const std::string path =
        is_get && path_end != std::string::npos ? req.substr(4, path_end - 4) : "";
    if (path == "/metrics" || path.rfind("/metrics?", 0) == 0) {
      return Response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", render());
    }
    if (is_get) return Response(404, "Not Found", "text/plain", "only /metrics is served here\n");
    return Response(400, "Bad Request", "text/plain", "send GET /metrics\n");
  }
};

Result<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(const std::string& address,
                                                                    int port, Render render) {
  const std::string where = address + ":" + std::to_string(port);
  if (port < 0 || port > 65535) {
    return Fail("metrics port " + std::to_string(port) + " is out of range (0..65535)");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
    return Fail("cannot serve metrics on " + where + ": '" + address +
                "' is not an IPv4 address (use 0.0.0.0 or 127.0.0.1)");
  }
  auto impl = std::make_unique<Impl>();
  impl->render = std::move(render);
  impl->fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (impl->fd < 0) return Fail("cannot create a socket for metrics: " + std::string(strerror(errno)));
  const int one = 1;
  ::setsockopt(impl->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(impl->fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(impl->fd, 16) != 0) {
    const std::string why = strerror(errno);
    ::close(impl->fd);
    return Fail("cannot serve metrics on " + where + " (" + why +
                "): pick another --metrics-port, or 0 for a free one");
  }
  socklen_t len = sizeof(addr);
  ::getsockname(impl->fd, reinterpret_cast<sockaddr*>(&addr), &len);
  impl->port = ntohs(addr.sin_port);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->Serve(); });
  return std::unique_ptr<MetricsHttpServer>(new MetricsHttpServer(std::move(impl)));
}

MetricsHttpServer::MetricsHttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsHttpServer::~MetricsHttpServer() {
  impl_->stop = true;
  if (impl_->thread.joinable()) impl_->thread.join();
  ::close(impl_->fd);
}

int MetricsHttpServer::port() const { return impl_->port; }

}  // namespace plume
