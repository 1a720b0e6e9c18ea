// The scheduler's Prometheus metrics (docs/metrics.md, deploy/metrics/catalog.txt is the
// contract). Most series are derived from the core's state after each reactor turn rather than
// counted at hook points inside the core: the core stays pure, and a counter cannot drift from
// what the state (and so `plume status`) says.
//
// Data flow: plume-scheduler main loop -> Reactor::RunOnce -> SchedulerMetrics::Observe(state)
// and ObserveTransport(stats) -> prometheus-cpp registry <- MetricsServer (/metrics, own thread).
//
// Threads: Observe*, and the LedgerHook returned by Instrument, are called on the reactor's
// thread. The registry's metrics are atomic, so the MetricsServer's threads may serialise them
// at any time. Counters derived from state start from the state seen at the first Observe (a
// restarted scheduler resets its counters, as Prometheus expects; rate() handles the reset).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "plume/protocol/error.h"
#include "plume/protocol/metrics_http.h"
#include "plume/protocol/transport.h"
#include "plume/scheduler/reactor.h"
#include "plume/scheduler/types.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace plume::scheduler {

// What the metrics read from the ledger, as functions so that this library does not link it
// (metrics_ledger.h builds one from a ledger::Ledger). Both are called on the reactor thread.
// One ledger entry as the metrics count it.
struct LedgerEntrySeen {
  std::string type;  // the catalogue type name ("open", "mint", "hold", ...)
  // A slash's legs: (leg kind "clawback", "compensation", "finder", "treasury"; micro-PLUME).
  std::vector<std::pair<std::string, int64_t>> slash_legs;
};
struct LedgerView {
  std::function<uint64_t()> size;  // entries in the ledger
  // Calls `each` for every entry with index in [begin, size()).
  std::function<void(uint64_t begin, const std::function<void(const LedgerEntrySeen&)>& each)> scan;
};

struct SchedulerMetricsInfo {
  std::string version;       // build version, e.g. "0.1.0"
  std::string scheduler_id;  // the scheduler's public key (hex)
};

class SchedulerMetrics {
 public:
  explicit SchedulerMetrics(const SchedulerMetricsInfo& info);
  ~SchedulerMetrics();
  SchedulerMetrics(const SchedulerMetrics&) = delete;
  SchedulerMetrics& operator=(const SchedulerMetrics&) = delete;

  std::shared_ptr<prometheus::Registry> registry() const;

  // Recomputes the gauges from `state` and advances the counters and histograms by what changed
  // since the last call (tasks finished, settlements applied, rounds done, leases expired).
  // O(tasks + jobs + nodes); call it every few hundred milliseconds, not per message.
  void Observe(const State& state, int64_t now_ms);
  // Transport and blob totals are cumulative; the counters advance by the difference.
  void ObserveTransport(const TransportStats& transport, uint64_t blob_bytes_in,
                        uint64_t blob_bytes_out);
  // Result screens (ReactorStats): cumulative totals; the counters advance by the difference.
  void ObserveScreens(uint64_t screened, const std::map<std::string, uint64_t>& refused_by_reason);
  // Wraps a ledger hook: counts entries by type, one group commit per call, and times each
  // call as the fsync latency (an applied request returns only after the ledger's fdatasync).
  // A null `inner` (no ledger configured) is wrapped as "applied" without ledger metrics.
  LedgerHook Instrument(LedgerHook inner);
  // One SQLite state commit took this long (ReactorOptions::on_commit).
  void ObserveCommit(std::chrono::duration<double> latency);
  // With a ledger attached, the entry counters come from the ledger itself (every entry,
  // including the operator's mints that do not pass through the hook), and a hook call counts
  // as one group commit of the entries it added, its duration as the fsync latency. Without
  // one, each applied request counts as one entry of its kind in one group commit.
  void AttachLedger(LedgerView view);

  // The text exposition of the registry (what /metrics serves), for tests and debugging.
  std::string Serialize() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// An HTTP server for /metrics (plume/protocol/metrics_http.h, on its own thread).
class MetricsServer {
 public:
  // Binds address:port (port 0 picks a free one). Fails with a clear message when the port is
  // taken or the address is invalid.
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& address, int port,
                                                      std::shared_ptr<prometheus::Registry> reg);
  ~MetricsServer();
  int port() const { return port_; }

 private:
  MetricsServer() = default;
  std::unique_ptr<MetricsHttpServer> http_;
  std::shared_ptr<prometheus::Registry> registry_;
  int port_ = 0;
};

}  // namespace plume::scheduler
