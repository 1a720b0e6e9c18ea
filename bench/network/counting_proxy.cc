#include "counting_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace plume::bench {
namespace {

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<CountingProxy>> CountingProxy::Start(uint16_t upstream_port) {
  std::unique_ptr<CountingProxy> p(new CountingProxy());
  p->upstream_port_ = upstream_port;
  p->listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (p->listen_fd_ < 0 || bind(p->listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(p->listen_fd_, 64) != 0 ||
      getsockname(p->listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return Fail(std::string("counting proxy: cannot listen on loopback: ") + strerror(errno));
  }
  p->port_ = ntohs(a.sin_port);
  p->thread_ = std::thread([raw = p.get()] { raw->Loop(); });
  return p;
}

CountingProxy::~CountingProxy() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void CountingProxy::Loop() {
  struct Pair {
    int client = -1, upstream = -1;
  };
  std::vector<Pair> pairs;
  std::vector<char> buf(1 << 16);
  while (!stop_.load()) {
    std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
    for (const Pair& p : pairs) {
      fds.push_back({p.client, POLLIN, 0});
      fds.push_back({p.upstream, POLLIN, 0});
    }
    if (poll(fds.data(), fds.size(), 50) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      const int c = accept(listen_fd_, nullptr, nullptr);
      if (c >= 0) {
        const int u = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(upstream_port_);
        if (u >= 0 && connect(u, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
          pairs.push_back({c, u});
        } else {
          close(c);
          if (u >= 0) close(u);
        }
      }
    }
    std::vector<Pair> alive;
    for (size_t i = 0; i < pairs.size(); ++i) {
      const Pair& p = pairs[i];
      bool ok = true;
      for (int side = 0; side < 2 && ok; ++side) {
        const pollfd& f = fds[1 + 2 * i + side];
        if ((f.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        const ssize_t n = recv(f.fd, buf.data(), buf.size(), 0);
        if (n <= 0) {
          ok = n < 0 && (errno == EINTR || errno == EAGAIN);
          continue;
        }
        const int to = side == 0 ? p.upstream : p.client;
        (side == 0 ? up_ : down_).fetch_add(static_cast<uint64_t>(n));
        ok = WriteAll(to, buf.data(), static_cast<size_t>(n));
      }
      if (ok) {
        alive.push_back(p);
      } else {
        close(p.client);
        close(p.upstream);
      }
    }
    pairs.swap(alive);
  }
  for (const Pair& p : pairs) {
    close(p.client);
    close(p.upstream);
  }
}

}  // namespace plume::bench
