// Figures of replay audits from a finished simulated world (sim_world.h), read from the core's
// state alone: how soon each cheating provider was first proven faulty on its own results, the
// analytic curve for the same rate path (verify::DetectionProbability), false accusations, and
// the verification overhead (audit and referee FLOPs over all task FLOPs).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim_world.h"

namespace plume::scheduler::testing {

struct Detection {
  int64_t within_tasks = 0;  // N: caught among its first N own results
  int cheaters = 0;          // cheaters with N results, or caught before their N-th
  int caught = 0;
  double measured = 0;  // caught / cheaters
  double analytic = 0;  // 1 - prod_{i<N} (1 - p_i q) on the rate path of a new provider
  double sigma = 0;     // binomial standard error of `measured` at the analytic value
};

struct AuditFigures {
  int64_t tasks = 0;       // own results committed (audit and referee runs apart)
  int64_t audit_runs = 0;  // audit and referee runs that finished
  int64_t verdicts = 0;    // mismatches
  int64_t convictions = 0;
  int64_t false_accusations = 0;  // convictions of a provider that never cheats
  int64_t unaudited_no_peer = 0;
  double overhead = 0;         // audit+referee FLOPs / all finished task FLOPs, whole run
  double overhead_steady = 0;  // the same over the second half of the run (virtual time)
  std::vector<Detection> detection;
};

AuditFigures MeasureAudits(const World& w, double q, const verify::AuditParams& params,
                           const std::vector<int64_t>& within);

std::string Format(const AuditFigures& f);

}  // namespace plume::scheduler::testing
