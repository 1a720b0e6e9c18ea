// Blob retention (retention.h), pure: which blobs a state keeps at a time, which stored blobs go,
// and which momentum files. Each rule is shown keeping what it must and letting go of the rest.
#include "plume/scheduler/retention.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace plume::scheduler {
namespace {

constexpr int64_t kDay = 24 * 3'600'000LL;

RetentionPolicy Policy() {
  RetentionPolicy p;
  p.finished_job_ms = 30 * kDay;
  p.unused_blob_ms = 7 * kDay;
  return p;
}

// One training job with every kind of blob it can name, and one task and round.
State OneJob(JobState state, int64_t finished_at_ms) {
  State s;
  Job j;
  j.id = "job";
  j.owner = "team";
  j.state = state;
  j.finished_at_ms = finished_at_ms;
  j.spec.data_blobs = {"data", "val"};
  j.spec.initial_params_blob = "init";
  j.params_blob = "params";
  j.outputs = {"out"};
  s.jobs[j.id] = j;
  Round r;
  r.job = "job";
  r.params_in = "r-in";
  r.params_out = "r-out";
  s.rounds[{"job", 0}] = r;
  Task t;
  t.id = "job/r0/w0";
  t.job = "job";
  t.state = TaskState::kSucceeded;
  t.input_params_blob = "t-in";
  t.output_blob = "delta";
  t.start_state_blob = "start";
  s.tasks[t.id] = t;
  return s;
}

const std::vector<BlobHash> kJobBlobs = {"data", "val", "init", "params", "out", "r-in",
                                         "r-out", "t-in", "delta", "start"};

bool HasAll(const std::unordered_set<BlobHash>& in_use, const std::vector<BlobHash>& blobs) {
  return std::all_of(blobs.begin(), blobs.end(), [&](const BlobHash& b) { return in_use.contains(b); });
}

TEST(Retention, ARunningJobKeepsEveryBlobItNames) {
  const State s = OneJob(JobState::kRunning, 0);
  const auto in_use = BlobsInUse(s, 1000 * kDay, Policy(), {});
  EXPECT_TRUE(HasAll(in_use, kJobBlobs));
  EXPECT_EQ(in_use.size(), kJobBlobs.size());
}

TEST(Retention, AFinishedJobKeepsItsBlobsForTheWindowThenLetsThemGo) {
  const State s = OneJob(JobState::kSucceeded, 10 * kDay);
  EXPECT_TRUE(HasAll(BlobsInUse(s, 39 * kDay, Policy(), {}), kJobBlobs));
  EXPECT_TRUE(BlobsInUse(s, 40 * kDay, Policy(), {}).empty());
  // Saturating: a window of "for ever" never wraps.
  RetentionPolicy forever = Policy();
  forever.finished_job_ms = INT64_MAX;
  EXPECT_TRUE(HasAll(BlobsInUse(s, INT64_MAX - 1, forever, {}), kJobBlobs));
}

TEST(Retention, AnOpenAuditOrARecentVerdictKeepsAFinishedJobsBlobs) {
  State s = OneJob(JobState::kSucceeded, 0);
  Task audit;
  audit.id = "job/r0/w0/audit";
  audit.job = "job";
  audit.state = TaskState::kAssigned;
  audit.output_blob = "audit-out";
  s.tasks[audit.id] = audit;
  auto in_use = BlobsInUse(s, 100 * kDay, Policy(), {});
  EXPECT_TRUE(HasAll(in_use, kJobBlobs));
  EXPECT_TRUE(in_use.contains("audit-out"));

  s.tasks[audit.id].state = TaskState::kSucceeded;
  Verdict v;
  v.task = "job/r0/w0";
  v.job = "job";
  v.decided_at_ms = 90 * kDay;
  v.original_output = "delta";
  v.audit_output = "audit-out";
  v.referee_output = "referee-out";
  v.evidence_blob = "evidence";  // a dispute/1 verdict's: `plume audit` recomputes it from this
  s.verdicts[v.task] = v;
  in_use = BlobsInUse(s, 100 * kDay, Policy(), {});
  EXPECT_TRUE(HasAll(in_use, {"delta", "audit-out", "referee-out", "evidence", "data"}));
  EXPECT_TRUE(BlobsInUse(s, 121 * kDay, Policy(), {}).empty());
}

TEST(Retention, JoinedOutputsLiveAsLongAsTheirJob) {
  const State s = OneJob(JobState::kSucceeded, 0);
  const std::map<BlobHash, JobId> derived = {{"joined", "job"}, {"orphan", "gone"}};
  auto in_use = BlobsInUse(s, kDay, Policy(), derived);
  EXPECT_TRUE(in_use.contains("joined"));
  EXPECT_FALSE(in_use.contains("orphan"));
  EXPECT_FALSE(BlobsInUse(s, 31 * kDay, Policy(), derived).contains("joined"));
}

TEST(Retention, OnlyOldBlobsNoJobUsesAreDeletedOldestFirstAndCapped) {
  const std::unordered_set<BlobHash> in_use = {"used"};
  const std::vector<StoredBlob> stored = {
      {"used", 0},            // old but in use: kept
      {"fresh", 95 * kDay},   // unused, stored 5 days ago: kept (a team about to submit)
      {"old-b", 2 * kDay},    // unused and old: deleted
      {"old-a", 1 * kDay},    // older: deleted first
      {"edge", 93 * kDay},    // exactly the window: deleted
  };
  EXPECT_EQ(BlobsToDelete(stored, in_use, 100 * kDay, Policy(), 10),
            (std::vector<BlobHash>{"old-a", "old-b", "edge"}));
  EXPECT_EQ(BlobsToDelete(stored, in_use, 100 * kDay, Policy(), 1),
            (std::vector<BlobHash>{"old-a"}));
  EXPECT_EQ(BlobsToDelete(stored, in_use, 8 * kDay, Policy(), 10), (std::vector<BlobHash>{"old-a"}));
}

TEST(Retention, MomentumOfFinishedJobsAndOldRoundsGoesTheRoundInProgressKeepsItsInput) {
  State s = OneJob(JobState::kRunning, 0);
  s.jobs["job"].round = 5;  // aggregating round 5 reads m_4 and writes m_5
  s.jobs["done"] = s.jobs["job"];
  s.jobs["done"].id = "done";
  s.jobs["done"].state = JobState::kSucceeded;
  const std::vector<std::string> names = {
      "job.r3.hf", "job.r4.hf", "job.r5.hf", "job.r2",  // the older layout has no .hf
      "done.r9.hf", "gone.r0.hf", "notes.txt", "job.rx.hf", ".r1.hf", "job.r99999999999.hf"};
  auto doomed = MomentumToDelete(s, names);
  std::sort(doomed.begin(), doomed.end());
  EXPECT_EQ(doomed, (std::vector<std::string>{"done.r9.hf", "gone.r0.hf", "job.r2", "job.r3.hf"}));
}

}  // namespace
}  // namespace plume::scheduler
