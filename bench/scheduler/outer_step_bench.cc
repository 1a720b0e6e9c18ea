// Peak memory of a training round's DiLoCo outer step on the scheduler (security review F14),
// streamed as it is done now and whole as it was done before, each in a child process of one run
// so that each peak RSS (getrusage of the waited child) is that path's own. One round past the
// first (m_{r-1} is read), two workers.
//   streamed: scheduler StreamOuterStep: every input read in 1 MiB pieces at its header's
//             offsets, the new checkpoint and m_r written piece by piece.
//   whole:    the path it replaced (scheduler/alloc/whole_outer_step.h): every blob read and
//             decoded whole, OuterStep on the whole model, StoreCheckpoint.
// Both must store the same blob; the bench says so. The inputs are written first by the parent
// (one model-sized vector), which is not measured.
// Usage: plume_outer_step_bench [n_layer n_embd vocab context] (default GPT-2 medium shape).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "bench_model.h"
#include "checkpoint_blob.h"
#include "outer_step_stream.h"
#include "plume/kernels/checkpoint.h"
#include "plume/protocol/file_util.h"
#include "whole_outer_step.h"

namespace k = plume::kernels;
namespace s = plume::scheduler;

namespace {

// Runs `path` in a child; prints its wall time and peak RSS; the stored blob's hash comes back
// through `hash_file`.
std::string Measure(const char* name, const std::function<plume::Result<s::BlobHash>()>& path,
                    const k::ModelConfig& model, const std::filesystem::path& hash_file) {
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    auto hash = path();
    if (hash) std::ofstream(hash_file) << *hash;
    else std::fprintf(stderr, "%s: %s\n", name, hash.error().message.c_str());
    _exit(hash ? 0 : 1);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double params_gb = double(model.NumParams()) * sizeof(float) / 1e9;
  const double peak_gb = double(usage.ru_maxrss) * 1024 / 1e9;  // ru_maxrss is in KiB
  std::printf("%-8s %s  peak RSS %6.3f GB = %5.3f x the parameters (%.2f GB)  %6.1f s\n", name,
              WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok    " : "FAILED", peak_gb,
              peak_gb / params_gb, params_gb, secs);
  std::string hash;
  std::ifstream(hash_file) >> hash;
  return hash;
}

}  // namespace

int main(int argc, char** argv) {
  const auto parsed = BenchModel(argc, argv);
  if (!parsed) return 2;
  const k::ModelConfig model = *parsed;
  std::printf("model: %d layers, %d wide, vocab %d, context %d: %lld parameters; 2 workers, "
              "round 1\n",
              model.n_layer, model.n_embd, model.vocab, model.context,
              static_cast<long long>(model.NumParams()));
  const auto dir = std::filesystem::temp_directory_path() /
                   ("plume-outer-bench-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  auto store = plume::BlobStore::Open(dir / "blobs");
  if (!store) return 1;
  s::StreamedRound r;
  r.model = model;
  r.outer_lr = 0.7;
  r.outer_momentum = 0.9;
  r.weights = {3, 5};
  const auto flat = dir / "m-prev-flat";
  {
    // One vector, rescaled for each input; the padding rows stay zero as a loaded one's are.
    std::vector<float> v(static_cast<size_t>(model.NumParams()));
    uint64_t x = 88172645463325252ull;
    for (float& f : v) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      f = float(int64_t(x >> 40) - (int64_t{1} << 23)) / float(1 << 23) * 0.05f;
    }
    v = k::LoadCheckpointBytes(*k::SaveCheckpointBytes(model, v))->params;
    r.params = *s::StoreCheckpoint(**store, model, v);
    for (float scale : {0.01f, -0.02f}) {
      for (float& f : v) f *= scale;
      r.deltas.push_back(*s::StoreCheckpoint(**store, model, v));
      for (float& f : v) f /= scale;
    }
    for (float& f : v) f *= 0.1f;
    if (!plume::WriteFileDurably(flat, std::span(reinterpret_cast<const uint8_t*>(v.data()),
                                                 v.size() * sizeof(float)))) {
      return 1;
    }
    r.momentum_prev = dir / "m-prev.hf";
    if (!s::WriteMomentumInCheckpointOrder(model, v, r.momentum_prev)) return 1;
  }
  r.momentum_out = dir / "m.hf";
  const std::string streamed = Measure(
      "streamed", [&] { return s::StreamOuterStep(**store, r); }, model, dir / "h1");
  const std::string whole = Measure(
      "whole", [&] { return s::WholeModelStep(**store, r, flat); }, model, dir / "h2");
  std::printf("same blob: %s\n", !streamed.empty() && streamed == whole ? "yes" : "NO");
  std::filesystem::remove_all(dir);
  return !streamed.empty() && streamed == whole ? 0 : 1;
}
