// Governance metrics (see metrics_gov.h).
#include "plume/scheduler/metrics_gov.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace plume::scheduler {

struct GovMetrics::Impl {
  explicit Impl(prometheus::Registry& r)
      : open(prometheus::BuildGauge()
                 .Name("plume_gov_open_proposals")
                 .Help("Governance proposals whose voting has not ended")
                 .Register(r)
                 .Add({})),
        turnout(prometheus::BuildGauge()
                    .Name("plume_gov_turnout_ratio")
                    .Help("Votes cast / staked power at the snapshot, of the latest decided proposal")
                    .Register(r)
                    .Add({})),
        outcomes(prometheus::BuildCounter()
                     .Name("plume_gov_outcomes_total")
                     .Help("Decided governance proposals, by result")
                     .Register(r)),
        executions(prometheus::BuildCounter()
                       .Name("plume_gov_executions_total")
                       .Help("Adopted proposals executed (parameter changes and grants)")
                       .Register(r)
                       .Add({})) {}
  void Advance(prometheus::Counter& c, uint64_t& seen, uint64_t now) {
    if (now > seen) c.Increment(static_cast<double>(now - seen));
    seen = now;
  }
  prometheus::Gauge& open;
  prometheus::Gauge& turnout;
  prometheus::Family<prometheus::Counter>& outcomes;
  prometheus::Counter& executions;
  GovSample seen;
};

GovMetrics::GovMetrics(prometheus::Registry& registry) : impl_(std::make_unique<Impl>(registry)) {
  for (const char* r : {"passed", "no_quorum", "rejected", "vetoed"}) impl_->outcomes.Add({{"result", r}});
}
GovMetrics::~GovMetrics() = default;

void GovMetrics::Observe(const GovSample& s) {
  Impl& m = *impl_;
  m.open.Set(static_cast<double>(s.open));
  m.turnout.Set(s.last_turnout_ratio);
  m.Advance(m.outcomes.Add({{"result", "passed"}}), m.seen.passed, s.passed);
  m.Advance(m.outcomes.Add({{"result", "no_quorum"}}), m.seen.no_quorum, s.no_quorum);
  m.Advance(m.outcomes.Add({{"result", "rejected"}}), m.seen.rejected, s.rejected);
  m.Advance(m.outcomes.Add({{"result", "vetoed"}}), m.seen.vetoed, s.vetoed);
  m.Advance(m.executions, m.seen.executed, s.executed);
}

}  // namespace plume::scheduler
