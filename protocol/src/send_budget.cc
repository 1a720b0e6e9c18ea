// The transport's byte budget on send queues; see send_budget.h.
#include "send_budget.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "plume/protocol/limits.h"

namespace plume::detail {

bool MayQueue(uint64_t peer_queued, uint64_t total_queued, uint64_t bytes,
              const SendLimits& limits) {
  if (peer_queued + bytes > limits.peer_bytes_max) return false;
  return total_queued + bytes <= limits.total_bytes_max ||
         peer_queued + bytes <= limits.peer_floor_bytes;
}

// Owns the copied frame and the accounts it is charged to; freed by libzmq through Free, on
// whichever thread drops the message. The accounts are shared so that a message that outlives
// the budget (libzmq flushing at close) still has something to give its bytes back to.
struct SendBudget::Ticket {
  std::unique_ptr<char[]> data;
  size_t size;
  std::shared_ptr<Account> peer;
  std::shared_ptr<Account> total;
};

void SendBudget::Free(void*, void* hint) {
  std::unique_ptr<Ticket> t(static_cast<Ticket*>(hint));
  t->peer->bytes.fetch_sub(t->size, std::memory_order_relaxed);
  t->total->bytes.fetch_sub(t->size, std::memory_order_relaxed);
}

SendBudget::SendBudget(SendLimits limits) : limits_(limits) {}
SendBudget::~SendBudget() = default;

std::optional<zmq::message_t> SendBudget::Frame(const std::string& peer, std::string_view frame) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) {
    // Routing ids of closed connections: drop the accounts nothing is charged to any more, so
    // the map holds about the live connections (a message in flight keeps its own reference).
    if (peers_.size() >= limits::kPeerKeyCacheEntries) {
      std::erase_if(peers_, [](const auto& kv) {
        return kv.second.use_count() == 1 && kv.second->bytes.load() == 0;
      });
    }
    it = peers_.emplace(peer, std::make_shared<Account>()).first;
  }
  Account& account = *it->second;
  if (!MayQueue(account.bytes.load(std::memory_order_relaxed),
                total_->bytes.load(std::memory_order_relaxed), frame.size(), limits_)) {
    return std::nullopt;
  }
  auto ticket = std::make_unique<Ticket>(
      Ticket{std::make_unique<char[]>(std::max<size_t>(frame.size(), 1)), frame.size(),
             it->second, total_});
  std::memcpy(ticket->data.get(), frame.data(), frame.size());
  account.bytes.fetch_add(frame.size(), std::memory_order_relaxed);
  total_->bytes.fetch_add(frame.size(), std::memory_order_relaxed);
  void* data = ticket->data.get();
  return zmq::message_t(data, frame.size(), &SendBudget::Free, ticket.release());
}

bool SendBudget::Fits(const std::string& peer, uint64_t bytes) const {
  return MayQueue(peer_queued_bytes(peer), queued_bytes(), bytes, limits_);
}

uint64_t SendBudget::queued_bytes() const { return total_->bytes.load(std::memory_order_relaxed); }

uint64_t SendBudget::peer_queued_bytes(const std::string& peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? 0 : it->second->bytes.load(std::memory_order_relaxed);
}

}  // namespace plume::detail
