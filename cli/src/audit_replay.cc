// `plume audit`'s strong check of a training job: every round checkpoint and worker delta is
// fetched and hashed, and each round's output is recomputed from its input and deltas with
// the scheduler's own outer step (plume/scheduler/outer_step.h), carrying the momentum from
// round to round as the scheduler does (zero before round 0). The recomputed checkpoint must
// hash to the round's recorded output; same build, same bits.
#include <set>

#include "audit_provenance.h"
#include "plume/kernels/checkpoint.h"
#include "plume/scheduler/outer_step.h"

namespace plume::cli {
namespace {

std::string Short(const Hash256& h) { return ToHex(h).substr(0, 16) + ".."; }

// Fetches and hashes blobs, remembering the last checkpoint (round r's output is round r+1's
// input) so each is fetched once.
class Loader {
 public:
  explicit Loader(const BlobSource& source) : source_(source) {}

  // The checkpoint's config and parameters; the error names what failed (fetch, hash, parse).
  Result<kernels::Checkpoint> Load(const Hash256& hash, const kernels::LoadOptions& opts = {}) {
    if (cached_hash_ != hash) {
      auto bytes = source_(hash);
      if (!bytes) return Fail("cannot fetch it: " + bytes.error().message);
      if (Blake2b256(*bytes) != hash) {
        return Fail("the fetched bytes hash to " + Short(Blake2b256(*bytes)) +
                    ", not to its id (tampered or corrupted)");
      }
      cached_bytes_ = std::move(*bytes);
      cached_hash_ = hash;
    }
    auto ck = kernels::LoadCheckpointBytes(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(cached_bytes_.data()),
                                 cached_bytes_.size()),
        opts);
    if (!ck) return Fail("not a checkpoint: " + ck.error().message);
    return std::move(*ck);
  }

 private:
  const BlobSource& source_;
  std::optional<Hash256> cached_hash_;
  std::string cached_bytes_;
};

}  // namespace

ReplayResult CheckReplay(const JobRecord& job, const BlobSource& blobs) {
  ReplayResult out{{"checkpoints", CheckStatus::kOk, "", {}}, {"replay", CheckStatus::kOk, "", {}}};
  if (!job.train) {
    out.checkpoints = {
        "checkpoints", CheckStatus::kNotApplicable, "an infer job has no rounds", {}};
    out.replay = {"replay", CheckStatus::kNotApplicable, "an infer job has no outer step", {}};
    return out;
  }
  Loader loader(blobs);
  std::vector<float> momentum;  // m_{r-1}; empty before round 0
  size_t replayed = 0;
  std::set<Hash256> blobs_checked;  // each distinct blob fetched and hashed
  for (const RoundFacts& r : job.rounds) {
    const std::string at = "round " + std::to_string(r.round);
    auto theta = loader.Load(r.params_in);
    if (!theta) {
      out.checkpoints.problems.push_back(at + ": its input checkpoint " + Short(r.params_in) +
                                         ": " + theta.error().message);
      break;
    }
    blobs_checked.insert(r.params_in);
    const kernels::LoadOptions same_model{theta->config, 0};
    scheduler::OuterStep step(theta->params.size());
    bool loaded = true;
    for (size_t w = 0; w < r.deltas.size() && loaded; ++w) {
      auto delta = loader.Load(r.deltas[w], same_model);
      if (!delta) {
        out.checkpoints.problems.push_back(at + ": delta " + std::to_string(w) + " (" +
                                           Short(r.deltas[w]) + "): " + delta.error().message);
        loaded = false;
        break;
      }
      blobs_checked.insert(r.deltas[w]);
      auto st = step.AddDelta(delta->params, w < r.weights.size() ? r.weights[w] : 0);
      if (!st) {
        out.replay.problems.push_back(at + ": " + st.error().message);
        loaded = false;
      }
    }
    auto next = loaded ? step.Finish(theta->params, momentum, r.outer_lr, r.outer_momentum)
                       : Result<scheduler::OuterStepResult>(Fail("its deltas did not load"));
    if (!next) {
      out.replay.problems.push_back(at + ": not replayed: " + next.error().message);
      break;  // the momentum of later rounds depends on this one
    }
    auto bytes = kernels::SaveCheckpointBytes(theta->config, next->params);
    if (!bytes) {
      out.replay.problems.push_back(at + ": not replayed: " + bytes.error().message);
      break;
    }
    const Hash256 replayed_hash = Blake2b256(std::span<const uint8_t>(*bytes));
    if (replayed_hash != r.params_out) {
      out.replay.problems.push_back(
          at + ": the outer step over its " + std::to_string(r.deltas.size()) + " delta(s) gives " +
          Short(replayed_hash) + ", the scheduler recorded " + Short(r.params_out));
    }
    momentum = std::move(next->momentum);
    ++replayed;
    auto stored = loader.Load(r.params_out);  // the recorded output, as stored, hashes to its id
    if (!stored) {
      out.checkpoints.problems.push_back(at + ": its output checkpoint " + Short(r.params_out) +
                                         ": " + stored.error().message);
    } else {
      blobs_checked.insert(r.params_out);
    }
  }
  if (replayed < job.rounds.size() && out.replay.problems.empty()) {
    out.replay.problems.push_back("round " + std::to_string(job.rounds[replayed].round) +
                                  ": not replayed: its blobs could not be loaded");
  }
  for (CheckResult* c : {&out.checkpoints, &out.replay}) {
    c->status = c->problems.empty() ? CheckStatus::kOk : CheckStatus::kProblem;
    if (!c->problems.empty()) {
      c->summary = std::to_string(c->problems.size()) + " problem(s): " + c->problems.front();
    }
  }
  if (out.checkpoints.problems.empty()) {
    out.checkpoints.summary = std::to_string(blobs_checked.size()) +
                              " checkpoint and delta blob(s) fetched, each hashes to its id";
  }
  if (out.replay.problems.empty()) {
    out.replay.summary = job.rounds.empty()
                             ? "no round has finished yet"
                             : "each of the " + std::to_string(replayed) +
                                   " round(s) recomputed from its input and deltas gives its "
                                   "recorded checkpoint";
  }
  return out;
}

}  // namespace plume::cli
