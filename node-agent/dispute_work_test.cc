// The agent's dispute work (dispute_work.h) on the real kernels: a worker trains a task and
// keeps its states; a cheater's chain parts from the honest one at link k; the export hands over
// the kept state behind link k-1 byte for byte, and the referee's segment replay from it
// recomputes the honest link k, which convicts the cheater whichever side it was on. A made-up
// start state, or chains that part elsewhere, fail the replay instead of deciding anything.
#include <gtest/gtest.h>
#include <unistd.h>

#include <capnp/message.h>

#include <filesystem>

#include "dispute_states.h"
#include "dispute_work.h"
#include "plume/verify/dispute.h"
#include "plume/verify/state_codec.h"
#include "testing/determinism_tasks.h"

namespace plume::agent {
namespace {

const DeviceChoice kCpu{.cuda_device = -1, .cuda_devices = {}, .threads = 2};

Result<TaskOutput> Work(const WorkFn& work) {
  std::atomic<bool> stop{false};
  return work([](int64_t, int64_t, double) {}, stop);
}

struct Disputed {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("plume-dispute-work-" + std::to_string(::getpid()));
  std::shared_ptr<DisputeStates> states = std::make_shared<DisputeStates>(dir);
  TrainTask task = testing::DeterminismTrainTask(5);
  std::vector<Hash256> honest, cheat;

  explicit Disputed(size_t part_at) {
    std::filesystem::remove_all(dir);
    TrainTask t = task;
    t.states = states;
    t.state_key = "7-1";
    auto out = Work(MakeTrainWork(t, kCpu));
    EXPECT_TRUE(out) << out.error().message;
    honest = out->commitments;
    cheat = honest;
    for (size_t i = part_at; i < cheat.size(); ++i) cheat[i][0] ^= 0x5a;
  }
  ~Disputed() { std::filesystem::remove_all(dir); }
  SegmentTask Segment(uint32_t link, std::vector<uint8_t> start) const {
    return SegmentTask{task, link, std::move(start), cheat, honest};
  }
};

TEST(DisputeWork, TheExportedStateLetsTheRefereeRecomputeTheHonestLink) {
  Disputed d(2);
  ASSERT_GE(d.honest.size(), 3u);
  auto exported = Work(MakeExportWork(d.states, "7-1", 1));
  ASSERT_TRUE(exported) << exported.error().message;
  auto state = verify::DecodeState(exported->result);
  ASSERT_TRUE(state);
  EXPECT_TRUE(verify::StateMatchesLink(d.honest, 1, *state));
  EXPECT_TRUE(exported->commitments.empty());
  auto replay = Work(MakeSegmentWork(d.Segment(2, exported->result), kCpu));
  ASSERT_TRUE(replay) << replay.error().message;
  ASSERT_EQ(replay->commitments.size(), 1u);
  EXPECT_EQ(replay->commitments[0], d.honest[2]);
  EXPECT_EQ(replay->result, std::vector<uint8_t>(d.honest[2].begin(), d.honest[2].end()));
  EXPECT_EQ(verify::Judge(replay->commitments[0], d.cheat[2], d.honest[2]),
            verify::DisputeVerdict::kAFaulty);
  EXPECT_EQ(replay->steps_done, verify::LinkSegment(d.task.local_steps, 2).steps());
}

TEST(DisputeWork, LinkZeroIsReplayedFromTheRoundsParameters) {
  Disputed d(0);
  auto replay = Work(MakeSegmentWork(d.Segment(0, {}), kCpu));
  ASSERT_TRUE(replay) << replay.error().message;
  EXPECT_EQ(replay->commitments.at(0), d.honest[0]);
}

TEST(DisputeWork, AMadeUpStateOrAnotherLinkFailsTheReplay) {
  Disputed d(2);
  auto exported = Work(MakeExportWork(d.states, "7-1", 1));
  ASSERT_TRUE(exported);
  auto state = *verify::DecodeState(exported->result);
  state.params[0] += 1e-3f;  // the cheater's try to steer the replay
  auto forged = *verify::EncodeState(state);
  EXPECT_FALSE(Work(MakeSegmentWork(d.Segment(2, forged), kCpu)));
  EXPECT_FALSE(Work(MakeSegmentWork(d.Segment(2, {1, 2, 3}), kCpu)));        // not a state
  EXPECT_FALSE(Work(MakeSegmentWork(d.Segment(1, exported->result), kCpu)));  // chains agree there
  EXPECT_FALSE(Work(MakeExportWork(d.states, "7-1", 30)));                     // never kept
  EXPECT_FALSE(Work(MakeExportWork(d.states, "../7-1", 1)));
}

// A hostile scheduler's segment: an over-long chain, a link of the wrong size, a later link with
// no start state are refused before any work; a well-formed one is taken as sent.
TEST(DisputeWork, ASegmentAssignmentIsBoundedBeforeAnythingRuns) {
  auto make = [](unsigned links, unsigned bytes, uint32_t link) {
    capnp::MallocMessageBuilder m;
    auto seg = m.initRoot<wire::SegmentReplay>();
    seg.setLink(link);
    auto a = seg.initChainA(links);
    std::vector<uint8_t> digest(bytes, 7);
    for (unsigned i = 0; i < links; ++i) a.set(i, capnp::Data::Reader(digest.data(), bytes));
    return SegmentOf(seg.asReader(), TrainTask{}, std::vector<uint8_t>(link > 0 ? 1 : 0, 1));
  };
  EXPECT_TRUE(make(32, 32, 0));
  EXPECT_EQ(make(32, 32, 0)->chain_a.size(), 32u);
  EXPECT_FALSE(make(33, 32, 0));
  EXPECT_FALSE(make(4, 31, 0));
  capnp::MallocMessageBuilder m;
  auto seg = m.initRoot<wire::SegmentReplay>();
  seg.setLink(3);
  EXPECT_FALSE(SegmentOf(seg.asReader(), TrainTask{}, {}));
}

TEST(DisputeWork, ASegmentIsBilledItsShareOfTheTask) {
  EXPECT_EQ(SegmentFlops(1000, 10, 3), 100u);
  EXPECT_EQ(SegmentFlops(1000, 100, 24), 40u);  // k = 4: the last of 25 links, steps 96..99
  EXPECT_EQ(SegmentFlops(1000, 100, 25), 0u);   // no such link
  EXPECT_EQ(SegmentFlops(1000, 0, 0), 0u);
}

}  // namespace
}  // namespace plume::agent
