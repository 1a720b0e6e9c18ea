// Reactor: the DiLoCo outer step for a finished round. The math is OuterStep
// (plume/scheduler/outer_step.h), shared with `plume audit`'s replay; this file loads the
// round's parameters and worker deltas from the blob store and keeps the momentum.
//
// The momentum of round r is written to momentum/<job>.r<r> before the new parameters are
// reported, and round r reads only m_{r-1}: aggregating the same round twice (after a crash)
// gives the same blob instead of applying the momentum twice.
#include <fstream>

#include "plume/kernels/checkpoint.h"
#include "plume/protocol/file_util.h"
#include "plume/scheduler/outer_step.h"
#include "plume/scheduler/work.h"
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

}  // namespace

Result<BlobHash> Reactor::Impl::Aggregate(const AggregateRound& a) {
  const Job& job = core.state().jobs.at(a.job);
  const kernels::ModelConfig model = KernelsConfig(job.spec.model);
  auto theta = LoadParams(*blobs, a.input_params_blob, model);
  if (!theta) return tl::unexpected(theta.error());
  const size_t n = theta->size();
  OuterStep step(n);
  for (size_t w = 0; w < a.deltas.size(); ++w) {
    auto delta = LoadParams(*blobs, a.deltas[w], model);
    if (!delta) return Fail("worker delta: " + delta.error().message);
    if (auto st = step.AddDelta(*delta, a.weights.at(w)); !st) return tl::unexpected(st.error());
  }
  std::vector<float> momentum;  // empty: m_{-1} = 0
  if (a.round > 0) {
    auto prev = ReadMomentum(MomentumPath(opt.state_dir, a.job, a.round - 1), n);
    if (!prev) return tl::unexpected(prev.error());
    momentum = std::move(*prev);
  }
  auto next = step.Finish(*theta, momentum, a.outer_lr, a.outer_momentum);
  if (!next) return tl::unexpected(next.error());
  if (auto st = WriteMomentum(MomentumPath(opt.state_dir, a.job, a.round), next->momentum); !st) {
    return tl::unexpected(st.error());
  }
  auto bytes = kernels::SaveCheckpointBytes(model, next->params);
  if (!bytes) return Fail(bytes.error().message);
  auto hash = blobs->Put(std::span<const uint8_t>(*bytes));
  if (!hash) return tl::unexpected(hash.error());
  return ToHex(*hash);
}

}  // namespace plume::scheduler
