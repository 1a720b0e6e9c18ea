// The replay-audit policy on its own: the adaptive rate, the draw (frequency, determinism, and
// that the seed matters), every verdict, commitment chains, and the detection curve of a seeded
// simulation of the policy against the analytic 1 - prod(1 - p_i q).
#include "plume/verify/audit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace plume::verify {
namespace {

Digest D(uint8_t b) {
  Digest d{};
  d.fill(b);
  return d;
}

TEST(AuditRate, NewProvidersAreAlwaysAuditedThenTheRateFallsToTheFloor) {
  AuditParams p;  // 10 consecutive, 5% floor
  ProviderRecord r;
  EXPECT_EQ(AuditRatePpm(r, p), 1'000'000u);
  for (int i = 0; i < 9; ++i) r = Apply(r, Event::kValid);
  EXPECT_EQ(AuditRatePpm(r, p), 1'000'000u) << "9 valid results are not yet trust";
  r = Apply(r, Event::kValid);
  EXPECT_EQ(AuditRatePpm(r, p), 100'000u);  // 1/10
  for (int i = 0; i < 10; ++i) r = Apply(r, Event::kValid);
  EXPECT_EQ(AuditRatePpm(r, p), 50'000u);   // 1/20 = the floor
  for (int i = 0; i < 100; ++i) r = Apply(r, Event::kValid);
  EXPECT_EQ(AuditRatePpm(r, p), 50'000u);   // never below the floor
  r = Apply(r, Event::kRefused);
  EXPECT_EQ(r.consecutive_valid, 0);
  EXPECT_EQ(AuditRatePpm(r, p), 1'000'000u) << "a refusal starts the run again";
  for (int i = 0; i < 30; ++i) r = Apply(r, Event::kValid);
  r = Apply(r, Event::kProvenFaulty);
  EXPECT_EQ(AuditRatePpm(r, p), 1'000'000u) << "so does a proven fault";
  EXPECT_EQ(r.valid, 150);
  EXPECT_EQ(r.refused, 1);
  EXPECT_EQ(r.proven_faulty, 1);
}

TEST(AuditDraw, HitsTheRateIsRepeatableAndDependsOnTheSeed) {
  const Digest seed = D(7), other = D(8);
  constexpr int kTasks = 200'000;
  int hits = 0, same = 0, hits_other = 0;
  for (int i = 0; i < kTasks; ++i) {
    const std::string key = "job-" + std::to_string(i % 97) + "/task-" + std::to_string(i);
    const bool a = ShouldAudit(seed, key, 50'000);
    EXPECT_EQ(a, ShouldAudit(seed, key, 50'000));
    const bool b = ShouldAudit(other, key, 50'000);
    hits += a;
    hits_other += b;
    same += a && b;
  }
  // Binomial(200k, 5%): sd 97; 5 sd either side.
  EXPECT_NEAR(hits, kTasks / 20, 500);
  EXPECT_NEAR(hits_other, kTasks / 20, 500);
  // Independent seeds: both pick about 0.25% of the tasks, not the same 5%.
  EXPECT_NEAR(same, kTasks / 400, 120);
  EXPECT_TRUE(ShouldAudit(seed, "x", 1'000'000));
  EXPECT_FALSE(ShouldAudit(seed, "x", 0));
}

TEST(AuditVerdict, OnlyTwoMatchingRunsConvict) {
  EXPECT_EQ(Decide(D(1), D(1), std::nullopt), Outcome::kMatched);
  EXPECT_EQ(Decide(D(1), D(2), std::nullopt), Outcome::kNeedsReferee);
  EXPECT_EQ(Decide(D(1), D(2), D(2)), Outcome::kOriginalFaulty);
  EXPECT_EQ(Decide(D(1), D(2), D(1)), Outcome::kAuditorFaulty);
  EXPECT_EQ(Decide(D(1), D(2), D(3)), Outcome::kUndecided);
  EXPECT_STREQ(Name(Outcome::kOriginalFaulty), "original_faulty");
}

TEST(Commitments, ChainsStayWithinAKibibyteAndPartWhereTheRunsDo) {
  for (int64_t h = 1; h <= 5000; ++h) {
    const int64_t k = CommitmentInterval(h);
    ASSERT_GE(k, 1);
    const int64_t links = (h + k - 1) / k;
    ASSERT_LE(links * 32, 1024) << "H=" << h;
  }
  EXPECT_EQ(CommitmentInterval(32), 1);
  EXPECT_EQ(CommitmentInterval(50), 2);
  // Two runs agree for 5 segments, then one state differs: every later link differs too.
  std::vector<Digest> a, b;
  Digest la{}, lb{};
  for (int i = 0; i < 12; ++i) {
    la = ChainLink(la, D(static_cast<uint8_t>(i)));
    lb = ChainLink(lb, D(static_cast<uint8_t>(i == 5 ? 200 : i)));
    a.push_back(la);
    b.push_back(lb);
  }
  EXPECT_EQ(FirstDifferingLink(a, b), std::optional<size_t>(5));
  EXPECT_NE(a.back(), b.back());
  EXPECT_EQ(FirstDifferingLink(a, a), std::nullopt);
  EXPECT_EQ(FirstDifferingLink(std::span(a).first(7), a), std::optional<size_t>(7));
  EXPECT_NE(ChainLink(D(0), D(1)), ChainLink(D(1), D(0)));
}

// A seeded simulation of the policy alone: providers that cheat on each task with probability
// q, audited as the policy says; the fraction caught within n tasks against the analytic curve
// over the same rates. (The scheduler-level simulation is in the scheduler's sim tests.)
TEST(AuditDetection, SimulationMatchesTheAnalyticCurve) {
  AuditParams params;
  for (const double q : {0.05, 0.1, 0.2}) {
    constexpr int kProviders = 4000, kTasks = 300;
    std::mt19937_64 rng(11);
    std::bernoulli_distribution cheats(q);
    const Digest seed = D(42);
    // Until caught, a cheater's record is an honest one's, so every provider faces this path.
    std::vector<double> rates;
    ProviderRecord honest;
    for (int t = 0; t < kTasks; ++t) {
      rates.push_back(AuditRatePpm(honest, params) / 1e6);
      honest = Apply(honest, Event::kValid);
    }
    int caught = 0;
    for (int p = 0; p < kProviders; ++p) {
      ProviderRecord r;
      for (int t = 0; t < kTasks; ++t) {
        const uint32_t rate = AuditRatePpm(r, params);
        const bool cheated = cheats(rng);
        const std::string key = std::to_string(p) + "/" + std::to_string(t);
        if (cheated && ShouldAudit(seed, key, rate)) {
          ++caught;
          break;
        }
        r = Apply(r, Event::kValid);  // an undetected cheat looks valid
      }
    }
    const double measured = double(caught) / kProviders;
    const double analytic = DetectionProbability(rates, q);
    const double sd = std::sqrt(analytic * (1 - analytic) / kProviders);
    EXPECT_NEAR(measured, analytic, 4 * sd + 1e-3) << "q=" << q;
    // The bar: cheating on 10% of tasks is caught within 1,000 tasks with p >= 99%.
    if (q == 0.1) {
      std::vector<double> long_run(rates);
      long_run.resize(1000, params.p_min_ppm / 1e6);
      EXPECT_GE(DetectionProbability(long_run, q), 0.99);
    }
  }
}

}  // namespace
}  // namespace plume::verify
