// Commitment chains of training state, and the referee that decides a dispute by replaying one
// segment (dispute.h).
#include "plume/verify/dispute.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "plume/protocol/hash.h"

namespace plume::verify {
namespace {

// The hashes take the floats' bytes as they lie in memory; on a big-endian host the same state
// would hash differently, so such a build must not pretend to share a kernel class.
static_assert(std::endian::native == std::endian::little,
              "commitments hash little-endian float bytes");

constexpr std::string_view kStateTag = "plume/state/1";
constexpr std::string_view kCompletionTag = "plume/completion/1";

std::span<const uint8_t> Bytes(const std::vector<float>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float)};
}

}  // namespace

Digest StateHash(const kernels::TrainState& state) {
  Hasher h;
  h.Update(kStateTag);
  // The lengths go in too, so that moving floats from one vector to the next changes the hash.
  for (const auto* part : {&state.params, &state.m, &state.v}) {
    const uint64_t n = part->size();
    h.Update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&n), sizeof(n)));
    h.Update(Bytes(*part));
  }
  return h.Final();
}

kernels::TrainState StartState(std::span<const float> params) {
  kernels::TrainState s;
  s.params.assign(params.begin(), params.end());
  s.m.assign(params.size(), 0.0f);
  s.v.assign(params.size(), 0.0f);
  return s;
}

int64_t CommitmentLinks(int64_t inner_steps) {
  if (inner_steps <= 0) return 0;
  const int64_t k = CommitmentInterval(inner_steps);
  return (inner_steps + k - 1) / k;
}

Segment LinkSegment(int64_t inner_steps, size_t link) {
  const int64_t k = CommitmentInterval(inner_steps);
  const int64_t begin = std::min(inner_steps, static_cast<int64_t>(link) * k);
  return {begin, std::min(inner_steps, begin + k)};
}

ChainRecorder::ChainRecorder(int64_t inner_steps, KeepFn keep)
    : inner_steps_(inner_steps), keep_(std::move(keep)) {}

kernels::CommitHook ChainRecorder::Hook() {
  return {CommitmentInterval(inner_steps_),
          [this](int64_t step, const kernels::TrainState& state) { return OnCommit(step, state); }};
}

kernels::Status ChainRecorder::OnCommit(int64_t step, const kernels::TrainState& state) {
  const size_t link = links_.size();
  // The kernels call at every multiple of the interval and at the last step, in order; a link at
  // another step would make a chain no referee can line up with its segments.
  if (LinkSegment(inner_steps_, link).end != step) {
    return kernels::Fail("commitment at step " + std::to_string(step) + " is not the end of link " +
                         std::to_string(link) + "'s segment; was the hook given another task?");
  }
  links_.push_back(ChainLink(link == 0 ? Digest{} : links_.back(), StateHash(state)));
  if (keep_) return keep_(link, state);
  return {};
}

bool StateMatchesLink(std::span<const Digest> chain, size_t link,
                      const kernels::TrainState& state) {
  if (link >= chain.size()) return false;
  const Digest previous = link == 0 ? Digest{} : chain[link - 1];
  return ChainLink(previous, StateHash(state)) == chain[link];
}

const char* Name(DisputeVerdict v) {
  switch (v) {
    case DisputeVerdict::kNoDispute:
      return "no_dispute";
    case DisputeVerdict::kAFaulty:
      return "a_faulty";
    case DisputeVerdict::kBFaulty:
      return "b_faulty";
    case DisputeVerdict::kBothFaulty:
      return "both_faulty";
  }
  return "unknown";
}

DisputePlan PlanDispute(int64_t inner_steps, std::span<const Digest> a, std::span<const Digest> b) {
  DisputePlan plan;
  const size_t want = static_cast<size_t>(CommitmentLinks(inner_steps));
  const bool a_ok = a.size() == want, b_ok = b.size() == want;
  if (!a_ok || !b_ok) {
    plan.settled = !a_ok && !b_ok ? DisputeVerdict::kBothFaulty
                   : !a_ok        ? DisputeVerdict::kAFaulty
                                  : DisputeVerdict::kBFaulty;
    return plan;
  }
  const auto link = FirstDifferingLink(a, b);
  if (!link) {
    plan.settled = DisputeVerdict::kNoDispute;
    return plan;
  }
  plan.link = *link;
  plan.segment = LinkSegment(inner_steps, *link);
  return plan;
}

DisputeVerdict Judge(const Digest& recomputed, const Digest& a_link, const Digest& b_link) {
  const bool a = recomputed == a_link, b = recomputed == b_link;
  if (a && b) return DisputeVerdict::kNoDispute;
  if (a) return DisputeVerdict::kBFaulty;
  if (b) return DisputeVerdict::kAFaulty;
  return DisputeVerdict::kBothFaulty;
}

kernels::Result<DisputeReport> RecomputeSegment(const DisputeTask& task, std::span<const Digest> a,
                                                std::span<const Digest> b,
                                                const kernels::TrainState& start,
                                                kernels::Ops& ops) {
  const int64_t H = task.train.steps;
  const DisputePlan plan = PlanDispute(H, a, b);
  DisputeReport report;
  report.link = plan.link;
  if (plan.settled) {
    report.verdict = *plan.settled;
    return report;
  }
  // Both chains agree before `link`, so the state behind link - 1 is agreed; for link 0 it is the
  // round's start, which the caller builds from the input blob (zero moments).
  if (plan.link > 0 && !StateMatchesLink(a, plan.link - 1, start)) {
    return kernels::Fail("the state offered for the start of segment " + std::to_string(plan.link) +
                         " is not the one both chains commit to");
  }
  if (plan.link == 0 &&
      (std::any_of(start.m.begin(), start.m.end(), [](float x) { return x != 0; }) ||
       std::any_of(start.v.begin(), start.v.end(), [](float x) { return x != 0; }))) {
    return kernels::Fail("segment 0 starts from the round's parameters with zero moments");
  }
  auto end = kernels::TrainSegment(task.model, task.train, start, plan.segment.begin,
                                   plan.segment.end, task.shard, ops);
  if (!end) return tl::unexpected(end.error());
  const Digest previous = plan.link == 0 ? Digest{} : a[plan.link - 1];
  report.segment = plan.segment;
  report.recomputed_link = ChainLink(previous, StateHash(*end));
  report.verdict = Judge(report.recomputed_link, a[plan.link], b[plan.link]);
  report.recomputed_fraction = static_cast<double>(plan.segment.steps()) / static_cast<double>(H);
  return report;
}

Digest CompletionHash(int64_t index, std::string_view completion) {
  Hasher h;
  h.Update(kCompletionTag);
  const uint64_t i = static_cast<uint64_t>(index);
  h.Update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&i), sizeof(i)));
  h.Update(completion);
  return h.Final();
}

InferDisputePlan PlanInferDispute(size_t prompts, std::span<const Digest> a,
                                  std::span<const Digest> b) {
  InferDisputePlan plan;
  const bool a_ok = a.size() == prompts, b_ok = b.size() == prompts;
  if (!a_ok || !b_ok) {
    plan.settled = !a_ok && !b_ok ? DisputeVerdict::kBothFaulty
                   : !a_ok        ? DisputeVerdict::kAFaulty
                                  : DisputeVerdict::kBFaulty;
    return plan;
  }
  for (size_t i = 0; i < prompts; ++i) {
    if (a[i] != b[i]) plan.prompts.push_back(static_cast<uint32_t>(i));
  }
  if (plan.prompts.empty()) {
    plan.settled = DisputeVerdict::kNoDispute;
    return plan;
  }
  plan.fraction = static_cast<double>(plan.prompts.size()) / static_cast<double>(prompts);
  return plan;
}

DisputeVerdict JudgeCompletions(std::span<const uint32_t> prompts,
                                std::span<const Digest> recomputed, std::span<const Digest> a,
                                std::span<const Digest> b) {
  if (prompts.empty() || recomputed.size() != prompts.size()) return DisputeVerdict::kBothFaulty;
  bool all_a = true, all_b = true;
  for (size_t j = 0; j < prompts.size(); ++j) {
    const size_t i = prompts[j];
    if (i >= a.size() || i >= b.size()) return DisputeVerdict::kBothFaulty;
    all_a = all_a && recomputed[j] == a[i];
    all_b = all_b && recomputed[j] == b[i];
  }
  // Both only when the lists agree at every planned position: nothing was disputed there.
  if (all_a && all_b) return DisputeVerdict::kNoDispute;
  if (all_a) return DisputeVerdict::kBFaulty;
  if (all_b) return DisputeVerdict::kAFaulty;
  return DisputeVerdict::kBothFaulty;
}

}  // namespace plume::verify
