// plume-scheduler's governance wiring (main.cc): the flags that give the voting rules their
// initial values (the network parameters that are also scheduler flags, like --fee-bps, are
// governed too), and the GovDriver bound to the reactor's hooks. Bounds come from gov/params.h.
#pragma once

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "plume/gov/params.h"
#include "plume/scheduler/gov_driver.h"
#include "plume/scheduler/metrics_gov.h"
#include "plume/scheduler/reactor.h"

namespace plume::scheduler {

struct GovFlags {
  std::map<gov::Param, int64_t> values;  // the voting-rule flags given
};

// --gov-quorum-ppm, --gov-threshold-ppm, --gov-veto-ppm, --gov-voting-period-ms,
// --gov-timelock-ms, --gov-deposit-min-micro-plume, --gov-royalty-cap-bps: each within its
// bounds (an operator cannot start a network with unsafe voting rules either).
inline void AddGovFlags(CLI::App& app, GovFlags& flags) {
  for (gov::Param p : {gov::Param::kQuorumPpm, gov::Param::kThresholdPpm, gov::Param::kVetoPpm,
                       gov::Param::kVotingPeriodMs, gov::Param::kTimelockMs,
                       gov::Param::kDepositMin, gov::Param::kRoyaltyCapBps}) {
    const gov::ParamSpec& s = gov::SpecOf(p);
    std::string name = "--gov-" + std::string(s.name);
    for (char& c : name) c = c == '_' ? '-' : c;
    app.add_option_function<int64_t>(
           name, [&flags, p](int64_t v) { flags.values[p] = v; },
           "governance: initial " + std::string(s.name) + " (" + std::string(s.unit) +
               ", default " + std::to_string(s.default_value) + "; docs/governance.md)")
        ->check(CLI::Range(s.min, s.max))
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
}

// The initial parameters: the core's flags and the voting-rule flags. Without --gov-timelock-ms
// the timelock is at least the unbonding period (stakers who disagree can leave first); one
// given shorter is refused (empty: fine, else why).
inline std::string InitialGovParams(const Config& core, const GovFlags& flags,
                                    int64_t unbonding_ms, gov::Params& out) {
  out = ParamsOfConfig(core, gov::Params());
  for (const auto& [p, v] : flags.values) out.Set(p, v);
  if (!flags.values.contains(gov::Param::kTimelockMs)) {
    out.Set(gov::Param::kTimelockMs,
            std::clamp(unbonding_ms, out.Get(gov::Param::kTimelockMs),
                       gov::SpecOf(gov::Param::kTimelockMs).max));
  }
  if (out.Get(gov::Param::kTimelockMs) < unbonding_ms) {
    return "--gov-timelock-ms is shorter than --unbonding-ms: stakers who disagree with an "
           "adopted change could not leave before it takes effect";
  }
  for (const gov::ParamSpec& s : gov::ParamTable()) {
    if (std::string why = gov::BoundsProblem(s.param, out.Get(s.param)); !why.empty()) {
      // The operator's own flag (a test network's window of 0, say) is its call; no proposal
      // may set such a value.
      spdlog::warn("flag value outside the governance bounds: {}", why);
    }
  }
  return {};
}

// Replays the ledger's governance, puts the parameters in force into options.core and binds
// the reactor's hooks. The driver must outlive the reactor.
inline Result<std::unique_ptr<GovDriver>> WireGovernance(LedgerBridge& bridge,
                                                         const Identity& ledger_key,
                                                         const gov::Params& initial,
                                                         ReactorOptions& options) {
  auto driver = GovDriver::Open(bridge, ledger_key, initial);
  if (!driver) return driver;
  GovDriver* d = driver->get();
  ApplyParams(d->params(), options.core);
  options.gov_service = [d](wire::Envelope::Body::Reader request,
                            wire::Envelope::Body::Builder reply) { d->Answer(request, reply); };
  options.gov_tick = [d] { return d->Tick(); };
  return driver;
}

inline GovSample GovSampleOf(const GovDriver& d) {
  const GovStats s = d.stats();
  return GovSample{s.open, s.passed, s.no_quorum, s.rejected, s.vetoed, s.executed,
                   s.last_turnout_ratio};
}

}  // namespace plume::scheduler
