// Private to the transport: a byte budget on what the server queues to its peers. libzmq bounds
// a connection's send queue in messages (SNDHWM), not bytes, and a message may be 8 MiB, so a
// peer that asks and never reads could make the server hold gigabytes. Each frame the server
// sends is handed to libzmq as a zero-copy message whose free function gives its bytes back;
// libzmq frees a message when its I/O thread takes it off the queue to write it (or drops it with
// the connection), so the budget counts exactly the bytes waiting in libzmq's queues.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <zmq.hpp>

namespace plume::detail {

struct SendLimits {
  uint64_t peer_bytes_max;   // one connection's queue
  uint64_t total_bytes_max;  // all connections together
  uint64_t peer_floor_bytes;  // a connection may always queue this much, even past the total
};

// The decision, pure: whether a frame of `bytes` may be queued to a peer that already has
// `peer_queued` bytes waiting while all peers together have `total_queued`. The floor lets a
// peer that reads its replies (its queue empties between requests) be answered even while
// hostile peers hold the total budget.
bool MayQueue(uint64_t peer_queued, uint64_t total_queued, uint64_t bytes,
              const SendLimits& limits);

// Not thread-safe except where said: Frame() is called on the server's thread; the free
// functions of the messages it makes run on libzmq's I/O thread, and touch only atomics.
class SendBudget {
 public:
  explicit SendBudget(SendLimits limits);
  ~SendBudget();

  // A zero-copy message holding a copy of `frame` whose bytes are charged to `peer` until libzmq
  // frees it; nullopt when the budget says no (the caller drops the frame and counts it).
  std::optional<zmq::message_t> Frame(const std::string& peer, std::string_view frame);

  // Whether `bytes` more would fit `peer`'s budget now (nothing is reserved).
  bool Fits(const std::string& peer, uint64_t bytes) const;

  uint64_t queued_bytes() const;  // any thread
  uint64_t peer_queued_bytes(const std::string& peer) const;

 private:
  struct Account {
    std::atomic<uint64_t> bytes{0};
  };
  struct Ticket;
  static void Free(void* data, void* hint);
  SendLimits limits_;
  std::shared_ptr<Account> total_ = std::make_shared<Account>();
  std::unordered_map<std::string, std::shared_ptr<Account>> peers_;
};

}  // namespace plume::detail
