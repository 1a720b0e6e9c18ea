// Transport: ZeroMQ with CurveZMQ on every socket. The scheduler binds a TransportServer (ROUTER);
// agents and the CLI connect with a TransportClient (DEALER). The CURVE keys come from the
// principals' ed25519 identities (identity.h), so knowing the scheduler's id is enough to connect.
//
// Who is who. A ZAP handler (its own thread, inproc://zeromq.zap.01) authenticates every CURVE
// handshake and stamps the connection with the client's CURVE public key (ZAP User-Id, hex).
// Every Envelope names its sender's ed25519 key; the server converts it to a CURVE key and drops
// (with an Error reply) any message whose sender does not match the connection, so
// Incoming::principal is proven, not claimed. A client with a wrong server key fails the
// handshake: libzmq never delivers its messages, and the failure is counted.
// An ed25519 key A and its sign-bit twin -A map to the same CURVE key, so the holder of A could
// name either. A connection is bound to the key its first message names, and any later message
// on it naming another key is refused (counted as a sender mismatch); the allow-list below holds
// ed25519 keys, so the twin of a listed agent is not listed. A twin on a connection of its own is
// then just one more unlisted key, which anyone can make for free.
//
// Agent allow-list. When ServerOptions::agent_allow_list is set, agent-only messages (register,
// heartbeat, drain, deregister, taskProgress, taskResult, taskFailed) from principals not on it
// are refused (compared by ed25519 key, never by CURVE key): logged, counted
// (stats().refused_unlisted_agent), answered with Error unauthorized, and never returned by Recv.
// Clients (CLI) are not restricted by the list; the scheduler decides what a client may do.
//
// Bad input. Malformed, truncated or wrong-version frames are counted, answered with Error
// badMessage/unsupportedVersion, and skipped. Frames above limits::kSocketFrameBytesMax make
// libzmq drop the connection; the peer reconnects by itself. Nothing a peer sends can stop the
// server.
//
// Bounds (limits.h has the figures and why). What the server queues to one connection is
// bounded in bytes (kPeerSendQueueBytesMax, all connections kSendQueueBytesTotalMax) as well as
// in messages: a frame past the budget is not sent, Send fails and stats().replies_dropped counts
// it; a client that reads its replies is still answered (each connection may queue
// kPeerSendQueueFloorBytes whatever the total). Live connections are capped in total and per
// peer address (ServerOptions); a handshake past a cap is refused (ZAP 300, libzmq retries),
// logged at a bounded rate and counted.
//
// Threads. A TransportServer or TransportClient is confined to the thread that uses it: Recv and
// Send must come from one thread (the scheduler's or agent's reactor). Only stats() may be called
// from any thread (atomic counters, for the metrics layer). Reactor loops live in the scheduler
// and agent; this component only sends and receives.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plume/protocol/error.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/limits.h"
#include "plume/protocol/message.h"

namespace plume {

// The ROUTER routing id of one connection (opaque bytes). A reconnecting peer gets a new one;
// key state by principal, and use the PeerId only to reply.
using PeerId = std::string;

struct Incoming {
  PeerId peer;
  PublicKey principal;  // ed25519 id of the sender, checked against the CURVE connection key
  Message message;
};

// Monotonic counters, readable from any thread.
struct TransportStats {
  uint64_t handshakes_accepted = 0;      // ZAP said yes
  uint64_t handshakes_failed = 0;        // CURVE handshake failed (e.g. wrong server key)
  uint64_t messages_received = 0;        // valid messages returned by Recv
  uint64_t messages_malformed = 0;       // failed Decode (includes wrong version, too large)
  uint64_t refused_sender_mismatch = 0;  // Envelope.sender is not the connection's key
  uint64_t refused_unlisted_agent = 0;   // agent message from a key not on the allow-list
  uint64_t messages_sent = 0;
  uint64_t send_failures = 0;            // peer gone or its queue full
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t connections_live = 0;              // accepted and not yet closed (a gauge)
  uint64_t refused_connections_total = 0;     // handshakes refused: total cap reached
  uint64_t refused_connections_address = 0;   // handshakes refused: the address's cap reached
  uint64_t replies_dropped = 0;               // frames past a connection's send byte budget
  uint64_t send_queue_bytes = 0;              // bytes queued to all peers now (a gauge)
};

enum class RefusalReason { kHandshakeFailed, kMalformed, kSenderMismatch, kUnlistedAgent };

struct ServerOptions {
  // tcp://HOST:PORT; port 0 picks a free one (read it back with endpoint()/port()).
  std::string endpoint = "tcp://127.0.0.1:0";
  // ed25519 ids of agents that may join; nullopt: any agent may register.
  std::optional<std::vector<PublicKey>> agent_allow_list;
  // Called for each refusal, on the thread that calls Recv (handshake failures: on the next
  // Recv after they happen). Optional; stats() counts refusals either way.
  std::function<void(RefusalReason reason, std::string_view detail)> on_refusal;
  // Connection caps (limits.h kConnectionsMaxDefault, kConnectionsPerAddressMaxDefault).
  size_t connections_max = limits::kConnectionsMaxDefault;
  size_t connections_per_address_max = limits::kConnectionsPerAddressMaxDefault;
  // Send byte budget (limits.h kPeerSendQueueBytesMax and beside it); tests lower them.
  uint64_t peer_send_queue_bytes_max = limits::kPeerSendQueueBytesMax;
  uint64_t send_queue_bytes_total_max = limits::kSendQueueBytesTotalMax;
  uint64_t peer_send_queue_floor_bytes = limits::kPeerSendQueueFloorBytes;
};

class TransportServer {
 public:
  // Starts the ZAP thread, then binds. Fails with a clear message when the endpoint is taken or
  // malformed.
  static Result<std::unique_ptr<TransportServer>> Bind(const Identity& identity,
                                                       ServerOptions options);
  ~TransportServer();
  TransportServer(const TransportServer&) = delete;
  TransportServer& operator=(const TransportServer&) = delete;

  // The endpoint actually bound, e.g. "tcp://127.0.0.1:41234".
  const std::string& endpoint() const;
  uint16_t port() const;
  const Identity& identity() const;

  // Waits up to `timeout` for the next valid message; nullopt when none came. Invalid and refused
  // messages are handled inside (see the file comment) and do not end the wait early. An error
  // means the socket itself failed (context terminated), not that a peer misbehaved.
  Result<std::optional<Incoming>> Recv(std::chrono::milliseconds timeout);

  // Sends one frame to a peer without blocking. Fails when the peer is gone (disconnected or
  // never known) or its queue is full; the caller decides whether that matters.
  Status Send(const PeerId& peer, std::string_view frame);
  Status Send(const PeerId& peer, const MessageBuilder& message);
  // Whether a reply of `bytes` (counting what the caller already holds for this peer and has not
  // sent) would fit the peer's send budget now. When it would not, the reply is counted as
  // dropped (stats().replies_dropped) and the caller should not build it: a blob chunk is then
  // never read from disk for a peer that does not read.
  bool AdmitReply(const PeerId& peer, uint64_t bytes);
  // Error reply helper: Error{code, text} with the request's id.
  Status SendError(const PeerId& peer, uint64_t request_id, wire::ErrorCode code,
                   std::string_view text);

  TransportStats stats() const;

 private:
  struct Impl;
  explicit TransportServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A ZeroMQ context (its I/O threads) that several TransportClients in one process can share,
// e.g. a benchmark running 100 agents as threads. Without one, each client owns a context with one
// I/O thread. Thread-safe; keep it alive as long as any client using it (clients hold a reference).
class TransportContext {
 public:
  static std::shared_ptr<TransportContext> Create(int io_threads = 1);
  ~TransportContext();

 private:
  friend class TransportClient;
  struct Impl;
  explicit TransportContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class TransportClient {
 public:
  // Connects (in the background: ZeroMQ retries by itself) to a scheduler known by its ed25519
  // id. Fails only on a malformed endpoint or an invalid server id; an unreachable or wrong
  // server shows up as Recv timeouts. `context` is optional (see TransportContext).
  static Result<std::unique_ptr<TransportClient>> Connect(
      const std::string& endpoint, const PublicKey& server_id, const Identity& identity,
      std::shared_ptr<TransportContext> context = nullptr);
  ~TransportClient();
  TransportClient(const TransportClient&) = delete;
  TransportClient& operator=(const TransportClient&) = delete;

  const Identity& identity() const;
  const std::string& endpoint() const;
  // Unique, increasing request ids for this client (start at 1).
  uint64_t NextRequestId();
  // A builder with the next request id and this client's sender key already set.
  MessageBuilder NewRequest();

  // Queues one frame (never blocks; fails if libzmq's queue is full).
  Status Send(std::string_view frame);
  Status Send(const MessageBuilder& message);
  // Next valid message from the server, or nullopt after `timeout`. Frames that fail to decode or
  // do not come from the server's id are dropped (and logged).
  Result<std::optional<Message>> Recv(std::chrono::milliseconds timeout);
  // Send, then wait for the reply with the same request id (others received meanwhile are
  // dropped: use Call only where nothing else is in flight, like the CLI). A reply that is an
  // Error body is returned as a Message too; the caller looks at its kind. Fails on timeout
  // with a message that suggests checking the endpoint and the scheduler id.
  Result<Message> Call(const MessageBuilder& request, std::chrono::milliseconds timeout);

 private:
  struct Impl;
  explicit TransportClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Z85 text of a 32-byte key, as zmq_setsockopt(ZMQ_CURVE_*KEY) accepts it (40 characters).
std::string Z85Key(const CurveKey& key);

}  // namespace plume
