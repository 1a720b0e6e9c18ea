// The blob access rule (blob_access.h) on hand-built states: each way a key gains access, and
// the F2 laundering path (a job naming another team's blob, its hold refused) granting nothing.
#include "plume/scheduler/blob_access.h"

#include <gtest/gtest.h>

#include "plume/protocol/hash.h"

namespace plume::scheduler {
namespace {

// Distinct hashes per tag (core_test_util.h's Blob() has only 16 distinct values).
BlobHash Blob(const std::string& tag) { return ToHex(Blake2b256(tag)); }

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
  EXPECT_TRUE(MayUseBlob(s, kTeam, Blob("data")));
  EXPECT_TRUE(MayReadBlob(s, {}, kTeam, Blob("data")));
  EXPECT_FALSE(MayUseBlob(s, kOther, Blob("data")));
  EXPECT_FALSE(MayReadBlob(s, {}, kOther, Blob("data")));
  EXPECT_FALSE(MayUseBlob(s, kTeam, Blob("never-uploaded")));
  EXPECT_FALSE(MayUseBlob(s, kTeam, ""));
  EXPECT_FALSE(MayUseBlob(s, "", Blob("data")));
}

TEST(BlobAccess, OwnerOfAGrantedJobReadsAndReusesWhatItMade) {
  const State s = OneGrantedJob();
  for (const char* b : {"data", "init", "round0", "final", "delta"}) {
    EXPECT_TRUE(MayUseBlob(s, kTeam, Blob(b))) << b;
    EXPECT_FALSE(MayReadBlob(s, {}, kOther, Blob(b))) << b;
  }
}

TEST(BlobAccess, AssignedAgentReadsItsTaskInputsOnly) {
  State s = OneGrantedJob();
  EXPECT_TRUE(MayReadBlob(s, {}, kAgent, Blob("data")));
  EXPECT_TRUE(MayReadBlob(s, {}, kAgent, Blob("init")));
  EXPECT_FALSE(MayReadBlob(s, {}, kAgent, Blob("final")));  // not an input
  EXPECT_FALSE(MayUseBlob(s, kAgent, Blob("data")));        // reading a task's input is not owning it
  s.nodes[kAgent].tasks.clear();                            // the task went elsewhere
  EXPECT_FALSE(MayReadBlob(s, {}, kAgent, Blob("data")));
}

TEST(BlobAccess, DerivedOutputsGoToTheirJobsOwner) {
  const State s = OneGrantedJob();
  const std::map<BlobHash, JobId> derived = {{Blob("joined"), "job-a"}};
  EXPECT_TRUE(MayReadBlob(s, derived, kTeam, Blob("joined")));
  EXPECT_FALSE(MayReadBlob(s, derived, kOther, Blob("joined")));
  EXPECT_FALSE(MayReadBlob(s, {}, kTeam, Blob("joined")));
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
    EXPECT_FALSE(MayReadBlob(s, {}, kOther, Blob(b))) << b;
    EXPECT_FALSE(MayUseBlob(s, kOther, Blob(b))) << b;
  }
  launder.escrow_held = true;
  EXPECT_TRUE(MayReadBlob(s, {}, kOther, Blob("data")));
  const std::map<BlobHash, JobId> derived = {{Blob("joined"), "job-b"}};
  launder.escrow_held = false;
  EXPECT_FALSE(MayReadBlob(s, derived, kOther, Blob("joined")));
}

}  // namespace
}  // namespace plume::scheduler
