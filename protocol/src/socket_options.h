// Socket options shared by both ends of the transport: the size, queue, linger and liveness
// bounds of limits.h. Kept in one place so the scheduler's ROUTER and every DEALER agree.
#pragma once

#include <zmq.hpp>

#include "plume/protocol/limits.h"

namespace plume {

inline void ApplyTransportLimits(zmq::socket_t& s) {
  s.set(zmq::sockopt::maxmsgsize, limits::kSocketFrameBytesMax);
  s.set(zmq::sockopt::sndhwm, limits::kSendHighWaterMarkMessages);
  s.set(zmq::sockopt::rcvhwm, limits::kRecvHighWaterMarkMessages);
  s.set(zmq::sockopt::linger, limits::kLingerMs);
  s.set(zmq::sockopt::handshake_ivl, limits::kHandshakeIvlMs);
  s.set(zmq::sockopt::heartbeat_ivl, limits::kZmtpHeartbeatIvlMs);
  s.set(zmq::sockopt::heartbeat_timeout, limits::kZmtpHeartbeatTimeoutMs);
}

}  // namespace plume
