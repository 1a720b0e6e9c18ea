// A fake agent for the dispatch benchmark: one thread with its own Identity and DEALER client
// (protocol/transport.h) that registers with a real scheduler and answers every TaskAssign at
// once with a TaskResult that passes the reactor's checks: an output blob the scheduler already
// holds (uploaded once by the benchmark and shared by all agents) and a receipt signed by this
// agent for exactly this task and attempt. It keeps its lease with heartbeats and records, per
// task, the time from receiving the assignment to receiving the scheduler's TaskResultAck (the
// ack is sent only after the result is saved, so that is "result recorded durably").
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/transport.h"

namespace plume::bench {

using Clock = std::chrono::steady_clock;

// What all agents of one run share: completions per job (for the driver to wait on) and the
// assign-to-ack latencies.
class AckBoard {
 public:
  void Record(const std::string& job, Clock::time_point acked, double assign_to_ack_us);
  // Waits until `job` has `tasks` accepted results; false on timeout. `last` gets the time of
  // the last one.
  bool WaitJob(const std::string& job, uint64_t tasks, std::chrono::milliseconds timeout,
               Clock::time_point* last);
  std::vector<double> TakeLatenciesUs();
  uint64_t rejected() const { return rejected_.load(); }
  void CountRejected() { rejected_.fetch_add(1); }

 private:
  struct JobDone {
    uint64_t acked = 0;
    Clock::time_point last{};
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, JobDone> jobs_;
  std::vector<double> latencies_us_;
  std::atomic<uint64_t> rejected_{0};
};

struct FakeAgentOptions {
  std::string endpoint;
  PublicKey scheduler{};
  Hash256 output_blob{};  // already in the scheduler's blob store
  uint64_t output_size_bytes = 0;
  std::shared_ptr<TransportContext> context;
  AckBoard* board = nullptr;
};

class FakeAgent {
 public:
  explicit FakeAgent(FakeAgentOptions options);
  ~FakeAgent();  // stops and joins
  // True once the scheduler acknowledged the registration.
  bool registered() const { return registered_.load(); }
  // Why the thread ended early (empty while it runs or after a clean stop).
  std::string error() const;
  uint64_t tasks_answered() const { return answered_.load(); }
  void Stop() { stop_.store(true); }

 private:
  void Run();
  Status Loop();

  FakeAgentOptions opt_;
  Identity identity_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> registered_{false};
  std::atomic<uint64_t> answered_{0};
  mutable std::mutex error_mu_;
  std::string error_;
  std::thread thread_;
};

}  // namespace plume::bench
