// Reactor: the DiLoCo outer step for a finished round. The math is OuterStep
// (plume/scheduler/outer_step.h), shared with `plume audit`'s replay; it runs streamed over the
// round's parameter and delta blobs (outer_step_stream.h), so a round holds no model-sized
// buffer; this file names the momentum files and hands the work to the offload worker
// (reactor_offload.h), never the reactor thread.
//
// The momentum of round r is written to momentum/<job>.r<r>.hf before the new parameters are
// stored and reported, and round r reads only m_{r-1}: aggregating the same round twice (after a
// crash) gives the same blob instead of applying the momentum twice.
#include <fstream>

#include "plume/kernels/checkpoint.h"
#include "plume/scheduler/work.h"
#include "outer_step_stream.h"
#include "reactor_impl.h"

namespace plume::scheduler {
namespace {

// m_r in checkpoint order (outer_step_stream.h).
std::filesystem::path MomentumPath(const std::filesystem::path& dir, const JobId& job,
                                   uint32_t round) {
  return dir / "momentum" / (job + ".r" + std::to_string(round) + ".hf");
}

// Where rounds aggregated before the step was streamed kept m_r: the kernels' parameter layout.
std::filesystem::path LayoutMomentumPath(const std::filesystem::path& dir, const JobId& job,
                                         uint32_t round) {
  return dir / "momentum" / (job + ".r" + std::to_string(round));
}

// A job whose round r-1 was aggregated by an older scheduler has m_{r-1} only in the parameter
// layout: rewritten once in checkpoint order (the one step that holds the momentum whole; it
// happens at most once per job, after an upgrade).
Status ConvertLayoutMomentum(const std::filesystem::path& dir, const JobId& job, uint32_t round,
                             const kernels::ModelConfig& model) {
  const std::filesystem::path old = LayoutMomentumPath(dir, job, round);
  const size_t n = static_cast<size_t>(model.NumParams());
  std::vector<float> m(n, 0.0f);
  std::ifstream in(old, std::ios::binary);
  if (!in) return Fail("momentum file " + MomentumPath(dir, job, round).string() + " missing");
  in.read(reinterpret_cast<char*>(m.data()), static_cast<std::streamsize>(n * sizeof(float)));
  if (in.gcount() != static_cast<std::streamsize>(n * sizeof(float))) {
    return Fail("momentum file " + old.string() + " is truncated");
  }
  return WriteMomentumInCheckpointOrder(model, m, MomentumPath(dir, job, round));
}

// Off the reactor thread: touches only the blob store (thread-safe) and the job's own momentum
// files, from what was captured by value.
Result<BlobHash> AggregateOffThread(BlobStore& blobs, const std::filesystem::path& state_dir,
                                    const kernels::ModelConfig& model, const AggregateRound& a) {
  StreamedRound r;
  r.model = model;
  r.params = a.input_params_blob;
  r.deltas = a.deltas;
  r.weights = a.weights;
  r.outer_lr = a.outer_lr;
  r.outer_momentum = a.outer_momentum;
  r.momentum_out = MomentumPath(state_dir, a.job, a.round);
  if (a.round > 0) {
    r.momentum_prev = MomentumPath(state_dir, a.job, a.round - 1);
    std::error_code ec;
    if (!std::filesystem::exists(r.momentum_prev, ec)) {
      if (auto st = ConvertLayoutMomentum(state_dir, a.job, a.round - 1, model); !st) {
        return tl::unexpected(st.error());
      }
    }
  }
  return StreamOuterStep(blobs, r);
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
