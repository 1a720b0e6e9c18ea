// ZAP handler (RFC 27) for CURVE: every client that completes the CURVE handshake is accepted
// and stamped with its CURVE public key in hex as the ZAP User-Id. Possession of that key was
// proven by the handshake; which principal it belongs to is checked per message by the server
// (Envelope.sender must convert to this key), so the handler itself needs no key list.
#include "zap.h"

#include <vector>

#include <spdlog/spdlog.h>
#include <zmq_addon.hpp>

#include "plume/protocol/hash.h"
#include "plume/protocol/limits.h"

namespace plume::detail {
namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

// Answers one ZAP request. Frames: version, request id, domain, address, identity, mechanism,
// credentials... A request we cannot parse is refused (status 400) rather than ignored, because
// libzmq would otherwise wait for the handshake timeout.
void Answer(zmq::socket_t& zap, std::vector<zmq::message_t>& request, TransportCounters* c) {
  std::string request_id = request.size() > 1 ? request[1].to_string() : std::string();
  std::string status = "400", text = "malformed ZAP request", user_id;
  if (request.size() >= 7 && request[0].to_string_view() == "1.0" &&
      request[5].to_string_view() == "CURVE" && request[6].size() == 32) {
    auto key = std::span(static_cast<const uint8_t*>(request[6].data()), 32);
    status = "200";
    text = "OK";
    user_id = ToHex(key);
    c->handshakes_accepted.fetch_add(1, std::memory_order_relaxed);
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
// endpoint. We count failed handshakes: a peer with a wrong server key ends here.
void OnMonitorEvent(std::vector<zmq::message_t>& event, TransportCounters* c,
                    LogLimiter& log_limiter) {
  if (event.empty() || event[0].size() < 6) return;
  uint16_t id = 0;
  std::memcpy(&id, event[0].data(), sizeof(id));
  if (id == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL || id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
      id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
    c->handshakes_failed.fetch_add(1, std::memory_order_relaxed);
    std::string peer = event.size() > 1 ? event[1].to_string() : std::string("?");
    if (log_limiter.Allow()) spdlog::warn("transport: refused a connection on {}: CURVE handshake failed (the client "
                 "may be using a wrong scheduler id)", peer);
  }
}

}  // namespace

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
                                                      TransportCounters* counters) {
  std::unique_ptr<ZapHandler> handler(new ZapHandler());
  handler->counters_ = counters;
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
      if (items[0].revents & ZMQ_POLLIN) {
        std::vector<zmq::message_t> request;
        if (zmq::recv_multipart(zap, std::back_inserter(request), zmq::recv_flags::dontwait)) {
          Answer(zap, request, counters_);
        }
      }
      if (items[1].revents & ZMQ_POLLIN) {
        std::vector<zmq::message_t> event;
        if (zmq::recv_multipart(monitor, std::back_inserter(event), zmq::recv_flags::dontwait)) {
          OnMonitorEvent(event, counters_, log_limiter_);
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
