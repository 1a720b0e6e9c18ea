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
#include <vector>

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

// The scheduler flag that sets each parameter, for messages an operator can act on.
inline std::string FlagOf(gov::Param p) {
  switch (p) {
    case gov::Param::kFeeBps:
      return "--fee-bps";
    case gov::Param::kAuditRateMinPpm:
      return "--audit-p-min-ppm";
    case gov::Param::kMinStakePerDevice:
      return "--min-stake-per-device";
    case gov::Param::kSlashBps:
      return "--slash-bps";
    case gov::Param::kFinderFeeBps:
      return "--finder-fee-bps";
    case gov::Param::kChallengeWindowMs:
      return "--challenge-window-ms";
    default: {
      std::string name = "--gov-" + std::string(gov::SpecOf(p).name);
      for (char& c : name) c = c == '_' ? '-' : c;
      return name;
    }
  }
}

// One line per parameter whose starting value is outside the governance bounds, naming its flag,
// the value, the bounds and why they exist; empty when all are within.
inline std::vector<std::string> OutOfBoundsFlags(const gov::Params& params) {
  std::vector<std::string> out;
  for (const gov::ParamSpec& s : gov::ParamTable()) {
    const int64_t v = params.Get(s.param);
    if (gov::BoundsProblem(s.param, v).empty()) continue;
    out.push_back(FlagOf(s.param) + " " + std::to_string(v) + " is outside the governance bounds [" +
                  std::to_string(s.min) + ", " + std::to_string(s.max) + "] " +
                  std::string(s.unit) + " (" + std::string(s.why_bounded) + ")");
  }
  return out;
}

// The initial parameters: the core's flags and the voting-rule flags. Without --gov-timelock-ms
// the timelock is at least the unbonding period (stakers who disagree can leave first); one
// given shorter is refused (empty: fine, else why). With the ledger on (`governed`), a flag
// outside the governance bounds is refused too: no proposal could ever set such a value, so a
// network must not start with one; only a private test network (--test-network) may, with a
// warning.
inline std::string InitialGovParams(const Config& core, const GovFlags& flags,
                                    int64_t unbonding_ms, bool governed, bool test_network,
                                    gov::Params& out) {
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
  const std::vector<std::string> outside = OutOfBoundsFlags(out);
  if (governed && !test_network && !outside.empty()) {
    std::string why;
    for (const std::string& line : outside) why += (why.empty() ? "" : "; ") + line;
    return why + ". Give a value within the bounds (docs/governance.md), or --test-network on a "
                 "private test network";
  }
  for (const std::string& line : outside) {
    spdlog::warn("{}{}", line, governed ? " (allowed by --test-network)" : " (no ledger)");
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
