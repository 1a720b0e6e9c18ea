// A TCP proxy on loopback that counts the bytes it forwards, to measure what really crosses the
// wire between agents and the scheduler (CURVE, ZMTP and Cap'n Proto framing included): agents
// connect to the proxy instead of the scheduler. CURVE is end to end, so the proxy is invisible
// to both sides. One poll() thread; fine for a handful of connections.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "plume/protocol/error.h"

namespace plume::bench {

class CountingProxy {
 public:
  // Listens on 127.0.0.1 (a free port) and forwards every connection to upstream_port.
  static Result<std::unique_ptr<CountingProxy>> Start(uint16_t upstream_port);
  ~CountingProxy();  // stops the thread and closes every socket
  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  uint64_t bytes_up() const { return up_.load(); }      // client -> upstream
  uint64_t bytes_down() const { return down_.load(); }  // upstream -> client

 private:
  CountingProxy() = default;
  void Loop();
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  uint16_t upstream_port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> up_{0}, down_{0};
  std::thread thread_;
};

}  // namespace plume::bench
