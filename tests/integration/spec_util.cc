// Spec and checkpoint writers for the integration tests (see spec_util.h).
#include "spec_util.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "plume/kernels/checkpoint.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/ops.h"

namespace plume::itest {
namespace fs = std::filesystem;

kernels::ModelConfig TinyModel() {
  kernels::ModelConfig m;
  m.n_layer = 2;
  m.n_head = 2;
  m.n_embd = 32;
  m.context = 32;
  m.vocab = 256;
  return m;
}

namespace {

std::string ModelToml() {
  const auto m = TinyModel();
  std::ostringstream o;
  o << "[model]\nn_layer = " << m.n_layer << "\nn_head = " << m.n_head << "\nn_embd = " << m.n_embd
    << "\ncontext = " << m.context << "\nvocab = " << m.vocab << "\n\n";
  return o.str();
}

std::string PaymentToml() {
  return "[payment]\nmax_price_micro_plume_per_pflop = 2500000000000\nbudget_micro_plume = 1000000000000\n";
}

}  // namespace

fs::path WriteTrainSpec(const fs::path& dir, const std::string& name, const fs::path& data,
                        const TrainShape& s) {
  std::ostringstream o;
  o << "[job]\nname = \"" << name << "\"\nkind = \"train\"\nseed = " << s.seed << "\n\n"
    << ModelToml() << "[data]\npath = " << nlohmann::json(data.string()).dump()
    << "\nval_fraction = " << s.val_fraction << "\n\n"
    << "[train]\nsteps = " << s.rounds * s.local_steps << "\nbatch = " << s.batch
    << "\nseq_len = " << s.seq_len << "\nlr = " << s.lr << "\nmin_lr = " << s.lr / 10
    << "\nwarmup_steps = 5\nschedule = \"cosine\"\nweight_decay = 0.0\ngrad_clip = 1.0\n\n"
    << "[output]\ndir = " << nlohmann::json((dir / (name + "-out")).string()).dump() << "\n\n"
    << "[network]\nworkers = " << s.workers << "\nrounds = " << s.rounds
    << "\nlocal_steps = " << s.local_steps << "\nouter_lr = " << s.outer_lr
    << "\nouter_momentum = " << s.outer_momentum << "\n"
    << "round_timeout_s = 60\n\n"
    << PaymentToml();
  const fs::path path = dir / (name + ".toml");
  std::ofstream(path) << o.str();
  return path;
}

fs::path WriteInferSpec(const fs::path& dir, const std::string& name, const fs::path& checkpoint,
                        const std::vector<std::string>& prompts, int workers, uint64_t seed,
                        int max_new_tokens) {
  std::ostringstream o;
  o << "[job]\nname = \"" << name << "\"\nkind = \"infer\"\nseed = " << seed << "\n\n"
    << ModelToml() << "[infer]\ncheckpoint = " << nlohmann::json(checkpoint.string()).dump()
    << "\nprompts = " << nlohmann::json(prompts).dump() << "\nmax_new_tokens = " << max_new_tokens
    << "\ntemperature = 0.8\ntop_k = 20\n\n"
    << "[output]\ndir = " << nlohmann::json((dir / (name + "-out")).string()).dump() << "\n\n"
    << "[network]\nworkers = " << workers << "\n\n"
    << PaymentToml();
  const fs::path path = dir / (name + ".toml");
  std::ofstream(path) << o.str();
  return path;
}

fs::path WriteRandomCheckpoint(const fs::path& dir, uint64_t seed) {
  auto ops = kernels::MakeCpuOps(1);
  auto gpt = kernels::Gpt::Create(TinyModel(), *ops);
  const fs::path path = dir / "random.safetensors";
  if (!gpt || !(*gpt)->InitRandom(seed)) return {};
  auto params = (*gpt)->GetParams();
  if (!params || !kernels::SaveCheckpoint(path.string(), TinyModel(), *params)) return {};
  return path;
}

}  // namespace plume::itest
