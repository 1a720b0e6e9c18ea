// Every bound the node agent keeps, in one place (the house style: a bound on everything).
#pragma once

#include <chrono>
#include <cstdint>

namespace plume::agent {

// Reconnect backoff after the scheduler stops answering: doubles from the first to the cap.
inline constexpr std::chrono::milliseconds kReconnectBackoffFirst{200};
inline constexpr std::chrono::milliseconds kReconnectBackoffMax{10'000};
// Heartbeats go out at this fraction of the lease the scheduler grants, so two can be lost
// before the lease runs out.
inline constexpr double kHeartbeatFractionOfLease = 0.3;
inline constexpr std::chrono::milliseconds kDefaultLease{6'000};
// With no reply at all for this long the agent treats the scheduler as lost and reconnects.
inline constexpr std::chrono::milliseconds kSchedulerSilenceMax{8'000};
// The reactor wakes at least this often even with nothing on its sockets (timers, drain).
inline constexpr std::chrono::milliseconds kPollInterval{50};
// Progress reports are rate-limited so a fast task does not flood the scheduler.
inline constexpr std::chrono::milliseconds kProgressInterval{500};
// Default blob cache cap; a result waiting for delivery is kept outside the cap (result spool).
inline constexpr uint64_t kDefaultCacheBytesMax = 2ull << 30;
// Most results kept on disk waiting for delivery; beyond it the agent stops taking tasks.
inline constexpr int kSpoolEntriesMax = 64;
// A drain (SIGTERM) waits this long for the running task before handing it back.
inline constexpr std::chrono::milliseconds kDrainTaskWaitMax{20'000};

// Training states kept for disputes (dispute_states.h): one per commitment link (at most 32 per
// task, verify::kMaxCommitmentLinks), for at most kDisputeTasksMax tasks and kDisputeRetention;
// a result is final well within a day. A state is params + two moments, 12 bytes a parameter,
// so 32 states of a 124M-parameter model would take 48 GB: states larger than
// kDisputeStateBytesMax are not kept, and a dispute on such a task falls back to a full re-run.
// Worst case on disk: 4 tasks x 32 links x 64 MiB = 8 GiB.
inline constexpr size_t kDisputeTasksMax = 4;
inline constexpr std::chrono::hours kDisputeRetention{24};
inline constexpr uint64_t kDisputeStateBytesMax = 64ull << 20;  // 64 MiB: ~5M parameters

}  // namespace plume::agent
