// Private to the transport: the ZAP handler thread of a TransportServer. It answers ZeroMQ's
// authentication requests (inproc://zeromq.zap.01) for CURVE handshakes and watches the ROUTER's
// socket monitor for accepted and closed connections (the connection caps, conn_table.h) and
// failed handshakes, updating the server's counters.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "conn_table.h"
#include "plume/protocol/error.h"

namespace plume::detail {

struct TransportCounters {
  std::atomic<uint64_t> handshakes_accepted{0};
  std::atomic<uint64_t> handshakes_failed{0};
  std::atomic<uint64_t> messages_received{0};
  std::atomic<uint64_t> messages_malformed{0};
  std::atomic<uint64_t> refused_sender_mismatch{0};
  std::atomic<uint64_t> refused_unlisted_agent{0};
  std::atomic<uint64_t> messages_sent{0};
  std::atomic<uint64_t> send_failures{0};
  std::atomic<uint64_t> bytes_received{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> connections_live{0};
  std::atomic<uint64_t> refused_connections_total{0};    // over the total cap
  std::atomic<uint64_t> refused_connections_address{0};  // over the per-address cap
  std::atomic<uint64_t> replies_dropped{0};              // over the send byte budget
};

// The log's reason for a failed handshake (a socket monitor event and its value). An operator
// should tell a flood of silent connections (a timeout) from a client with the wrong scheduler id
// (a CURVE box that does not open) and from something that is no ZeroMQ client (a bad greeting).
std::string HandshakeFailureText(uint16_t event, uint32_t value);

// Caps warning lines per second so that a hostile or misconfigured peer cannot flood the log;
// counters still count every event. Not thread-safe: one per thread.
class LogLimiter {
 public:
  // True when this line may be logged now.
  bool Allow();

 private:
  std::chrono::steady_clock::time_point window_start_{};
  uint32_t in_window_ = 0;
  uint64_t suppressed_ = 0;
};

class ZapHandler {
 public:
  // Binds the ZAP endpoint in `context` and connects to the socket monitor at monitor_endpoint
  // (already started with zmq_socket_monitor on the ROUTER), then runs until destroyed. Returns
  // only after the ZAP socket is bound, so a ROUTER bound afterwards is always covered.
  static Result<std::unique_ptr<ZapHandler>> Start(zmq::context_t& context,
                                                   std::string monitor_endpoint,
                                                   TransportCounters* counters,
                                                   ConnectionCaps caps);
  ~ZapHandler();

 private:
  ZapHandler() = default;
  void Run(zmq::socket_t zap, zmq::socket_t monitor);
  void Answer(zmq::socket_t& zap, std::vector<zmq::message_t>& request);
  void OnMonitorEvent(std::vector<zmq::message_t>& event);
  std::atomic<bool> stop_{false};
  ConnectionCaps caps_{};
  ConnectionTable connections_;
  LogLimiter log_limiter_;
  TransportCounters* counters_ = nullptr;
  std::thread thread_;
};

}  // namespace plume::detail
