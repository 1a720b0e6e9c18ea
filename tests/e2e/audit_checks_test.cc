// The pure provenance checks of `plume audit` (cli/src/audit_provenance.h) on hand-made job
// records and receipts: a consistent two-round training job passes every check, and each kind
// of inconsistency (a broken round chain, a delta no receipt produced, a receipt from foreign
// parameters or data, a wrong spec file, a final output that is not the last checkpoint, an
// unpaid inference shard) is reported naming the round, entry or hash at fault. The replay runs
// on real checkpoints of a tiny model held in memory, and catches a recorded output the outer
// step does not produce and a blob whose bytes do not hash to its id.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "audit_provenance.h"
#include "plume/kernels/checkpoint.h"
#include "plume/scheduler/outer_step.h"

namespace plume::cli {
namespace {

Hash256 H(uint8_t tag) {
  Hash256 h{};
  h.fill(tag);
  return h;
}

bool Mentions(const CheckResult& c, const std::string& text) {
  for (const std::string& p : c.problems) {
    if (p.find(text) != std::string::npos) return true;
  }
  return false;
}

// Round r starts from H(10 + r) and produces H(11 + r); workers' deltas are H(100 + 10r + w);
// data H(1), validation H(2).
struct TrainJob {
  JobRecord job;
  std::vector<ReceiptFacts> receipts;

  explicit TrainJob(uint32_t rounds) {
    job.job = "job-1";
    job.train = true;
    job.succeeded = true;
    job.state = "succeeded";
    job.spec_hash = H(7);
    job.data_blobs = {{"data", H(1)}, {"val", H(2)}};
    uint64_t entry = 3;
    for (uint32_t r = 0; r < rounds; ++r) {
      RoundFacts f{
          r, H(static_cast<uint8_t>(10 + r)), H(static_cast<uint8_t>(11 + r)), {}, {}, 0.7, 0.9};
      for (uint8_t w = 0; w < 2; ++w) {
        const Hash256 delta = H(static_cast<uint8_t>(100 + 10 * r + w));
        f.deltas.push_back(delta);
        f.weights.push_back(256);
        receipts.push_back(
            {entry, "t" + std::to_string(entry), true, {f.params_in, H(1), H(2)}, delta});
        ++entry;
      }
      job.rounds.push_back(f);
    }
    job.output_shards = {job.rounds.back().params_out};
  }
};

TEST(AuditChecks, AConsistentTrainingJobPassesEveryCheck) {
  TrainJob t(2);
  EXPECT_EQ(CheckDataInputs(t.job, t.receipts).status, CheckStatus::kOk);
  EXPECT_EQ(CheckRounds(t.job, t.receipts).status, CheckStatus::kOk);
  EXPECT_EQ(CheckRounds(t.job, t.receipts, SpecFacts{H(10), 0.7, 0.9, 2, 2}).status,
            CheckStatus::kOk);
  EXPECT_EQ(CheckOutputs(t.job, t.receipts).status, CheckStatus::kOk);
  EXPECT_EQ(CheckSpec(t.job, H(7)).status, CheckStatus::kOk);
  // Without a spec file the spec hash is shown but not claimed as checked.
  const CheckResult no_file = CheckSpec(t.job, std::nullopt);
  EXPECT_EQ(no_file.status, CheckStatus::kNotChecked);
  EXPECT_NE(no_file.summary.find("--spec"), std::string::npos) << no_file.summary;
}

TEST(AuditChecks, ABrokenRoundChainNamesTheRound) {
  TrainJob t(3);
  t.job.rounds[2].params_in = H(99);  // round 2 does not start where round 1 ended
  for (ReceiptFacts& r : t.receipts) {
    if (r.inputs[0] == H(12)) r.inputs[0] = H(99);
  }
  const CheckResult c = CheckRounds(t.job, t.receipts);
  EXPECT_EQ(c.status, CheckStatus::kProblem);
  EXPECT_TRUE(Mentions(c, "round 2 starts from")) << c.summary;
  EXPECT_EQ(c.problems.size(), 1u) << c.summary;
  // Round 0 not from the spec's initialisation.
  TrainJob u(1);
  EXPECT_TRUE(Mentions(CheckRounds(u.job, u.receipts, SpecFacts{.initial_params = H(42)}),
                       "round 0 starts from"));
  // Rounds listed out of order.
  TrainJob v(2);
  std::swap(v.job.rounds[0].round, v.job.rounds[1].round);
  EXPECT_TRUE(Mentions(CheckRounds(v.job, v.receipts), "is listed where round 0 belongs"));
}

TEST(AuditChecks, RoundsMustFollowTheSpecsOuterStepRoundsAndWorkers) {
  TrainJob t(2);
  t.job.rounds[1].outer_lr = 1.0;
  CheckResult c = CheckRounds(t.job, t.receipts, SpecFacts{std::nullopt, 0.7, 0.9, 2, 2});
  EXPECT_TRUE(Mentions(c, "round 1: outer step with lr")) << c.summary;
  EXPECT_EQ(c.problems.size(), 1u) << c.summary;
  TrainJob u(2);
  c = CheckRounds(u.job, u.receipts, SpecFacts{std::nullopt, 0.7, 0.9, 3, 1});
  EXPECT_TRUE(Mentions(c, "the spec asks for 3")) << c.summary;
  EXPECT_TRUE(Mentions(c, "round 0: 2 deltas, the spec has 1 workers")) << c.summary;
}

TEST(AuditChecks, EveryDeltaMustBeASettledReceiptFromItsRoundsParameters) {
  TrainJob t(2);
  t.job.rounds[1].deltas[1] = H(77);  // a delta no agent signed for
  CheckResult c = CheckRounds(t.job, t.receipts);
  EXPECT_TRUE(Mentions(c, "round 1: delta 1")) << c.summary;

  TrainJob u(2);
  u.receipts[2].inputs[0] = H(10);  // round 1's first worker claims round 0's parameters
  c = CheckRounds(u.job, u.receipts);
  EXPECT_TRUE(Mentions(c, "round 1: the receipt for delta 0")) << c.summary;

  TrainJob v(2);
  v.receipts[0].settled = false;  // recorded but not paid: it does not back the delta
  EXPECT_TRUE(Mentions(CheckRounds(v.job, v.receipts), "round 0: delta 0"));
}

TEST(AuditChecks, AReceiptFromForeignParametersOrDataIsReported) {
  TrainJob t(2);
  t.receipts.push_back({40, "t40", true, {H(55), H(1)}, H(56)});
  const CheckResult rounds = CheckRounds(t.job, t.receipts);
  EXPECT_TRUE(Mentions(rounds, "entry #40 (task t40): started from parameters")) << rounds.summary;

  TrainJob u(1);
  u.receipts[1].inputs[1] = H(3);
  const CheckResult data = CheckDataInputs(u.job, u.receipts);
  EXPECT_EQ(data.status, CheckStatus::kProblem);
  EXPECT_TRUE(Mentions(data, "entry #4")) << data.summary;
  EXPECT_TRUE(Mentions(data, "is not one of the job's data blobs")) << data.summary;
  u.receipts[1].inputs = {H(11)};  // parameters only: no data input at all
  EXPECT_TRUE(Mentions(CheckDataInputs(u.job, u.receipts), "no data input"));
}

TEST(AuditChecks, ARunningJobMayHavePaidTheNextRoundButHasNoOutputYet) {
  TrainJob t(2);
  t.job.succeeded = false;
  t.job.state = "running";
  t.job.output_shards.clear();
  t.receipts.push_back({50, "50", true, {t.job.rounds.back().params_out, H(1)}, H(200)});
  EXPECT_EQ(CheckRounds(t.job, t.receipts).status, CheckStatus::kOk);
  EXPECT_EQ(CheckOutputs(t.job, t.receipts).status, CheckStatus::kNotChecked);
}

TEST(AuditChecks, SpecAndFinalOutputMismatchesAreProblems) {
  TrainJob t(2);
  const CheckResult spec = CheckSpec(t.job, H(8));
  EXPECT_EQ(spec.status, CheckStatus::kProblem);
  EXPECT_TRUE(Mentions(spec, "spec hash")) << spec.summary;
  EXPECT_TRUE(Mentions(spec, ToHex(H(7)))) << spec.summary;
  t.job.output_shards = {H(11)};  // round 0's checkpoint, not the last round's
  EXPECT_TRUE(Mentions(CheckOutputs(t.job, t.receipts), "is not the last round's checkpoint"));
}

TEST(AuditChecks, InferShardsMustBeSettledOutputs) {
  JobRecord job;
  job.train = false;
  job.succeeded = true;
  job.state = "succeeded";
  job.data_blobs = {{"checkpoint", H(5)}};
  job.output_shards = {H(30), H(31)};
  std::vector<ReceiptFacts> receipts = {{1, "1", true, {H(5)}, H(30)},
                                        {2, "2", true, {H(5)}, H(31)}};
  EXPECT_EQ(CheckOutputs(job, receipts).status, CheckStatus::kOk);
  EXPECT_EQ(CheckDataInputs(job, receipts).status, CheckStatus::kOk);
  EXPECT_EQ(CheckRounds(job, receipts).status, CheckStatus::kNotApplicable);
  EXPECT_EQ(CheckReplay(job, {}).replay.status, CheckStatus::kNotApplicable);
  receipts[1].settled = false;
  EXPECT_TRUE(Mentions(CheckOutputs(job, receipts), "output shard 1"));
  receipts[0].inputs = {H(6)};  // another checkpoint
  EXPECT_TRUE(Mentions(CheckDataInputs(job, receipts), "entry #1"));
}

// Real checkpoints of a tiny model in an in-memory blob store, and a record whose outputs are
// what the outer step gives.
class Replay : public ::testing::Test {
 protected:
  void SetUp() override { model_ = {1, 2, 8, 8, 256}; }

  Hash256 Put(const std::vector<float>& params) {
    auto bytes = kernels::SaveCheckpointBytes(model_, params);
    EXPECT_TRUE(bytes);
    const std::string s(bytes->begin(), bytes->end());
    const Hash256 h = Blake2b256(s);
    blobs_[h] = s;
    return h;
  }
  std::vector<float> Random(uint32_t seed, float scale) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(static_cast<size_t>(model_.NumParams()));
    for (float& x : v) x = d(rng);
    return v;
  }
  // Two rounds of two workers, aggregated with the scheduler's OuterStep.
  JobRecord MakeJob() {
    JobRecord job;
    job.train = true;
    job.succeeded = true;
    std::vector<float> theta = Random(1, 0.02f), momentum;
    for (uint32_t r = 0; r < 2; ++r) {
      RoundFacts f{r, Put(theta), {}, {}, {}, 0.7, 0.9};
      scheduler::OuterStep step(theta.size());
      for (uint32_t w = 0; w < 2; ++w) {
        const std::vector<float> delta = Random(10 + 2 * r + w, 0.01f);
        f.deltas.push_back(Put(delta));
        f.weights.push_back(100 + w);
        EXPECT_TRUE(step.AddDelta(delta, 100 + w));
      }
      auto next = step.Finish(theta, momentum, 0.7, 0.9);
      EXPECT_TRUE(next);
      theta = next->params;
      momentum = next->momentum;
      f.params_out = Put(theta);
      job.rounds.push_back(f);
    }
    return job;
  }
  BlobSource Source() {
    return [this](const Hash256& h) -> Result<std::string> {
      auto it = blobs_.find(h);
      if (it == blobs_.end()) return Fail("not found");
      return it->second;
    };
  }

  kernels::ModelConfig model_;
  std::map<Hash256, std::string> blobs_;
};

TEST_F(Replay, RecomputesEveryRoundsCheckpoint) {
  const JobRecord job = MakeJob();
  const ReplayResult r = CheckReplay(job, Source());
  EXPECT_EQ(r.checkpoints.status, CheckStatus::kOk) << r.checkpoints.summary;
  EXPECT_EQ(r.replay.status, CheckStatus::kOk) << r.replay.summary;
  EXPECT_NE(r.replay.summary.find("2 round(s)"), std::string::npos) << r.replay.summary;
}

TEST_F(Replay, AnOutputTheOuterStepDoesNotGiveIsReportedForItsRound) {
  JobRecord job = MakeJob();
  // Round 1 claims a checkpoint made without worker 1's delta (a real, well-hashed blob).
  job.rounds[1].params_out = Put(Random(99, 0.02f));
  ReplayResult r = CheckReplay(job, Source());
  EXPECT_EQ(r.checkpoints.status, CheckStatus::kOk) << r.checkpoints.summary;
  EXPECT_EQ(r.replay.status, CheckStatus::kProblem);
  EXPECT_TRUE(Mentions(r.replay, "round 1: the outer step")) << r.replay.summary;
  EXPECT_FALSE(Mentions(r.replay, "round 0")) << r.replay.summary;

  // Another weight, another average.
  job = MakeJob();
  job.rounds[0].weights[0] = 1;
  r = CheckReplay(job, Source());
  EXPECT_TRUE(Mentions(r.replay, "round 0: the outer step")) << r.replay.summary;
}

TEST_F(Replay, ATamperedBlobIsReportedForItsRound) {
  const JobRecord job = MakeJob();
  std::string& delta = blobs_[job.rounds[1].deltas[0]];
  delta[delta.size() / 2] ^= 0x01;
  const ReplayResult r = CheckReplay(job, Source());
  EXPECT_EQ(r.checkpoints.status, CheckStatus::kProblem);
  EXPECT_TRUE(Mentions(r.checkpoints, "round 1: delta 0")) << r.checkpoints.summary;
  EXPECT_TRUE(Mentions(r.checkpoints, "not to its id")) << r.checkpoints.summary;
  EXPECT_EQ(r.replay.status, CheckStatus::kProblem);  // round 1 could not be replayed
  EXPECT_TRUE(Mentions(r.replay, "round 1")) << r.replay.summary;
}

}  // namespace
}  // namespace plume::cli
