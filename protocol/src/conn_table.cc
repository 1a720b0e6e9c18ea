// Live connections and the connection caps; see conn_table.h.
#include "conn_table.h"

namespace plume::detail {

void ConnectionTable::Accepted(int fd, const std::string& address) {
  Closed(fd);  // an fd number reused: its last connection ended unseen
  by_fd_.emplace(fd, address);
  ++by_address_[address];
}

void ConnectionTable::Closed(int fd) {
  auto it = by_fd_.find(fd);
  if (it == by_fd_.end()) return;
  if (auto a = by_address_.find(it->second); a != by_address_.end() && --a->second == 0) {
    by_address_.erase(a);
  }
  by_fd_.erase(it);
}

size_t ConnectionTable::live_from(const std::string& address) const {
  auto it = by_address_.find(address);
  return it == by_address_.end() ? 0 : it->second;
}

Admission ConnectionTable::Admit(const std::string& address, const ConnectionCaps& caps) const {
  if (live() > caps.total_max) return Admission::kTotalFull;
  if (live_from(address) > caps.per_address_max) return Admission::kAddressFull;
  return Admission::kAdmit;
}

}  // namespace plume::detail
