// Commitments and disputes: what a receipt commits to while a task runs, and how a referee finds
// out who is wrong by recomputing one segment of a task instead of all of it.
//
// Training: after every CommitmentInterval(H) inner steps (and after the last) the agent hashes the
// full training state (parameters and both AdamW moments, all that a run needs to resume
// bit-exactly) and extends a hash chain with ChainLink (audit.h); the chain, at most 32 links, goes
// into the signed receipt. Two runs of one task in one kernel class must give the same chain link
// for link. When they differ, FirstDifferingLink names link i; both runs agreed on link i-1, so the
// state behind it is agreed too (anyone can check a state against a link). The referee replays
// steps [i*k, min((i+1)*k, H)) from that state with kernels::TrainSegment, the very code path the
// providers ran, and compares the link it gets with both chains': the run it matches is honest, the
// other is proven faulty. An honest run is never accused: its link is what the replay computes, bit
// for bit (docs/determinism.md).
//
// Inference: one hash per completion (CompletionHash). When two runs of a shard differ, the
// entries where their lists differ name the prompts a referee regenerates (PlanInferDispute):
// each completion depends only on the job, its prompt and its global index, never on the batch
// or the shard it ran in (per-prompt seeds, kernels/runner.h), so regenerating a few prompts
// alone gives their completions bit for bit. JudgeCompletions compares the referee's hashes
// with both lists.
//
// Pure apart from RecomputeSegment, which runs the kernels on the given Ops. No I/O, no clock.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "plume/kernels/config.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/ops.h"
#include "plume/kernels/runner.h"
#include "plume/verify/audit.h"

namespace plume::verify {

inline constexpr const char* kDisputePolicy = "dispute/1";

// BLAKE2b-256 over a domain tag and the float bytes of params, m and v in that order (IEEE 754,
// little-endian: every platform the kernels build for). Equal iff the states are bit-identical (up
// to hash collisions); -0.0 and 0.0, or two NaN payloads, hash differently, as they should.
Digest StateHash(const kernels::TrainState& state);

// The state a task starts from: the round's parameters and zero moments. Link 0's segment is
// replayed from this, which the referee builds from the round's input blob itself.
kernels::TrainState StartState(std::span<const float> params);

// Links in an honest chain of a task of `inner_steps` steps: ceil(H / CommitmentInterval(H)).
int64_t CommitmentLinks(int64_t inner_steps);

// The steps [begin, end) whose result link `link` commits to.
struct Segment {
  int64_t begin = 0, end = 0;
  int64_t steps() const { return end - begin; }
  bool operator==(const Segment&) const = default;
};
Segment LinkSegment(int64_t inner_steps, size_t link);

// Builds a chain while a task trains: pass Hook() to kernels::TrainShard. `keep`, when set, is
// given each committed state with its link index (the agent stores them for disputes); an error
// from it stops the training. Not thread-safe; lives as long as the training call.
class ChainRecorder {
 public:
  using KeepFn = std::function<kernels::Status(size_t link, const kernels::TrainState& state)>;
  explicit ChainRecorder(int64_t inner_steps, KeepFn keep = {});
  kernels::CommitHook Hook();
  const std::vector<Digest>& links() const { return links_; }

 private:
  kernels::Status OnCommit(int64_t step, const kernels::TrainState& state);

  int64_t inner_steps_;
  KeepFn keep_;
  std::vector<Digest> links_;
};

// Whether `state` is the state behind link `link` of `chain` (link 0 of a chain is built on the
// zero digest). A referee checks the state it is offered for the start of a segment this way before
// it replays anything, so a provider cannot steer a dispute with a made-up state.
bool StateMatchesLink(std::span<const Digest> chain, size_t link, const kernels::TrainState& state);

enum class DisputeVerdict : uint8_t {
  kNoDispute,   // the chains are equal: nothing to decide
  kAFaulty,     // the replay matches b (or a's chain is malformed): a is proven
                // faulty
  kBFaulty,     // the replay matches a (or b's chain is malformed): b is proven
                // faulty
  kBothFaulty,  // the replay matches neither (or both chains are malformed)
};
const char* Name(DisputeVerdict v);

// Where a dispute between chains a and b of a task of `inner_steps` steps must be decided. A chain
// of the wrong length is malformed by its own signature: that settles it with no recomputation.
// Otherwise the referee replays `segment`, the one ending at `link`, from the state behind link - 1
// (StartState of the round for link 0).
struct DisputePlan {
  std::optional<DisputeVerdict> settled;  // set: decided without recomputing anything
  size_t link = 0;
  Segment segment;
};
DisputePlan PlanDispute(int64_t inner_steps, std::span<const Digest> a, std::span<const Digest> b);

// The verdict from the link the referee recomputed and the two chains' links at that index.
DisputeVerdict Judge(const Digest& recomputed, const Digest& a_link, const Digest& b_link);

struct DisputeTask {
  kernels::ModelConfig model;
  kernels::TrainConfig train;      // as the agent ran it; train.steps = H
  std::span<const int32_t> shard;  // the worker's training tokens
};

struct DisputeReport {
  DisputeVerdict verdict = DisputeVerdict::kNoDispute;
  size_t link = 0;
  Segment segment;  // what was replayed (empty when settled without replay)
  Digest recomputed_link{};
  double recomputed_fraction = 0;  // segment steps / H: the share of the task the referee ran
};

// The referee: plans the dispute, checks `start` against the agreed link before the segment,
// replays the segment on `ops` and judges. An error (never a verdict) when `start` is not the
// agreed state or the kernels fail: the referee then asks for the state again or elsewhere.
kernels::Result<DisputeReport> RecomputeSegment(const DisputeTask& task, std::span<const Digest> a,
                                                std::span<const Digest> b,
                                                const kernels::TrainState& start,
                                                kernels::Ops& ops);

// ---- inference --------------------------------------------------------------------------------

// BLAKE2b-256 of a domain tag, the global prompt index (u64, little-endian) and the completion's
// text exactly as the output JSONL carries it (the byte tokenizer's tokens, with invalid UTF-8
// replaced as the JSON writer does), so the list checks against the result blob as well as
// against a regeneration. An inference receipt commits to one of these per prompt, in order.
Digest CompletionHash(int64_t index, std::string_view completion);

// Where a dispute between the completion lists a and b of a shard of `prompts` prompts must be
// decided. A list of the wrong length is malformed by its own signature (an honest agent sends
// one hash per prompt, or none for a shard too large to commit to): that settles it with no
// recomputation. Equal lists (the outputs differ elsewhere, or no lists): kNoDispute, and the
// caller falls back to a full re-run. Otherwise `prompts` lists the positions in the shard
// (0-based, ascending) whose hashes differ: the referee regenerates those and no others.
struct InferDisputePlan {
  std::optional<DisputeVerdict> settled;
  std::vector<uint32_t> prompts;
  double fraction = 0;  // prompts.size() / the shard's prompts: the share a referee recomputes
};
InferDisputePlan PlanInferDispute(size_t prompts, std::span<const Digest> a,
                                  std::span<const Digest> b);

// The verdict from the referee's hashes of the planned prompts (recomputed[j] for position
// prompts[j]) and the two lists. Every recomputed hash equal to a's: b is faulty; every one equal
// to b's: a is; anything else (a hash matching neither, a mix, a count that is not the plan's,
// a position outside the lists) is kBothFaulty, which convicts nobody on its own.
DisputeVerdict JudgeCompletions(std::span<const uint32_t> prompts,
                                std::span<const Digest> recomputed, std::span<const Digest> a,
                                std::span<const Digest> b);

}  // namespace plume::verify
