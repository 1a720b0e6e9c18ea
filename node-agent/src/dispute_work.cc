// Export and segment-replay work of a dispute (dispute_work.h).
#include "dispute_work.h"

#include "plume/protocol/message.h"
#include "plume/verify/dispute.h"
#include "plume/verify/state_codec.h"

namespace plume::agent {
namespace {

Result<TaskOutput> RunSegment(const SegmentTask& t, const DeviceChoice& device) {
  auto ops = MakeOps(device);
  if (!ops) return tl::unexpected(ops.error());
  auto prepared = PrepareTrain(t.train);
  if (!prepared) return tl::unexpected(prepared.error());
  struct Wiper {
    const TrainTask& t;
    std::vector<int32_t>& tokens;
    ~Wiper() { WipeTokens(t, tokens); }
  } wiper{t.train, prepared->tokens};
  kernels::TrainState start;
  if (t.link == 0) {
    start = verify::StartState(prepared->start);
  } else {
    auto decoded = verify::DecodeState(t.start_state, prepared->start.size());
    if (!decoded) return Fail("the exported start state: " + decoded.error().message);
    start = std::move(*decoded);
  }
  const verify::DisputeTask task{t.train.model, prepared->cfg, prepared->shard()};
  auto report = verify::RecomputeSegment(task, t.chain_a, t.chain_b, start, **ops);
  if (!report) return Fail(report.error().message);
  // The scheduler planned the same dispute from the same chains; anything else is not this task.
  if (report->link != t.link || report->segment.steps() == 0) {
    return Fail("the chains part at link " + std::to_string(report->link) + " (" +
                verify::Name(report->verdict) + "), not at link " + std::to_string(t.link));
  }
  TaskOutput out;
  out.result.assign(report->recomputed_link.begin(), report->recomputed_link.end());
  out.commitments = {report->recomputed_link};
  out.steps_done = report->segment.steps();
  return out;
}

}  // namespace

WorkFn MakeExportWork(std::shared_ptr<DisputeStates> states, std::string key, uint32_t link) {
  return [states = std::move(states), key = std::move(key), link](
             const ProgressFn&, const std::atomic<bool>&) -> Result<TaskOutput> {
    auto bytes = states->GetBytes(key, link);
    if (!bytes) {
      return Fail("no state kept for link " + std::to_string(link) + " of " + key + ": " +
                  bytes.error().message);
    }
    TaskOutput out;
    out.result = std::move(*bytes);
    return out;
  };
}

Result<SegmentTask> SegmentOf(wire::SegmentReplay::Reader seg, TrainTask train,
                              std::vector<uint8_t> start_state) {
  auto shape = SegmentShape(seg);
  if (!shape) return shape;
  return SegmentWithInputs(std::move(*shape), std::move(train), std::move(start_state));
}

Result<SegmentTask> SegmentShape(wire::SegmentReplay::Reader seg) {
  SegmentTask t;
  t.link = seg.getLink();
  for (auto [list, out] : {std::pair{seg.getChainA(), &t.chain_a},
                           std::pair{seg.getChainB(), &t.chain_b}}) {
    if (list.size() > static_cast<unsigned>(verify::kMaxCommitmentLinks)) {
      return Fail("segment replay: a chain of " + std::to_string(list.size()) + " links");
    }
    for (auto link : list) {
      auto h = HashFromData(link);
      if (!h) return Fail("segment replay: a chain link is not 32 bytes");
      out->push_back(*h);
    }
  }
  return t;
}

Result<SegmentTask> SegmentWithInputs(SegmentTask shape, TrainTask train,
                                      std::vector<uint8_t> start_state) {
  if (shape.link > 0 && start_state.empty()) {
    return Fail("segment replay of link " + std::to_string(shape.link) + " without a start state");
  }
  shape.train = std::move(train);
  if (shape.link > 0) shape.start_state = std::move(start_state);
  return shape;
}

WorkFn MakeSegmentWork(SegmentTask task, DeviceChoice device) {
  auto shared = std::make_shared<SegmentTask>(std::move(task));
  return [shared, device](const ProgressFn&, const std::atomic<bool>& stop) {
    return RunOnPlaintext(shared->train, stop, [&] { return RunSegment(*shared, device); });
  };
}

uint64_t SegmentFlops(uint64_t task_flops, int64_t inner_steps, uint32_t link) {
  if (inner_steps <= 0) return 0;
  const verify::Segment seg = verify::LinkSegment(inner_steps, link);
  return static_cast<uint64_t>(static_cast<unsigned __int128>(task_flops) *
                               static_cast<uint64_t>(seg.steps()) /
                               static_cast<uint64_t>(inner_steps));
}

}  // namespace plume::agent
