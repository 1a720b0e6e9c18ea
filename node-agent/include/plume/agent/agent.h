// plume-agent's core: one reactor thread that owns the ZeroMQ connection to the scheduler,
// registers, heartbeats within its lease, takes TaskAssign messages, pulls the task's input
// blobs, runs the task on a worker thread (TaskExecutor + the kernels runner), uploads the
// result blob, signs a receipt and sends TaskResult; finished results wait in an on-disk spool
// until the scheduler acknowledges them, so a lost scheduler or a restarted agent loses nothing.
//
// Data flow hop: scheduler reactor SendTaskAssign -> Agent::OnTaskAssign -> fetch (BlobGet) ->
// TaskExecutor (kernels::TrainShard / Generate) -> spool -> BlobPut -> TaskResult ->
// scheduler OnTaskResult. Logs carry the same keys: job, task, attempt.
//
// Threads: Run() is the reactor; RequestDrain() may be called from any thread or a signal
// handler. Everything else is internal.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "plume/agent/limits.h"
#include "plume/agent/task_executor.h"
#include "plume/protocol/error.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/owner.h"

namespace plume::agent {

enum class DeviceBackend { kCpu, kCuda };
class AgentMetrics;  // plume/agent/metrics.h

// One device group the agent offers (identical GPUs pooled as one worker, or the CPU).
struct DeviceOffer {
  std::string name;  // "cpu" or the GPU's name
  uint64_t memory_bytes = 0;
  uint32_t count = 1;
  DeviceBackend backend = DeviceBackend::kCpu;
  bool selftest_passed = false;
  double measured_flops_per_sec = 0;
  int first_device_index = 0;  // CUDA: ordinal of the group's first device
};

struct AgentOptions {
  std::string scheduler_endpoint;    // tcp://host:port
  PublicKey scheduler_id{};          // the scheduler's ed25519 public key
  std::string name;                  // shown in `plume nodes`
  std::filesystem::path cache_dir;   // blobs/ (capped) and results/ (spool) live here
  uint64_t cache_bytes_max = kDefaultCacheBytesMax;
  int64_t price_micro_plume_per_pflop = 0;
  std::vector<DeviceOffer> devices;  // only devices that passed the selftest are offered
  std::string kernel_build;          // reported in Register and in receipts
  // Sent in every Register (protocol/owner.h): the owner that operates this machine. None: the
  // agent is its own owner. The caller checks it holds for this key and scheduler first.
  std::optional<OwnerAttestation> owner_attestation;
  int threads = 0;                   // CPU backend threads (0: library default)
  // Host RAM the agent's task inputs may take (task_work.h InputsTooLarge); 0: what the machine
  // has. Tests set it to play a small agent.
  uint64_t host_memory_bytes = 0;
  std::shared_ptr<AgentMetrics> metrics;  // Prometheus metrics; nullptr: none
  // Tests only (plume-agent never sets it): rewrites each finished task's output before it is
  // signed and uploaded, so a test binary can play a provider that cheats (tests/verification).
  // It runs on the task's thread and may hold the task until `stop` (a cancel) or turn it into
  // a failure, reported with the retryable flag it chooses: what a hostile provider can send.
  struct FilterVerdict {
    bool fail = false;       // report the task failed instead of delivering a result
    bool retryable = true;   // the flag of that failure report
    std::string reason;
  };
  std::function<FilterVerdict(bool train, TaskOutput& output, const std::atomic<bool>& stop)>
      output_filter;
  // Tests only, like output_filter: may change a training task's inner steps and a task's seed
  // before it runs, so a test provider can do less work than asked, or sample with another seed,
  // and still sign what it ran. Called on the agent's loop, once per task (not for dispute
  // segments or state exports).
  std::function<void(bool train, uint32_t& local_steps, uint64_t& seed)> task_filter;
};

struct AgentStats {
  uint64_t tasks_succeeded = 0;
  uint64_t tasks_failed = 0;
  uint64_t results_delivered = 0;
  uint64_t registrations = 0;
};

class Agent {
 public:
  // Opens the cache and the spool. Fails with a clear message (bad cache dir, no device).
  static Result<std::unique_ptr<Agent>> Create(AgentOptions options, Identity identity);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Runs until a drain has completed. Returns an error only when the agent cannot go on at all
  // (socket failure); a lost scheduler is retried forever.
  Status Run();
  // SIGTERM: stop taking tasks, finish (or hand back) the running one, deliver results, leave.
  // Async-signal-safe.
  void RequestDrain();
  AgentStats stats() const;

 private:
  struct Impl;
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace plume::agent
