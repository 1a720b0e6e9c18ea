// ZAP handler (RFC 27) for CURVE: every client that completes the CURVE handshake is accepted
// and stamped with its CURVE public key in hex as the ZAP User-Id. Possession of that key was
// proven by the handshake; which principal it belongs to is checked per message by the server
// (Envelope.sender must convert to this key), so the handler itself needs no key list.
#include "zap.h"

#include <netdb.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>
#include <zmq_addon.hpp>

#include "plume/protocol/hash.h"
#include "plume/protocol/limits.h"

namespace plume::detail {
namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

// The peer address of an accepted socket, formatted as libzmq formats the ZAP request's address
// (getnameinfo, numeric host), so the two meet in one table. Empty when the socket is already
// gone; it is then counted under "" until its DISCONNECTED arrives.
std::string PeerAddressOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  char host[NI_MAXHOST] = {};
  if (::getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, nullptr, 0,
                    NI_NUMERICHOST) != 0) {
    return {};
  }
  return host;
}

// ZAP status for a refused connection: 300 is RFC 27's "temporary error" (libzmq on the client
// retries after its reconnect interval), and it tells our monitor this was a cap, not a bad key.
constexpr const char* kStatusBusy = "300";

}  // namespace

// Answers one ZAP request. Frames: version, request id, domain, address, identity, mechanism,
// credentials... A request we cannot parse is refused (status 400) rather than ignored, because
// libzmq would otherwise wait for the handshake timeout.
void ZapHandler::Answer(zmq::socket_t& zap, std::vector<zmq::message_t>& request) {
  std::string request_id = request.size() > 1 ? request[1].to_string() : std::string();
  std::string status = "400", text = "malformed ZAP request", user_id;
  if (request.size() >= 7 && request[0].to_string_view() == "1.0" &&
      request[5].to_string_view() == "CURVE" && request[6].size() == 32) {
    const std::string address = request[3].to_string();
    const Admission admit = connections_.Admit(address, caps_);
    if (admit == Admission::kAdmit) {
      auto key = std::span(static_cast<const uint8_t*>(request[6].data()), 32);
      status = "200";
      text = "OK";
      user_id = ToHex(key);
      counters_->handshakes_accepted.fetch_add(1, std::memory_order_relaxed);
    } else {
      const bool total = admit == Admission::kTotalFull;
      (total ? counters_->refused_connections_total : counters_->refused_connections_address)
          .fetch_add(1, std::memory_order_relaxed);
      status = kStatusBusy;
      text = total ? "too many connections" : "too many connections from this address";
      if (log_limiter_.Allow()) {
        spdlog::warn("transport: refused a connection from {}: {} ({} live, {} from it; caps {} "
                     "and {} per address)", address, text, connections_.live(),
                     connections_.live_from(address), caps_.total_max, caps_.per_address_max);
      }
    }
  } else {
    spdlog::warn("transport: refused a connection with an unexpected security mechanism "
                 "(only CURVE is accepted)");
    status = "400";
    text = "only CURVE is accepted";
  }
  std::vector<zmq::message_t> reply;
  reply.emplace_back(std::string_view("1.0"));
  reply.emplace_back(request_id);
  reply.emplace_back(status);
  reply.emplace_back(text);
  reply.emplace_back(user_id);
  reply.emplace_back();  // no metadata
  zmq::send_multipart(zap, reply);
}

// Socket monitor events (libzmq 4.3 format): frame 1 = uint16 event + uint32 value, frame 2 =
// endpoint. ACCEPTED and DISCONNECTED carry the connection's fd (the connection table); a failed
// handshake is counted, except our own refusals (status 300), which Answer counted already.
void ZapHandler::OnMonitorEvent(std::vector<zmq::message_t>& event) {
  if (event.empty() || event[0].size() < 6) return;
  uint16_t id = 0;
  uint32_t value = 0;
  std::memcpy(&id, event[0].data(), sizeof(id));
  std::memcpy(&value, static_cast<const char*>(event[0].data()) + sizeof(id), sizeof(value));
  if (id == ZMQ_EVENT_ACCEPTED || id == ZMQ_EVENT_DISCONNECTED) {
    const int fd = static_cast<int>(value);
    if (id == ZMQ_EVENT_ACCEPTED) {
      connections_.Accepted(fd, PeerAddressOf(fd));
    } else {
      connections_.Closed(fd);
    }
    counters_->connections_live.store(connections_.live(), std::memory_order_relaxed);
    return;
  }
  if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && value == 300) return;
  if (id == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL || id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
      id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
    counters_->handshakes_failed.fetch_add(1, std::memory_order_relaxed);
    std::string peer = event.size() > 1 ? event[1].to_string() : std::string("?");
    if (log_limiter_.Allow()) {
      spdlog::warn("transport: refused a connection on {}: {}", peer,
                   HandshakeFailureText(id, value));
    }
  }
}

std::string HandshakeFailureText(uint16_t event, uint32_t value) {
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
    return "the handshake did not finish (timed out after " +
           std::to_string(limits::kHandshakeIvlMs / 1000) + " s, or the connection dropped)";
  }
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
    return "CURVE authentication failed (status " + std::to_string(value) + ")";
  }
  if (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
    return "CURVE handshake failed (the client may be using a wrong scheduler id)";
  }
  char code[16];
  std::snprintf(code, sizeof code, "0x%08x", value);
  return std::string("not a ZeroMQ CURVE handshake (protocol error ") + code + ")";
}


bool LogLimiter::Allow() {
  auto now = std::chrono::steady_clock::now();
  if (now - window_start_ >= std::chrono::seconds(1)) {
    if (suppressed_ > 0) {
      spdlog::warn("transport: {} more refusals in the last second were counted, not logged",
                   suppressed_);
    }
    window_start_ = now;
    in_window_ = 0;
    suppressed_ = 0;
  }
  if (in_window_ < limits::kRefusalLogLinesPerSecond) {
    ++in_window_;
    return true;
  }
  ++suppressed_;
  return false;
}

Result<std::unique_ptr<ZapHandler>> ZapHandler::Start(zmq::context_t& context,
                                                      std::string monitor_endpoint,
                                                      TransportCounters* counters,
                                                      ConnectionCaps caps) {
  std::unique_ptr<ZapHandler> handler(new ZapHandler());
  handler->counters_ = counters;
  handler->caps_ = caps;
  try {
    zmq::socket_t zap(context, zmq::socket_type::rep);
    zap.set(zmq::sockopt::linger, 0);
    zap.bind(kZapEndpoint);
    zmq::socket_t monitor(context, zmq::socket_type::pair);
    monitor.set(zmq::sockopt::linger, 0);
    monitor.connect(monitor_endpoint);
    // Thread creation is a full barrier, so handing the sockets to the new thread is safe.
    handler->thread_ = std::thread(
        [h = handler.get(), z = std::move(zap), m = std::move(monitor)]() mutable {
          h->Run(std::move(z), std::move(m));
        });
  } catch (const zmq::error_t& e) {
    return Fail(std::string("cannot start the ZAP authentication handler: ") + e.what());
  }
  return handler;
}

ZapHandler::~ZapHandler() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void ZapHandler::Run(zmq::socket_t zap, zmq::socket_t monitor) {
  // Exceptions end at this thread's boundary: a failing handler logs and stops answering, so
  // new handshakes fail (closed, not open).
  try {
    zmq::pollitem_t items[] = {{zap.handle(), 0, ZMQ_POLLIN, 0},
                               {monitor.handle(), 0, ZMQ_POLLIN, 0}};
    while (!stop_.load()) {
      zmq::poll(items, 2, std::chrono::milliseconds(limits::kZapPollMs));
      // Monitor events first, all of them: a connection's ACCEPTED is sent before its handshake
      // starts, so the table counts it by the time its ZAP request is answered.
      for (;;) {
        std::vector<zmq::message_t> event;
        if (!zmq::recv_multipart(monitor, std::back_inserter(event), zmq::recv_flags::dontwait)) {
          break;
        }
        OnMonitorEvent(event);
      }
      if (items[0].revents & ZMQ_POLLIN) {
        std::vector<zmq::message_t> request;
        if (zmq::recv_multipart(zap, std::back_inserter(request), zmq::recv_flags::dontwait)) {
          Answer(zap, request);
        }
      }
    }
  } catch (const zmq::error_t& e) {
    if (e.num() != ETERM) spdlog::error("transport: ZAP handler stopped: {}", e.what());
  } catch (const std::exception& e) {
    spdlog::error("transport: ZAP handler stopped: {}", e.what());
  }
}

}  // namespace plume::detail
