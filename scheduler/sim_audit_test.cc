// Replay audits through the real scheduler core in the deterministic simulation (sim_world.h):
// honest providers and byzantine ones that return a wrong output hash on a fraction q of their
// tasks. Shown: no honest provider is ever convicted and no run proven faulty is ever paid (the
// world's invariants); the measured detection curve matches the analytic 1 - prod(1 - p_i q) of
// verify/audit.h within the simulation's noise; a provider cheating from its first task is caught
// within 10 tasks with probability 1 - 0.9^10 at q = 10%; and the verification overhead at steady
// state stays within 10% of all compute with p_min 5%.
//
// The ctest run is small. The 10,000+ task figures in bench/RESULTS.md come from
//   PLUME_SIM_AUDIT_LARGE=1 plume_scheduler_test --gtest_filter='SimAudit.*'
#include "sim_audit.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

namespace plume::scheduler {
namespace {

using testing::AuditFigures;
using testing::World;
using testing::WorldOptions;

bool Large() { return std::getenv("PLUME_SIM_AUDIT_LARGE") != nullptr; }

struct SimRun {
  AuditFigures figures;
  std::vector<std::string> violations;
};

SimRun Simulate(uint64_t seed, int honest, int cheaters, double q, int tasks_per_agent,
                bool cheat_on_audits, uint32_t p_min_ppm, const std::vector<int64_t>& within) {
  WorldOptions o;
  o.seed = seed;
  o.agents = honest + cheaters;
  o.cheaters = cheaters;
  o.cheat_q = q;
  o.cheat_on_audits = cheat_on_audits;
  o.feed_shards = 16;
  o.jobs = (honest + cheaters) * tasks_per_agent / static_cast<int>(o.feed_shards) + 1;
  o.open_jobs_max = std::max(2, (honest + cheaters) / 8);
  o.task_ms_min = 1000;
  o.task_ms_max = 3000;
  o.step_ms = 1000;
  o.submit_window_ms = 0;
  Config c;
  c.audit.p_min_ppm = p_min_ppm;
  c.audit_seed.fill(static_cast<uint8_t>(seed));
  World w(o, c);
  const bool done = w.Run(int64_t{200} * 24 * 3'600'000);
  SimRun r{testing::MeasureAudits(w, q, c.audit, within), w.violations};
  if (!done) r.violations.push_back("world did not finish");
  std::printf(
      "seed %llu: %d honest + %d cheaters at q = %.2f (%s), p_min %.1f%%, virtual %lld s\n%s",
      static_cast<unsigned long long>(seed), honest, cheaters, q,
      cheat_on_audits ? "also on audit runs" : "own results only", p_min_ppm / 1e4,
      static_cast<long long>(w.now_ms / 1000), testing::Format(r.figures).c_str());
  return r;
}

void ExpectWithinNoise(const testing::Detection& d) {
  // Four standard errors, plus a small allowance for the last results of a run whose audit
  // closed after the world stopped counting them.
  EXPECT_NEAR(d.measured, d.analytic, 4 * d.sigma + 0.01)
      << "within " << d.within_tasks << ": " << d.caught << "/" << d.cheaters;
}

TEST(SimAudit, DetectionMatchesTheAnalyticCurveAndNoHonestProviderIsConvicted) {
  const int cheaters = Large() ? 300 : 150;
  const int per_agent = Large() ? 100 : 50;
  const std::vector<int64_t> within =
      Large() ? std::vector<int64_t>{10, 20, 50} : std::vector<int64_t>{10, 20};
  const SimRun r = Simulate(11, cheaters, cheaters, 0.1, per_agent, false, 50'000, within);
  for (const auto& v : r.violations) ADD_FAILURE() << v;
  EXPECT_EQ(r.figures.false_accusations, 0);
  EXPECT_GT(r.figures.convictions, 0);
  ASSERT_EQ(r.figures.detection.size(), within.size());
  for (const auto& d : r.figures.detection) {
    EXPECT_GE(d.cheaters, cheaters * 8 / 10);
    ExpectWithinNoise(d);
  }
  // A new provider that cheats from its first task, at q = 10%: every one of its first 10 results
  // is audited, so it is caught within them with probability 1 - 0.9^10.
  const auto& first10 = r.figures.detection[0];
  EXPECT_NEAR(first10.analytic, 1 - std::pow(0.9, 10), 1e-9);
  EXPECT_GE(first10.measured, first10.analytic - 4 * first10.sigma);
}

TEST(SimAudit, TenPercentCheatersAreCaughtWithinAThousandOfTheirResults) {
  const int cheaters = Large() ? 100 : 30;
  const int per_agent = Large() ? 1000 : 200;
  const std::vector<int64_t> within =
      Large() ? std::vector<int64_t>{10, 100, 1000} : std::vector<int64_t>{10, 100};
  const SimRun r = Simulate(12, cheaters / 2, cheaters, 0.1, per_agent, false, 50'000, within);
  for (const auto& v : r.violations) ADD_FAILURE() << v;
  EXPECT_EQ(r.figures.false_accusations, 0);
  for (const auto& d : r.figures.detection) ExpectWithinNoise(d);
  const auto& last = r.figures.detection.back();
  if (Large()) {
    EXPECT_GE(last.analytic, 0.99);  // q = 10% within 1,000 own results
    EXPECT_GE(last.measured, 0.99 - 4 * std::max(last.sigma, 0.005));
  }
}

TEST(SimAudit, OverheadAtSteadyStateStaysUnderTenPercentWithCheatersAmongHonestProviders) {
  // One provider in ten cheats on 10% of everything it runs, audit runs included.
  const int honest = Large() ? 180 : 36;
  const SimRun r = Simulate(14, honest, honest / 9, 0.1, Large() ? 400 : 200, true, 50'000, {10});
  for (const auto& v : r.violations) ADD_FAILURE() << v;
  EXPECT_EQ(r.figures.false_accusations, 0);
  EXPECT_GT(r.figures.convictions, 0);
  EXPECT_LE(r.figures.overhead_steady, 0.10);
  // Caught on their audit runs too: at least the analytic rate of their own results.
  const auto& d = r.figures.detection.at(0);
  EXPECT_GE(d.measured, d.analytic - 4 * d.sigma - 0.01);
}

TEST(SimAudit, AllHonestOverheadAtSteadyStateIsAboutPMin) {
  const SimRun r = Simulate(13, Large() ? 100 : 20, 0, 0, Large() ? 400 : 200, true, 50'000, {});
  for (const auto& v : r.violations) ADD_FAILURE() << v;
  EXPECT_EQ(r.figures.verdicts, 0);  // an honest network never disputes
  EXPECT_LE(r.figures.overhead_steady, 0.10);
  EXPECT_GE(r.figures.overhead_steady, 0.03);  // p_min is a floor: audits never stop
}

// The table of bench/RESULTS.md: detection against q and p_min (own results only, so that the
// analytic curve applies), 100 honest + 100 cheating providers, 200 tasks per provider each.
TEST(SimAudit, DetectionAgainstQAndPMin) {
  if (!Large()) GTEST_SKIP() << "set PLUME_SIM_AUDIT_LARGE=1 (about a minute)";
  uint64_t seed = 100;
  for (uint32_t p_min_ppm : {20'000u, 50'000u, 100'000u}) {
    for (double q : {0.02, 0.1, 0.5}) {
      const SimRun r = Simulate(++seed, 100, 100, q, 200, false, p_min_ppm, {10, 50, 150});
      for (const auto& v : r.violations) ADD_FAILURE() << v;
      EXPECT_EQ(r.figures.false_accusations, 0);
      for (const auto& d : r.figures.detection) ExpectWithinNoise(d);
    }
  }
}

}  // namespace
}  // namespace plume::scheduler
