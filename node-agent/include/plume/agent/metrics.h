// The agent's Prometheus metrics (docs/metrics.md; deploy/metrics/catalog.txt is the contract).
// Work counters are advanced by the agent's reactor at a few hook points (task finished, blob
// looked up or moved, once per loop turn); device series (GPU memory from the CUDA runtime,
// utilisation, power and temperature from NVML when the host has it) are read when /metrics is
// scraped. NVML is loaded at run time (dlopen "libnvidia-ml.so.1"); where it is absent the
// agent runs the same and exports plume_agent_nvml_available 0 and no NVML series.
//
// Credits earned: what the scheduler's TaskResultAck says an accepted result earns (price x
// FLOPs; once per result, a re-sent ack carries 0). The ledger's settle is the payment itself:
// the scheduler's plume_credits_settled_micro_plume_total{provider=<agent id>} and
// `plume balance provider:<agent id>` show what was settled.
//
// Threads: the On* hooks are called on the agent's reactor thread; the metrics are atomic and
// Collect() (the scrape) runs on the MetricsServer's threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "plume/agent/agent.h"
#include "plume/protocol/error.h"
#include "plume/protocol/metrics_http.h"

namespace prometheus {
class Registry;
class Collectable;
}  // namespace prometheus

namespace plume::agent {

struct AgentMetricsInfo {
  std::string version;
  std::string agent_id;      // hex public key
  std::string scheduler_id;  // hex public key
  int64_t price_micro_plume_per_pflop = 0;
  // Every device checked at startup (passed or not): CUDA ones get per-device series.
  std::vector<DeviceOffer> devices;
};

enum class TaskOutcome { kSucceeded, kFailed, kCancelled };

class AgentMetrics {
 public:
  explicit AgentMetrics(const AgentMetricsInfo& info);
  ~AgentMetrics();
  AgentMetrics(const AgentMetrics&) = delete;
  AgentMetrics& operator=(const AgentMetrics&) = delete;

  // Once per reactor turn: connection, running task, blob cache size.
  void OnTurn(bool connected, bool task_running, uint64_t cache_bytes);
  // An input blob of an assigned task was found in the cache (hit) or had to be fetched.
  void OnCacheLookup(bool hit);
  void OnBlobBytes(bool inbound, uint64_t bytes);
  // A task ended. For a success, flops/tokens/steps come from the kernels' own count (model
  // config x tokens, kernels/flops.h); the step histogram gets `steps` observations of the mean
  // step time (the run's wall time / steps), since the runner reports no per-step times.
  void OnTaskDone(bool train, TaskOutcome outcome, double flops, int64_t tokens, int64_t steps,
                  std::chrono::duration<double> elapsed);
  // The scheduler accepted a result that earns `micro_plume`.
  void OnCreditsEarned(int64_t micro_plume);

  // What /metrics serves: the counters plus the device series read now.
  std::string Serialize() const;
  std::shared_ptr<prometheus::Registry> registry() const;
  std::shared_ptr<prometheus::Collectable> devices() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// An HTTP server for /metrics (plume/protocol/metrics_http.h, on its own thread).
class AgentMetricsServer {
 public:
  // Binds address:port (0 picks a free port). Fails with a clear message when it cannot.
  static Result<std::unique_ptr<AgentMetricsServer>> Start(const std::string& address, int port,
                                                           std::shared_ptr<AgentMetrics> metrics);
  ~AgentMetricsServer();
  int port() const { return port_; }

 private:
  AgentMetricsServer() = default;
  std::shared_ptr<AgentMetrics> metrics_;
  std::unique_ptr<MetricsHttpServer> http_;
  int port_ = 0;
};

}  // namespace plume::agent
