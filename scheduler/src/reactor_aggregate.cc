// Reactor: the DiLoCo outer step for a finished round. The math is OuterStep
// (plume/scheduler/outer_step.h), shared with `plume audit`'s replay; this file loads the
// round's parameters and worker deltas from the blob store and keeps the momentum.
//
// The step runs on the offload worker (reactor_offload.h), never on the reactor thread.
//
// The momentum of round r is written to momentum/<job>.r<r> before the new parameters are
// reported, and round r reads only m_{r-1}: aggregating the same round twice (after a crash)
// gives the same blob instead of applying the momentum twice.
#include <fstream>

#include "plume/kernels/checkpoint.h"
#include "plume/protocol/file_util.h"
#include "plume/scheduler/outer_step.h"
#include "plume/scheduler/work.h"
#include "checkpoint_blob.h"
#include "reactor_impl.h"

namespace plume::scheduler {
namespace {

Result<std::vector<float>> LoadParams(BlobStore& blobs, const BlobHash& hex,
                                      const kernels::ModelConfig& model) {
  auto hash = HashFromHex(hex);
  if (!hash) return Fail("blob id " + hex + ": " + hash.error().message);
  auto bytes = blobs.Get(*hash);
  if (!bytes) return Fail("blob " + hex + ": " + bytes.error().message);
  kernels::LoadOptions opts;
  opts.expect = model;
  auto ck = kernels::LoadCheckpointBytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()),
      opts);
  if (!ck) return Fail("blob " + hex + ": " + ck.error().message);
  return std::move(ck->params);
}

std::filesystem::path MomentumPath(const std::filesystem::path& dir, const JobId& job,
                                   uint32_t round) {
  return dir / "momentum" / (job + ".r" + std::to_string(round));
}

Result<std::vector<float>> ReadMomentum(const std::filesystem::path& path, size_t n) {
  std::vector<float> m(n, 0.0f);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail("momentum file " + path.string() + " missing");
  in.read(reinterpret_cast<char*>(m.data()), static_cast<std::streamsize>(n * sizeof(float)));
  if (in.gcount() != static_cast<std::streamsize>(n * sizeof(float))) {
    return Fail("momentum file " + path.string() + " is truncated");
  }
  return m;
}

// Durable before the round's new parameters are reported: once RoundAggregated is saved the
// next round reads this file, and a power cut must not leave it missing or empty.
Status WriteMomentum(const std::filesystem::path& path, const std::vector<float>& m) {
  return WriteFileDurably(path, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(m.data()),
                                                         m.size() * sizeof(float)));
}

// Off the reactor thread: touches only the blob store (thread-safe) and the job's own momentum
// files, from what was captured by value.
Result<BlobHash> AggregateOffThread(BlobStore& blobs, const std::filesystem::path& state_dir,
                                    const kernels::ModelConfig& model, const AggregateRound& a) {
  auto theta = LoadParams(blobs, a.input_params_blob, model);
  if (!theta) return tl::unexpected(theta.error());
  const size_t n = theta->size();
  OuterStep step(n);
  for (size_t w = 0; w < a.deltas.size(); ++w) {
    auto delta = LoadParams(blobs, a.deltas[w], model);
    if (!delta) return Fail("worker delta: " + delta.error().message);
    if (auto st = step.AddDelta(*delta, a.weights.at(w)); !st) return tl::unexpected(st.error());
  }
  std::vector<float> momentum;  // empty: m_{-1} = 0
  if (a.round > 0) {
    auto prev = ReadMomentum(MomentumPath(state_dir, a.job, a.round - 1), n);
    if (!prev) return tl::unexpected(prev.error());
    momentum = std::move(*prev);
  }
  auto next = step.Finish(*theta, momentum, a.outer_lr, a.outer_momentum);
  if (!next) return tl::unexpected(next.error());
  if (auto st = WriteMomentum(MomentumPath(state_dir, a.job, a.round), next->momentum); !st) {
    return tl::unexpected(st.error());
  }
  return StoreCheckpoint(blobs, model, next->params);  // streamed: no encoded copy held
}

}  // namespace

// Loading every delta and the outer step take seconds for large models: on the worker, so the
// reactor keeps serving leases meanwhile. The core ignores a report for a round that is no
// longer aggregating (its job was cancelled meanwhile), and one worker runs the rounds of a job
// in order, so round r reads the momentum round r-1 wrote.
void Reactor::Impl::StartAggregate(const AggregateRound& a) {
  const kernels::ModelConfig model = KernelsConfig(core.state().jobs.at(a.job).spec.model);
  BlobStore* store = blobs.get();
  const std::filesystem::path dir = opt.state_dir;
  offload->Submit(
      [this, a, model, store, dir]() -> Offload::Continuation {
        auto blob = AggregateOffThread(*store, dir, model, a);
        return [this, job = a.job, round = a.round, blob = std::move(blob)] {
          if (blob) {
            internal.push_back(RoundAggregated{job, round, *blob});
          } else {
            internal.push_back(RoundAggregationFailed{job, round, blob.error().message});
          }
        };
      },
      /*from_client=*/false);
}

}  // namespace plume::scheduler
