// See metrics_http.h for why Plume serves /metrics itself.
#include "plume/protocol/metrics_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

namespace plume {
namespace {

constexpr size_t kRequestBytesMax = 8192;  // a scrape request is a few hundred bytes
constexpr int kPollMs = 200;               // how quickly the thread notices a stop
constexpr int kClientTimeoutMs = 2000;     // a client that sends nothing is dropped

bool SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

std::string Response(int code, const char* reason, const char* type, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

// Reads until the end of the request headers, a timeout, or the size bound.
std::string ReadRequest(int fd) {
  std::string req;
  char buf[1024];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < kRequestBytesMax) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kClientTimeoutMs) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  return req;
}

}  // namespace

struct MetricsHttpServer::Impl {
  int fd = -1;
  int port = 0;
  Render render;
  std::atomic<bool> stop{false};
  std::thread thread;

  void Serve() {
    while (!stop.load()) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, kPollMs) <= 0) continue;
      const int client = ::accept(fd, nullptr, nullptr);
      if (client < 0) continue;
      Answer(client);
      ::close(client);
    }
  }

  void Answer(int client) {
    const std::string req = ReadRequest(client);
    const bool is_get = req.rfind("GET ", 0) == 0;
    const size_t path_end = req.find(' ', 4);
    const std::string path = is_get && path_end != std::string::npos ? req.substr(4, path_end - 4) : "";
    if (path == "/metrics" || path.rfind("/metrics?", 0) == 0) {
      SendAll(client, Response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", render()));
    } else if (is_get) {
      SendAll(client, Response(404, "Not Found", "text/plain", "only /metrics is served here\n"));
    } else {
      SendAll(client, Response(400, "Bad Request", "text/plain", "send GET /metrics\n"));
    }
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
