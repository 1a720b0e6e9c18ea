// The blob access rule (blob_access.h) on hand-built states: each way a key gains access, and
// the F2 laundering path (a job naming another team's blob, its hold refused) granting nothing.
#include "plume/scheduler/blob_access.h"

#include <gtest/gtest.h>

#include "plume/protocol/hash.h"

namespace plume::scheduler {
namespace {

// Distinct hashes per tag (core_test_util.h's Blob() has only 16 distinct values).
BlobHash Blob(const std::string& tag) { return ToHex(Blake2b256(tag)); }

// The index as the reactor has it after every turn was saved.
BlobJobIndex Index(const State& s) {
  BlobJobIndex index;
  index.AddAll(s);
  return index;
}

const ClientId kTeam = "team-a";
const ClientId kOther = "team-b";
const NodeId kAgent = "agent-1";

// Team A uploaded its data and ran one granted train job (held, one round, one task on kAgent).
State OneGrantedJob() {
  State s;
  s.blob_uploaders[Blob("data")] = {kTeam};
  Job& j = s.jobs["job-a"];
  j.id = "job-a";
  j.owner = kTeam;
  j.spec.kind = JobKind::kTrain;
  j.spec.data_blobs = {Blob("data")};
  j.spec.initial_params_blob = Blob("init");
  j.outputs = {Blob("final")};
  j.escrow_held = true;
  s.rounds[{"job-a", 0}] = Round{"job-a", 0, RoundState::kDone, Blob("init"), Blob("round0")};
  Task& t = s.tasks["job-a/r0/w0"];
  t.id = "job-a/r0/w0";
  t.job = "job-a";
  t.state = TaskState::kAssigned;
  t.node = kAgent;
  t.input_params_blob = Blob("init");
  t.output_blob = Blob("delta");
  s.nodes[kAgent].info.id = kAgent;
  s.nodes[kAgent].tasks = {t.id};
  return s;
}

TEST(BlobAccess, UploaderUsesAndReadsWhatItSent) {
  State s;
  s.blob_uploaders[Blob("data")] = {kTeam};
  EXPECT_TRUE(MayUseBlob(s, Index(s), kTeam, Blob("data")));
  EXPECT_TRUE(MayReadBlob(s, Index(s), {}, kTeam, Blob("data")));
  EXPECT_FALSE(MayUseBlob(s, Index(s), kOther, Blob("data")));
  EXPECT_FALSE(MayReadBlob(s, Index(s), {}, kOther, Blob("data")));
  EXPECT_FALSE(MayUseBlob(s, Index(s), kTeam, Blob("never-uploaded")));
  EXPECT_FALSE(MayUseBlob(s, Index(s), kTeam, ""));
  EXPECT_FALSE(MayUseBlob(s, Index(s), "", Blob("data")));
}

TEST(BlobAccess, OwnerOfAGrantedJobReadsAndReusesWhatItMade) {
  const State s = OneGrantedJob();
  for (const char* b : {"data", "init", "round0", "final", "delta"}) {
    EXPECT_TRUE(MayUseBlob(s, Index(s), kTeam, Blob(b))) << b;
    EXPECT_FALSE(MayReadBlob(s, Index(s), {}, kOther, Blob(b))) << b;
  }
}

TEST(BlobAccess, AssignedAgentReadsItsTaskInputsOnly) {
  State s = OneGrantedJob();
  EXPECT_TRUE(MayReadBlob(s, Index(s), {}, kAgent, Blob("data")));
  EXPECT_TRUE(MayReadBlob(s, Index(s), {}, kAgent, Blob("init")));
  EXPECT_FALSE(MayReadBlob(s, Index(s), {}, kAgent, Blob("final")));  // not an input
  EXPECT_FALSE(
      MayUseBlob(s, Index(s), kAgent, Blob("data")));  // reading a task's input is not owning it
  s.nodes[kAgent].tasks.clear();                       // the task went elsewhere
  EXPECT_FALSE(MayReadBlob(s, Index(s), {}, kAgent, Blob("data")));
}

TEST(BlobAccess, DerivedOutputsGoToTheirJobsOwner) {
  const State s = OneGrantedJob();
  const std::map<BlobHash, JobId> derived = {{Blob("joined"), "job-a"}};
  EXPECT_TRUE(MayReadBlob(s, Index(s), derived, kTeam, Blob("joined")));
  EXPECT_FALSE(MayReadBlob(s, Index(s), derived, kOther, Blob("joined")));
  EXPECT_FALSE(MayReadBlob(s, Index(s), {}, kTeam, Blob("joined")));
}

// F2: team B names team A's blobs in its own job; the hold is refused (no funds). Before, owning
// that failed job made every blob it named readable. Now the job grants nothing, and the same
// state with the hold granted shows the check is what decides.
TEST(BlobAccess, AJobWhoseHoldWasRefusedGrantsNothing) {
  State s = OneGrantedJob();
  Job& launder = s.jobs["job-b"];
  launder.id = "job-b";
  launder.owner = kOther;
  launder.state = JobState::kFailed;
  launder.spec.data_blobs = {Blob("data"), Blob("round0")};
  launder.spec.infer.checkpoint_blob = Blob("final");
  launder.escrow_held = false;
  for (const char* b : {"data", "round0", "final"}) {
    EXPECT_FALSE(MayReadBlob(s, Index(s), {}, kOther, Blob(b))) << b;
    EXPECT_FALSE(MayUseBlob(s, Index(s), kOther, Blob(b))) << b;
  }
  launder.escrow_held = true;
  EXPECT_TRUE(MayReadBlob(s, Index(s), {}, kOther, Blob("data")));
  const std::map<BlobHash, JobId> derived = {{Blob("joined"), "job-b"}};
  launder.escrow_held = false;
  EXPECT_FALSE(MayReadBlob(s, Index(s), derived, kOther, Blob("joined")));
}

// F14: a check looks up the asker's uses of the blob in the index instead of scanning every job.
// A granted job the index has not been told about grants nothing; once its saved rows are noted
// (what the reactor does after each turn) it does.
TEST(BlobAccess, AChecksCostIsTheIndexNotEveryJob) {
  const State s = OneGrantedJob();
  const BlobJobIndex empty;
  for (const char* b : {"init", "round0", "final", "delta"}) {
    EXPECT_FALSE(MayUseBlob(s, empty, kTeam, Blob(b))) << b;
  }
  EXPECT_TRUE(MayUseBlob(s, empty, kTeam, Blob("data")));  // the upload record is its own
  BlobJobIndex noted;
  Dirty d;
  d.jobs = {s.jobs.at("job-a")};
  d.rounds = {s.rounds.at({"job-a", 0})};
  d.tasks = {s.tasks.at("job-a/r0/w0")};
  noted.Note(s, d);
  for (const char* b : {"init", "round0", "final", "delta"}) {
    EXPECT_TRUE(MayUseBlob(s, noted, kTeam, Blob(b))) << b;
    EXPECT_FALSE(MayUseBlob(s, noted, kOther, Blob(b))) << b;
  }
  // Thousands of other teams' jobs add nothing to the asker's lookup.
  State many = s;
  for (int i = 0; i < 2000; ++i) {
    Job& j = many.jobs["job-x" + std::to_string(i)];
    j.id = "job-x" + std::to_string(i);
    j.owner = "team-x" + std::to_string(i);
    j.spec.data_blobs = {Blob("x" + std::to_string(i))};
    j.escrow_held = true;
  }
  const BlobJobIndex big = Index(many);
  EXPECT_EQ(big.UsesOf(Blob("delta"), kTeam).size(), 1u);
  EXPECT_TRUE(big.UsesOf(Blob("delta"), "team-x7").empty());
}

// The index only adds; the state decides. A task whose output was replaced (a new attempt) no
// longer grants the old output, though the index still lists it.
TEST(BlobAccess, AStaleIndexEntryGrantsNothing) {
  State s = OneGrantedJob();
  const BlobJobIndex index = Index(s);
  ASSERT_TRUE(MayUseBlob(s, index, kTeam, Blob("delta")));
  s.tasks.at("job-a/r0/w0").output_blob = Blob("delta-2");
  EXPECT_FALSE(MayUseBlob(s, index, kTeam, Blob("delta")));
  s.jobs.at("job-a").escrow_held = false;
  EXPECT_FALSE(MayUseBlob(s, index, kTeam, Blob("init")));
}

}  // namespace
}  // namespace plume::scheduler
