// TransportServer: the scheduler's CURVE ROUTER socket. Receives frames, decodes and checks them
// (sender key, allow-list), answers bad ones with an Error, and hands good ones to the caller.
#include <sodium.h>

#include <atomic>
#include <map>
#include <set>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "plume/protocol/limits.h"
#include "plume/protocol/transport.h"
#include "send_budget.h"
#include "socket_options.h"
#include "zap.h"

namespace plume {
namespace {

using Clock = std::chrono::steady_clock;

// Messages only an agent sends; the allow-list applies to these.
bool IsAgentMessage(MessageKind kind) {
  using W = wire::Envelope::Body::Which;
  switch (kind) {
    case W::REGISTER:
    case W::HEARTBEAT:
    case W::DRAIN:
    case W::DEREGISTER:
    case W::TASK_PROGRESS:
    case W::TASK_RESULT:
    case W::TASK_FAILED:
      return true;
    default:
      return false;
  }
}

std::string PeerText(const std::string& user_id) {
  return user_id.empty() ? std::string("?") : user_id.substr(0, 16) + "…";
}

}  // namespace

std::string Z85Key(const CurveKey& key) {
  char text[41] = {};
  zmq_z85_encode(text, key.data(), key.size());
  return std::string(text, 40);
}

struct TransportServer::Impl {
  Identity identity;
  ServerOptions options;
  std::string endpoint;
  uint16_t port = 0;
  detail::TransportCounters counters;
  // The allow-list by ed25519 key, not CURVE key: a key and its sign-bit twin (the point -A,
  // same Montgomery u, so the same CURVE key) are different ed25519 keys, and only the listed
  // one may act as an agent.
  std::set<PublicKey> allowed_agents;
  // The ed25519 key each connection (ROUTER routing id) first spoke as: a later message on the
  // connection naming another key (the twin of the connection's key) is refused, so one
  // connection is one principal. Bounded like curve_of_sender.
  std::unordered_map<PeerId, PublicKey> sender_of_peer;
  std::unordered_map<std::string, CurveKey> curve_of_sender;  // raw ed25519 bytes -> CURVE key
  uint64_t handshake_failures_reported = 0;
  detail::LogLimiter log_limiter;
  std::unique_ptr<detail::SendBudget> budget;
  // Order matters for destruction: the ZAP thread and sockets go before the context.
  zmq::context_t context{1};
  zmq::socket_t router;
  std::unique_ptr<detail::ZapHandler> zap;

  ~Impl() {
    zap.reset();
    router.close();
    context.close();
  }

  void LogRefusal(const std::string& who, const std::string& text) {
    if (log_limiter.Allow()) spdlog::warn("transport: refused a message from {}: {}", who, text);
  }
  void Refuse(RefusalReason reason, const std::string& detail) {
    if (options.on_refusal) options.on_refusal(reason, detail);
  }
  void ReportHandshakeFailures() {
    uint64_t now = counters.handshakes_failed.load(std::memory_order_relaxed);
    for (; handshake_failures_reported < now; ++handshake_failures_reported) {
      Refuse(RefusalReason::kHandshakeFailed, "CURVE handshake failed");
    }
  }
  // The CURVE key an ed25519 sender must connect with; cached because the conversion costs a
  // field inversion and every message needs it.
  std::optional<CurveKey> CurveOf(const PublicKey& sender) {
    std::string key(reinterpret_cast<const char*>(sender.data()), sender.size());
    if (auto it = curve_of_sender.find(key); it != curve_of_sender.end()) return it->second;
    auto curve = CurvePublicFromEd25519(sender);
    if (!curve) return std::nullopt;
    if (curve_of_sender.size() >= limits::kPeerKeyCacheEntries) curve_of_sender.clear();
    curve_of_sender.emplace(std::move(key), *curve);
    return *curve;
  }
  // Binds `peer` to `sender` on its first message; false when it is bound to another key.
  bool BindSender(const PeerId& peer, const PublicKey& sender) {
    if (auto it = sender_of_peer.find(peer); it != sender_of_peer.end()) {
      return it->second == sender;
    }
    if (sender_of_peer.size() >= limits::kPeerKeyCacheEntries) sender_of_peer.clear();
    sender_of_peer.emplace(peer, sender);
    return true;
  }
  std::optional<Incoming> Check(std::vector<zmq::message_t>& frames);
  Status SendRaw(const PeerId& peer, std::string_view frame);
};

TransportServer::TransportServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TransportServer::~TransportServer() = default;

Result<std::unique_ptr<TransportServer>> TransportServer::Bind(const Identity& identity,
                                                               ServerOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->identity = identity;
  impl->options = std::move(options);
  if (impl->options.agent_allow_list) {
    for (const auto& pk : *impl->options.agent_allow_list) {
      auto curve = CurvePublicFromEd25519(pk);
      if (!curve) return Fail("agent allow-list: " + curve.error().message);
      impl->allowed_agents.insert(pk);
    }
  }
  impl->budget = std::make_unique<detail::SendBudget>(detail::SendLimits{
      impl->options.peer_send_queue_bytes_max, impl->options.send_queue_bytes_total_max,
      impl->options.peer_send_queue_floor_bytes});
  try {
    impl->router = zmq::socket_t(impl->context, zmq::socket_type::router);
    auto& s = impl->router;
    s.set(zmq::sockopt::curve_server, 1);
    s.set(zmq::sockopt::curve_secretkey, Z85Key(identity.CurveSecret()));
    s.set(zmq::sockopt::curve_publickey, Z85Key(identity.CurvePublic()));
    s.set(zmq::sockopt::zap_domain, "plume");
    s.set(zmq::sockopt::router_mandatory, 1);
    ApplyTransportLimits(s);
    // The server's own queue bounds (limits.h): small, because the byte budget below and these
    // are what one connection can make the scheduler hold.
    s.set(zmq::sockopt::sndhwm, limits::kServerSendHighWaterMarkMessages);
    s.set(zmq::sockopt::rcvhwm, limits::kServerRecvHighWaterMarkMessages);
    // The monitor endpoint must be unique per server within the process.
    std::string monitor = "inproc://plume-monitor-" + std::to_string(reinterpret_cast<uintptr_t>(impl.get()));
    if (zmq_socket_monitor(s.handle(), monitor.c_str(),
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0) {
      return Fail(std::string("cannot monitor the server socket: ") + zmq_strerror(zmq_errno()));
    }
    const detail::ConnectionCaps caps{impl->options.connections_max,
                                      impl->options.connections_per_address_max};
    auto zap = detail::ZapHandler::Start(impl->context, monitor, &impl->counters, caps);
    if (!zap) return tl::unexpected(zap.error());
    impl->zap = std::move(*zap);
    s.bind(impl->options.endpoint);
    impl->endpoint = s.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Fail("cannot bind " + impl->options.endpoint + ": " + e.what() +
                " (is another process using the port, or is the endpoint malformed?)");
  }
  if (auto colon = impl->endpoint.rfind(':'); colon != std::string::npos) {
    impl->port = static_cast<uint16_t>(std::atoi(impl->endpoint.c_str() + colon + 1));
  }
  spdlog::info("transport: scheduler {} listening on {}{}", identity.Id(), impl->endpoint,
               impl->options.agent_allow_list ? " (agent allow-list on)" : "");
  return std::unique_ptr<TransportServer>(new TransportServer(std::move(impl)));
}

const std::string& TransportServer::endpoint() const { return impl_->endpoint; }
uint16_t TransportServer::port() const { return impl_->port; }
const Identity& TransportServer::identity() const { return impl_->identity; }

// Turns one received multipart message into an Incoming, or handles it (count, log, reply) and
// returns nullopt.
std::optional<Incoming> TransportServer::Impl::Check(std::vector<zmq::message_t>& frames) {
  if (frames.size() < 2) return std::nullopt;  // ROUTER always prepends the id; cannot happen
  PeerId peer = frames.front().to_string();
  auto& payload = frames.back();
  counters.bytes_received.fetch_add(payload.size(), std::memory_order_relaxed);
  const char* user_id = zmq_msg_gets(payload.handle(), "User-Id");
  std::string user = user_id ? user_id : "";
  auto fail = [&](RefusalReason reason, wire::ErrorCode code, const std::string& text,
                  uint64_t request_id) {
    LogRefusal(PeerText(user), text);
    Refuse(reason, text);
    (void)SendRaw(peer, EncodeError(request_id, identity.public_key(), code, text));
  };
  if (frames.size() != 2) {
    counters.messages_malformed.fetch_add(1, std::memory_order_relaxed);
    fail(RefusalReason::kMalformed, wire::ErrorCode::BAD_MESSAGE,
         "expected one frame per message, got " + std::to_string(frames.size() - 1), 0);
    return std::nullopt;
  }
  auto message = Decode(std::span(static_cast<const uint8_t*>(payload.data()), payload.size()));
  if (!message) {
    counters.messages_malformed.fetch_add(1, std::memory_order_relaxed);
    auto code = message.error().message.find("version") != std::string::npos
                    ? wire::ErrorCode::UNSUPPORTED_VERSION
                    : message.error().message.find("too large") != std::string::npos
                          ? wire::ErrorCode::TOO_LARGE
                          : wire::ErrorCode::BAD_MESSAGE;
    fail(RefusalReason::kMalformed, code, message.error().message, 0);
    return std::nullopt;
  }
  PublicKey sender = message->sender();
  auto curve = CurveOf(sender);
  if (!curve || user.size() != 64 || ToHex(*curve) != user) {
    counters.refused_sender_mismatch.fetch_add(1, std::memory_order_relaxed);
    fail(RefusalReason::kSenderMismatch, wire::ErrorCode::UNAUTHORIZED,
         "the sender id " + ToHex(sender) + " does not own this connection's CURVE key",
         message->request_id());
    return std::nullopt;
  }
  if (!BindSender(peer, sender)) {
    counters.refused_sender_mismatch.fetch_add(1, std::memory_order_relaxed);
    fail(RefusalReason::kSenderMismatch, wire::ErrorCode::UNAUTHORIZED,
         "this connection speaks as " + ToHex(sender_of_peer.at(peer)) + ", not as " +
             ToHex(sender) + " (its sign-bit twin): one connection is one principal",
         message->request_id());
    return std::nullopt;
  }
  if (options.agent_allow_list && IsAgentMessage(message->kind()) &&
      !allowed_agents.contains(sender)) {
    counters.refused_unlisted_agent.fetch_add(1, std::memory_order_relaxed);
    fail(RefusalReason::kUnlistedAgent, wire::ErrorCode::UNAUTHORIZED,
         "agent " + ToHex(sender) + " is not on this scheduler's allow-list (ask the operator "
         "to add it)", message->request_id());
    return std::nullopt;
  }
  counters.messages_received.fetch_add(1, std::memory_order_relaxed);
  return Incoming{std::move(peer), sender, std::move(*message)};
}

Result<std::optional<Incoming>> TransportServer::Recv(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  try {
    for (;;) {
      impl_->ReportHandshakeFailures();
      std::vector<zmq::message_t> frames;
      if (zmq::recv_multipart(impl_->router, std::back_inserter(frames),
                              zmq::recv_flags::dontwait)) {
        if (auto in = impl_->Check(frames)) return in;
        // A flood of refused frames must not hold the caller past its deadline.
        if (Clock::now() >= deadline) return std::optional<Incoming>();
        continue;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return std::optional<Incoming>();
      zmq::pollitem_t item{impl_->router.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, left);
    }
  } catch (const zmq::error_t& e) {
    return Fail(std::string("server socket failed: ") + e.what());
  }
}

Status TransportServer::Impl::SendRaw(const PeerId& peer, std::string_view frame) {
  auto payload = budget->Frame(peer, frame);
  if (!payload) {
    counters.replies_dropped.fetch_add(1, std::memory_order_relaxed);
    counters.send_failures.fetch_add(1, std::memory_order_relaxed);
    if (log_limiter.Allow()) {
      spdlog::warn("transport: dropped a {} byte message to a peer that has {} bytes queued (it "
                   "is not reading its replies; {} queued to all peers)", frame.size(),
                   budget->peer_queued_bytes(peer), budget->queued_bytes());
    }
    return Fail("peer's send queue is full (it is not reading); try again later");
  }
  try {
    zmq::message_t id(peer.data(), peer.size());
    if (!router.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait) ||
        !router.send(*payload, zmq::send_flags::dontwait)) {
      counters.send_failures.fetch_add(1, std::memory_order_relaxed);
      return Fail("peer's send queue is full (it is not reading); try again later");
    }
  } catch (const zmq::error_t& e) {
    counters.send_failures.fetch_add(1, std::memory_order_relaxed);
    if (e.num() == EHOSTUNREACH) return Fail("peer is not connected (it went away or reconnected)");
    return Fail(std::string("send failed: ") + e.what());
  }
  counters.messages_sent.fetch_add(1, std::memory_order_relaxed);
  counters.bytes_sent.fetch_add(frame.size(), std::memory_order_relaxed);
  return {};
}

bool TransportServer::AdmitReply(const PeerId& peer, uint64_t bytes) {
  if (impl_->budget->Fits(peer, bytes)) return true;
  impl_->counters.replies_dropped.fetch_add(1, std::memory_order_relaxed);
  if (impl_->log_limiter.Allow()) {
    spdlog::warn("transport: dropped a {} byte reply to a peer that has {} bytes queued (it is "
                 "not reading its replies)", bytes, impl_->budget->peer_queued_bytes(peer));
  }
  return false;
}

Status TransportServer::Send(const PeerId& peer, std::string_view frame) {
  return impl_->SendRaw(peer, frame);
}

Status TransportServer::Send(const PeerId& peer, const MessageBuilder& message) {
  auto frame = message.Encode();
  if (!frame) return tl::unexpected(frame.error());
  return impl_->SendRaw(peer, *frame);
}

Status TransportServer::SendError(const PeerId& peer, uint64_t request_id, wire::ErrorCode code,
                                  std::string_view text) {
  return impl_->SendRaw(peer, EncodeError(request_id, impl_->identity.public_key(), code, text));
}

TransportStats TransportServer::stats() const {
  const auto& c = impl_->counters;
  auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  TransportStats s;
  s.handshakes_accepted = get(c.handshakes_accepted);
  s.handshakes_failed = get(c.handshakes_failed);
  s.messages_received = get(c.messages_received);
  s.messages_malformed = get(c.messages_malformed);
  s.refused_sender_mismatch = get(c.refused_sender_mismatch);
  s.refused_unlisted_agent = get(c.refused_unlisted_agent);
  s.messages_sent = get(c.messages_sent);
  s.send_failures = get(c.send_failures);
  s.bytes_received = get(c.bytes_received);
  s.bytes_sent = get(c.bytes_sent);
  s.connections_live = get(c.connections_live);
  s.refused_connections_total = get(c.refused_connections_total);
  s.refused_connections_address = get(c.refused_connections_address);
  s.replies_dropped = get(c.replies_dropped);
  s.send_queue_bytes = impl_->budget->queued_bytes();
  return s;
}

}  // namespace plume
