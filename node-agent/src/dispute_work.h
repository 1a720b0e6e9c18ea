// The two kinds of dispute work an agent can be given (docs/verification.md, "Commitments and
// disputes"); both end as ordinary results through the spool, receipt and upload path.
//
// Export: the agent ran the disputed task and kept the state behind each commitment link
// (dispute_states.h); it sends the one asked for, bytes as kept (verify/state_codec.h).
// Segment replay: the agent is the dispute's referee. It prepares the train task exactly as a
// worker would (task_work.h PrepareTrain), takes the start state (the round's parameters with
// zero moments for link 0, else the exported state, which verify::RecomputeSegment checks
// against chain A before anything runs), replays that one segment on the same kernels and
// returns the link it computed: as the only commitment and as the 32-byte result blob.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dispute_states.h"
#include "plume/protocol/hash.h"
#include "task_work.h"

namespace plume::agent {

WorkFn MakeExportWork(std::shared_ptr<DisputeStates> states, std::string key, uint32_t link);

struct SegmentTask {
  TrainTask train;  // as the disputed task ran (states not kept: a replay keeps nothing)
  uint32_t link = 0;
  std::vector<uint8_t> start_state;  // empty for link 0
  std::vector<Hash256> chain_a, chain_b;
};
// The replay an assignment asks for (TaskAssign.segment with its train params as `train`, the
// start state's bytes as fetched, empty for link 0). The chains are the scheduler's word:
// bounded and shaped here before the worker thread sees them.
Result<SegmentTask> SegmentOf(wire::SegmentReplay::Reader seg, TrainTask train,
                              std::vector<uint8_t> start_state);
// SegmentOf in its two halves: the assignment's link and chains (no blob needed, so the agent's
// loop checks them), then the train part and start state once read (on the task's thread).
Result<SegmentTask> SegmentShape(wire::SegmentReplay::Reader seg);
Result<SegmentTask> SegmentWithInputs(SegmentTask shape, TrainTask train,
                                      std::vector<uint8_t> start_state);
WorkFn MakeSegmentWork(SegmentTask task, DeviceChoice device);

// The FLOPs a segment replay of link `link` is billed: the task's, times the segment's share of
// its H steps, rounded down (the scheduler's rule, core_dispute.cc AddSegmentReferee).
uint64_t SegmentFlops(uint64_t task_flops, int64_t inner_steps, uint32_t link);

}  // namespace plume::agent
