// `plume run-local job.toml` (train or generate on this machine through the library's
// RunLocal, the same code path the agent uses) and `plume selftest`.
#include "cmd_local.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "plume/kernels/job_spec.h"
#include "plume/kernels/runner.h"
#include "plume/kernels/selftest.h"

namespace plume::cli {

namespace k = plume::kernels;

k::Result<std::unique_ptr<k::Ops>> MakeBackend(const std::string& backend, int threads) {
  if (backend == "cpu" || (backend == "auto" && k::CudaDeviceCount() == 0)) {
    return k::MakeCpuOps(threads);
  }
  return k::MakeCudaOps(0);
}

namespace {

std::string Clock(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char text[32];
  std::snprintf(text, sizeof text, "%ld:%02ld", s / 60, s % 60);
  return text;
}

void PrintProgress(const k::StepProgress& p) {
  const double eta = p.elapsed.count() / p.step * (p.steps - p.step);
  std::fprintf(stderr, "step %5ld/%ld | loss %.4f | lr %.2e | %8.0f tok/s | ETA %s", long(p.step),
               long(p.steps), p.loss, p.lr, p.tokens_per_s, Clock(eta).c_str());
  if (p.val_loss) std::fprintf(stderr, " | val %.4f", *p.val_loss);
  std::fprintf(stderr, "\n");
}

struct RunLocalArgs {
  std::string spec_path;
  std::string backend = "auto";
  int threads = 0;
  int log_every = 1;
  std::string output_dir;  // overrides output.dir
  std::string checkpoint;  // overrides infer.checkpoint
};

void PrintSamples(const std::string& jsonl_path);  // below

void RunLocalCommand(const RunLocalArgs& args) {
  auto spec = k::LoadJobSpec(args.spec_path);
  if (!spec) {
    std::cerr << "plume run-local: " << spec.error().message << "\n";
    throw CommandFailed(kExitBadInput);
  }
  if (!args.output_dir.empty()) spec->output_dir = args.output_dir;
  if (!args.checkpoint.empty()) spec->infer.checkpoint = args.checkpoint;
  auto ops = MakeBackend(args.backend, args.threads);
  if (!ops) {
    std::cerr << "plume run-local: " << ops.error().message << "\n";
    throw CommandFailed(kExitFailure);
  }
  std::cerr << "plume run-local: " << (spec->kind == k::JobKind::kTrain ? "training" : "generating")
            << " '" << spec->name << "' on " << (*ops)->DeviceName() << "\n";
  const auto progress = [&args](const k::StepProgress& p) {
    if (p.step % args.log_every == 0 || p.step == p.steps || p.val_loss) PrintProgress(p);
  };
  auto summary = k::RunLocal(*spec, **ops, progress);
  if (!summary) {
    std::cerr << "plume run-local: " << summary.error().message << "\n";
    throw CommandFailed(kExitFailure);
  }
  if (summary->kind == k::JobKind::kTrain) {
    std::printf("trained in %.1f s: train loss %.4f", summary->elapsed.count(), summary->train_loss);
    if (summary->val_loss) std::printf(", val loss %.4f nats/token", *summary->val_loss);
    std::printf(" (%ld tokens, %.3g model FLOPs)\nwrote %s\n", long(summary->tokens),
                double(summary->flops), summary->output_path.c_str());
  } else {
    PrintSamples(summary->output_path);
    std::printf("generated %ld completions (%ld tokens) in %.1f s\nwrote %s\n",
                long(summary->completions), long(summary->tokens), summary->elapsed.count(),
                summary->output_path.c_str());
  }
}

// Prints prompt + completion of each line of outputs.jsonl, as the user wants to read them.
void PrintSamples(const std::string& jsonl_path) {
  std::ifstream in(jsonl_path);
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    std::printf("--- sample %ld ---\n%s%s\n", long(j.value("index", 0)),
                j.value("prompt", "").c_str(), j.value("completion", "").c_str());
  }
}

void SelftestCommand(int threads, bool quick) {
  k::SelftestOptions options;
  options.cpu_threads = threads;
  options.measure_speed = !quick;
  const auto report = k::RunSelftest(options);
  std::printf("%s", k::FormatSelftest(report).c_str());
  if (!report.passed()) throw CommandFailed(kExitFailure);
}

}  // namespace

void RegisterLocalCommands(CLI::App& app) {
  auto args = std::make_shared<RunLocalArgs>();
  CLI::App* run = app.add_subcommand("run-local", "Run a job spec (train or infer) on this machine");
  run->add_option("spec", args->spec_path, "Job spec (TOML), see docs/job-spec.md")
      ->required()
      ->check(CLI::ExistingFile);
  run->add_option("--backend", args->backend, "cpu, cuda or auto (CUDA when available)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  run->add_option("--threads", args->threads, "CPU threads (0 = all)")->check(CLI::NonNegativeNumber);
  run->add_option("--log-every", args->log_every, "Print a progress line every N steps")
      ->check(CLI::PositiveNumber);
  run->add_option("--output-dir", args->output_dir, "Override output.dir of the spec");
  run->add_option("--checkpoint", args->checkpoint, "Override infer.checkpoint of the spec");
  run->callback([args] { RunLocalCommand(*args); });

  auto threads = std::make_shared<int>(0);
  auto quick = std::make_shared<bool>(false);
  CLI::App* selftest = app.add_subcommand(
      "selftest", "Check every kernel on each local GPU against the CPU reference, and measure speed");
  selftest->add_option("--threads", *threads, "CPU threads (0 = all)")->check(CLI::NonNegativeNumber);
  selftest->add_flag("--quick", *quick, "Skip the speed measurements");
  selftest->callback([threads, quick] { SelftestCommand(*threads, *quick); });
}

}  // namespace plume::cli
