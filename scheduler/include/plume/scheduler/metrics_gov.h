// Governance metrics (docs/metrics.md "Governance"): open proposals, outcomes by result,
// executions and the turnout of the latest decided proposal, registered on the scheduler's
// registry. main.cc samples the GovDriver on the reactor's thread and passes plain numbers, so
// this library does not link governance. Thread-safe (prometheus-cpp).
#pragma once

#include <cstdint>
#include <memory>

namespace prometheus {
class Registry;
}

namespace plume::scheduler {

struct GovSample {
  uint64_t open = 0;
  uint64_t passed = 0, no_quorum = 0, rejected = 0, vetoed = 0;  // cumulative
  uint64_t executed = 0;                                          // cumulative
  double last_turnout_ratio = 0;
};

class GovMetrics {
 public:
  explicit GovMetrics(prometheus::Registry& registry);
  ~GovMetrics();
  // Gauges set; counters advance by what the cumulative totals grew since the last call (a
  // restart replays the book, so the first sample after it starts the counters from there).
  void Observe(const GovSample& s);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plume::scheduler
