// TransportClient: a CURVE DEALER socket for agents and the CLI, connected to a scheduler known
// by its ed25519 id.
#include <algorithm>
#include <atomic>

#include <spdlog/spdlog.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "plume/protocol/limits.h"
#include "plume/protocol/transport.h"
#include "socket_options.h"

namespace plume {
namespace {
using Clock = std::chrono::steady_clock;
}

struct TransportContext::Impl {
  explicit Impl(int io_threads) : context(io_threads) {}
  zmq::context_t context;
};

TransportContext::TransportContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TransportContext::~TransportContext() = default;

std::shared_ptr<TransportContext> TransportContext::Create(int io_threads) {
  return std::shared_ptr<TransportContext>(
      new TransportContext(std::make_unique<Impl>(std::max(1, io_threads))));
}

struct TransportClient::Impl {
  Identity identity;
  PublicKey server_id{};
  std::string endpoint;
  uint64_t next_request_id = 1;
  std::shared_ptr<TransportContext> context;  // shared or private; outlives `dealer`
  zmq::socket_t dealer;

  ~Impl() { dealer.close(); }
};

TransportClient::TransportClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TransportClient::~TransportClient() = default;

Result<std::unique_ptr<TransportClient>> TransportClient::Connect(
    const std::string& endpoint, const PublicKey& server_id, const Identity& identity,
    std::shared_ptr<TransportContext> context) {
  auto server_curve = CurvePublicFromEd25519(server_id);
  if (!server_curve) return Fail("scheduler id: " + server_curve.error().message);
  auto impl = std::make_unique<Impl>();
  impl->identity = identity;
  impl->server_id = server_id;
  impl->endpoint = endpoint;
  impl->context = context ? std::move(context) : TransportContext::Create(1);
  try {
    impl->dealer = zmq::socket_t(impl->context->impl_->context, zmq::socket_type::dealer);
    auto& s = impl->dealer;
    s.set(zmq::sockopt::curve_serverkey, Z85Key(*server_curve));
    s.set(zmq::sockopt::curve_publickey, Z85Key(identity.CurvePublic()));
    s.set(zmq::sockopt::curve_secretkey, Z85Key(identity.CurveSecret()));
    ApplyTransportLimits(s);
    s.connect(endpoint);
  } catch (const zmq::error_t& e) {
    return Fail("cannot connect to " + endpoint + ": " + e.what() +
                " (expected tcp://HOST:PORT)");
  }
  return std::unique_ptr<TransportClient>(new TransportClient(std::move(impl)));
}

const Identity& TransportClient::identity() const { return impl_->identity; }
const std::string& TransportClient::endpoint() const { return impl_->endpoint; }
uint64_t TransportClient::NextRequestId() { return impl_->next_request_id++; }

MessageBuilder TransportClient::NewRequest() {
  return MessageBuilder(NextRequestId(), impl_->identity.public_key());
}

Status TransportClient::Send(std::string_view frame) {
  try {
    if (!impl_->dealer.send(zmq::buffer(frame), zmq::send_flags::dontwait)) {
      return Fail("send queue to " + impl_->endpoint + " is full (the scheduler is not reading); "
                  "try again later");
    }
  } catch (const zmq::error_t& e) {
    return Fail(std::string("send failed: ") + e.what());
  }
  return {};
}

Status TransportClient::Send(const MessageBuilder& message) {
  auto frame = message.Encode();
  if (!frame) return tl::unexpected(frame.error());
  return Send(*frame);
}

Result<std::optional<Message>> TransportClient::Recv(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  try {
    for (;;) {
      std::vector<zmq::message_t> frames;
      if (zmq::recv_multipart(impl_->dealer, std::back_inserter(frames),
                              zmq::recv_flags::dontwait)) {
        auto& payload = frames.back();
        auto message =
            Decode(std::span(static_cast<const uint8_t*>(payload.data()), payload.size()));
        if (!message) {
          spdlog::warn("transport: dropped a message from {}: {}", impl_->endpoint,
                       message.error().message);
          if (Clock::now() >= deadline) return std::optional<Message>();
          continue;
        }
        if (message->sender() != impl_->server_id) {
          spdlog::warn("transport: dropped a message from {} that names sender {} instead of the "
                       "scheduler", impl_->endpoint, ToHex(message->sender()));
          if (Clock::now() >= deadline) return std::optional<Message>();
          continue;
        }
        return std::optional<Message>(std::move(*message));
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return std::optional<Message>();
      zmq::pollitem_t item{impl_->dealer.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, left);
    }
  } catch (const zmq::error_t& e) {
    return Fail(std::string("client socket failed: ") + e.what());
  }
}

Result<Message> TransportClient::Call(const MessageBuilder& request,
                                      std::chrono::milliseconds timeout) {
  if (auto s = Send(request); !s) return tl::unexpected(s.error());
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    auto reply = Recv(left);
    if (!reply) return tl::unexpected(reply.error());
    if (!*reply) break;
    if ((*reply)->request_id() == request.request_id()) return std::move(**reply);
  }
  return Fail("no reply from the scheduler at " + impl_->endpoint + " within " +
              std::to_string(timeout.count()) + " ms: check that it is running, that the "
              "endpoint is right, and that the scheduler id you gave is its real id (a wrong id "
              "fails silently by design)");
}

}  // namespace plume
