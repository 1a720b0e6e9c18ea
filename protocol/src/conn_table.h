// Private to the transport: the live connections of a server, by socket and by peer address, and
// the decision whether a new handshake is admitted under the caps (limits.h
// kConnectionsMaxDefault, kConnectionsPerAddressMaxDefault; ServerOptions overrides them). Keys
// cost nothing, addresses do, so besides the total there is a cap per address.
//
// Fed from the ROUTER's socket monitor: ACCEPTED (with the new socket's fd, whose peer address
// we read at once) and DISCONNECTED (libzmq's engine reports it whenever a connection ends,
// handshake failures and timeouts included). A connection libzmq closes without a DISCONNECTED
// event (only when the whole socket closes) cannot leak a slot for long: the kernel hands its fd
// number to the next connection, and an ACCEPTED on a known fd replaces the old entry.
// Pure bookkeeping; one thread (the ZAP thread) owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

namespace plume::detail {

struct ConnectionCaps {
  size_t total_max;
  size_t per_address_max;
};

enum class Admission { kAdmit, kTotalFull, kAddressFull };

class ConnectionTable {
 public:
  void Accepted(int fd, const std::string& address);
  void Closed(int fd);
  // Whether a handshake from `address` may complete. The connection asking is already counted
  // (ACCEPTED comes before its handshake), so the caps are compared with "more than".
  Admission Admit(const std::string& address, const ConnectionCaps& caps) const;

  size_t live() const { return by_fd_.size(); }
  size_t live_from(const std::string& address) const;

 private:
  std::unordered_map<int, std::string> by_fd_;
  std::map<std::string, size_t> by_address_;
};

}  // namespace plume::detail
