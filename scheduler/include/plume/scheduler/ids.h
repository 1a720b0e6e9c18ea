// The scheduler's names for things: keys, jobs, tasks and blobs as the core, the store and the
// reactor spell them, and money as integers.
#pragma once

#include <cstdint>
#include <string>

namespace plume::scheduler {

using NodeId = std::string;    // agent's ed25519 public key, hex
using ClientId = std::string;  // client's ed25519 public key, hex
using JobId = std::string;
using TaskId = std::string;    // "<job>/r<round>/w<worker>" or "<job>/s<shard>"
using BlobHash = std::string;  // BLAKE2b-256 of the bytes, hex; empty means "none"

// Money is integer micro-PLUME; FLOP counts are integers.
using MicroPlume = int64_t;

enum class Backend : uint8_t { kCpu = 0, kCuda = 1 };

}  // namespace plume::scheduler
