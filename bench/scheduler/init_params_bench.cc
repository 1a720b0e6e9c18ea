// Peak memory of storing a train job's initial parameters on the scheduler (security review F5),
// the way it is done now and the way it was done before, each in a child process of one run so
// that each peak RSS (getrusage of the waited child) is that path's own.
//   streamed: scheduler StoreInitialParams: kernels InitialParams fills one vector, kernels
//             WriteCheckpoint encodes it in 1 MiB pieces into a protocol BlobWriter.
//   whole:    the path it replaced, rebuilt from the same public pieces: a model buffer
//             (Gpt::CreateForInference + InitRandom), the copy out of it (GetParams), the
//             encoder's per-tensor copies (one more model-sized copy) and the encoded bytes
//             (SaveCheckpointBytes), stored with BlobStore::Put.
// Usage: plume_init_params_bench [n_layer n_embd vocab context] (default GPT-2 medium shape).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "bench_model.h"
#include "checkpoint_blob.h"
#include "plume/kernels/checkpoint.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/ops.h"

namespace k = plume::kernels;

namespace {

bool Whole(plume::BlobStore& store, const k::ModelConfig& model) {
  auto ops = k::MakeCpuOps(1);
  auto gpt = k::Gpt::CreateForInference(model, *ops);
  if (!gpt || !(*gpt)->InitRandom(1)) return false;
  auto params = (*gpt)->GetParams();
  if (!params) return false;
  const std::vector<float> tensor_copies = *params;  // what the old encoder copied per tensor
  auto bytes = k::SaveCheckpointBytes(model, *params);
  return bytes && tensor_copies.size() == params->size() &&
         store.Put(std::span<const uint8_t>(*bytes)).has_value();
}

bool Streamed(plume::BlobStore& store, const k::ModelConfig& model) {
  return plume::scheduler::StoreInitialParams(store, model, 1).has_value();
}

// Runs `path` in a child; prints its wall time and peak RSS.
void Measure(const char* name, bool (*path)(plume::BlobStore&, const k::ModelConfig&),
             const k::ModelConfig& model, const std::filesystem::path& dir) {
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    auto store = plume::BlobStore::Open(dir / name);
    _exit(store && path(**store, model) ? 0 : 1);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double params_gb = double(model.NumParams()) * sizeof(float) / 1e9;
  const double peak_gb = double(usage.ru_maxrss) * 1024 / 1e9;  // ru_maxrss is in KiB
  std::printf("%-8s %s  peak RSS %6.2f GB = %4.2f x the parameters (%.2f GB)  %6.1f s\n", name,
              WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok    " : "FAILED", peak_gb,
              peak_gb / params_gb, params_gb, s);
}

}  // namespace

int main(int argc, char** argv) {
  const auto parsed = BenchModel(argc, argv);
  if (!parsed) return 2;
  const k::ModelConfig model = *parsed;
  std::printf("model: %d layers, %d wide, vocab %d, context %d: %lld parameters\n", model.n_layer,
              model.n_embd, model.vocab, model.context,
              static_cast<long long>(model.NumParams()));
  const auto dir = std::filesystem::temp_directory_path() /
                   ("plume-init-bench-" + std::to_string(getpid()));
  Measure("streamed", Streamed, model, dir);
  Measure("whole", Whole, model, dir);
  std::filesystem::remove_all(dir);
}
