// Private state of Agent (agent.h), shared by the reactor files: agent.cc (loop, registration,
// heartbeats, drain), agent_tasks.cc (assignment, input fetch, execution) and
// agent_results.cc (spool, upload, TaskResult delivery).
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "plume/agent/agent.h"
#include "plume/agent/backoff.h"
#include "dispute_states.h"
#include "plume/agent/result_spool.h"
#include "plume/agent/task_executor.h"
#include "plume/protocol/blob_store.h"
#include "plume/protocol/message.h"
#include "plume/protocol/transport.h"

namespace plume::agent {

using Clock = std::chrono::steady_clock;

// How long a fetch or an upload may go without any answer before it is re-requested (the
// scheduler may have restarted and forgotten the transfer).
inline constexpr std::chrono::milliseconds kTransferStallMax{4'000};
// How long a drain waits for the scheduler to acknowledge finished results before leaving them
// in the spool for the next start.
inline constexpr std::chrono::milliseconds kDrainDeliveryWaitMax{10'000};

// A task assigned to this agent and not finished yet: first its inputs are pulled, then it runs.
struct HeldTask {
  std::string job_id;
  uint64_t task_id = 0;
  uint32_t attempt = 0;
  bool train = true;
  std::optional<Message> assign;  // the TaskAssign itself (owns its bytes)
  std::vector<Hash256> inputs;    // every input blob, for pinning and for the receipt
  std::map<Hash256, std::unique_ptr<BlobReceiver>> fetching;
  Clock::time_point last_fetch_activity;
  bool running = false;
  bool cancelled = false;  // the scheduler dropped it: discard whatever it produces
  // Set by a test's output filter (AgentOptions) on the task's thread: report the failure as not
  // retryable.
  std::shared_ptr<std::atomic<bool>> permanent_failure = std::make_shared<std::atomic<bool>>(false);
  int64_t started_unix_ms = 0;
  Clock::time_point started;
  ProgressEvent progress;
  Clock::time_point last_progress_sent;
};

// The spool entry whose result blob is being pushed to the scheduler.
struct Delivery {
  std::string key;
  uint64_t task_id = 0;
  uint32_t attempt = 0;
  Hash256 output{};
  std::unique_ptr<BlobSender> sender;
  bool awaiting_ack = false;  // blob complete, TaskResult sent
  Clock::time_point last_activity;
};

std::string SpoolKey(uint64_t task_id, uint32_t attempt);

struct Agent::Impl {
  AgentOptions options;
  Identity identity;
  std::unique_ptr<TransportClient> client;
  std::unique_ptr<BlobStore> store;
  std::optional<ResultSpool> spool;
  // States behind training tasks' commitment links, for disputes (dispute_states.h).
  std::shared_ptr<DisputeStates> dispute_states;
  TaskExecutor executor{nullptr};
  Backoff backoff{kReconnectBackoffFirst, kReconnectBackoffMax, 0};

  // Connection state.
  bool registered = false;
  std::string node_id;
  std::chrono::milliseconds lease{kDefaultLease};
  std::chrono::milliseconds heartbeat_interval{kDefaultLease / 3};
  Clock::time_point last_heard{};
  Clock::time_point next_register_at{};
  Clock::time_point next_heartbeat_at{};
  uint64_t register_request_id = 0;
  // The scheduler's ledger (RegisterAck.ledgerId), which ledger receipts are signed for; zeros
  // when it keeps none.
  Hash256 ledger_id{};

  // Work.
  std::optional<HeldTask> held;
  std::optional<Delivery> delivery;
  std::map<uint64_t, Hash256> fetch_requests;  // request id -> blob, to route Error replies

  // Drain.
  std::atomic<bool> drain_requested{false};
  bool draining = false;
  Clock::time_point drain_task_deadline{};
  Clock::time_point drain_delivery_deadline{};
  bool drain_delivery_deadline_set = false;

  AgentStats stats;

  // agent.cc
  Status Loop();
  void Tick(Clock::time_point now);
  void Dispatch(Message message, Clock::time_point now);
  void SendRegister(Clock::time_point now);
  void SendHeartbeat(Clock::time_point now);
  void OnRegisterAck(const Message& m, Clock::time_point now);
  void OnHeartbeatAck(const Message& m, Clock::time_point now);
  void OnError(const Message& m, Clock::time_point now);
  void BeginDrain(Clock::time_point now);
  bool DrainDone(Clock::time_point now);
  void Send(const MessageBuilder& b);

  // agent_tasks.cc
  uint64_t HostMemoryBytes() const;
  void OnTaskAssign(Message m, Clock::time_point now);
  void OnTaskCancel(const Message& m);
  void CancelHeld(uint64_t task_id, uint32_t attempt, const std::string& reason);
  void OnBlobChunk(const Message& m, Clock::time_point now);
  void RequestChunks(const Hash256& hash, BlobReceiver& r);
  void CheckFetchStall(Clock::time_point now);
  void MaybeStartHeld(Clock::time_point now);
  void OnExecutorEvents(Clock::time_point now);
  void SendTaskFailed(const std::string& job_id, uint64_t task_id, uint32_t attempt,
                      const std::string& reason, bool retryable);
  void ReleaseHeld();

  // agent_results.cc
  Status SpoolResult(const HeldTask& task, const TaskOutput& out);
  void StartNextDelivery(Clock::time_point now);
  void SendProbe(Clock::time_point now);
  void OnBlobAck(const Message& m, Clock::time_point now);
  void SendTaskResult(Clock::time_point now);
  void OnTaskResultAck(const Message& m, Clock::time_point now);
  void CheckDeliveryStall(Clock::time_point now);
  bool HoldsResult(uint64_t task_id, uint32_t attempt) const;
};

}  // namespace plume::agent
