// `plume audit`'s provenance pass (audit_fetch.h CheckProvenance): reach the scheduler, fetch
// the job's record, hash the --spec file and derive the initial parameters it seeds, then run
// the pure checks (audit_provenance.cc) and the replay (audit_replay.cc).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "audit_fetch.h"
#include "cmd_net.h"
#include "plume/kernels/checkpoint.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/job_spec.h"
#include "plume/kernels/ops.h"

namespace plume::cli {
namespace {

std::string ReadSpecOrFail(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) FailWith({kExitBadInput, "--spec " + path + ": cannot read it"});
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// What a spec fixes about the job: for training, the checkpoint the scheduler makes from its
// model and seed before round 0 (scheduler/src/reactor_jobs.cc InitialParams: the same
// kernels, so the same bytes), the outer step's settings, the rounds and workers; for both
// kinds, the sizes of dispute evidence (an infer spec's prompts_file is read relative to the
// spec, as at submit). Empty facts when the text is not a spec (the spec hash check then
// reports a wrong file).
SpecFacts SpecFactsOf(const std::string& toml, const std::string& base_dir) {
  SpecFacts facts;
  auto spec = kernels::ParseJobSpec(toml, base_dir);
  if (!spec) return facts;
  const kernels::NetworkSpec net = spec->network.value_or(kernels::NetworkSpec{});
  if (spec->kind == kernels::JobKind::kInfer) {
    auto prompts = kernels::LoadPrompts(*spec);
    if (!prompts) return facts;  // the evidence sizes stay the scheduler's word
    const auto count = static_cast<uint32_t>(prompts->size());
    facts.evidence = verify::EvidenceSpec{
        verify::EvidenceKind::kInfer, 0, count,
        verify::InferShardCount(static_cast<uint32_t>(net.workers), count)};
    return facts;
  }
  if (!spec->model) return facts;
  if (spec->network) {
    facts.evidence = verify::EvidenceSpec{verify::EvidenceKind::kTrain,
                                          static_cast<uint64_t>(net.local_steps), 0, 0};
    facts.outer_lr = spec->network->outer_lr;
    facts.outer_momentum = spec->network->outer_momentum;
    facts.rounds = static_cast<uint32_t>(spec->network->rounds);
    facts.workers = static_cast<uint32_t>(spec->network->workers);
  }
  auto params = kernels::InitialParams(*spec->model, spec->seed);
  if (!params) return facts;
  auto bytes = kernels::SaveCheckpointBytes(*spec->model, *params);
  if (bytes) facts.initial_params = Blake2b256(std::span<const uint8_t>(*bytes));
  return facts;
}

}  // namespace

bool ProvenanceReport::ok() const {
  if (!checked) return false;
  for (const CheckResult& c : checks) {
    if (c.status == CheckStatus::kProblem) return false;
  }
  return true;
}

ProvenanceReport CheckProvenance(const ProvenanceOptions& options, const std::string& job,
                                 const std::vector<ReceiptFacts>& receipts,
                                 const std::vector<ledger::LoggedEntry>& job_entries) {
  ProvenanceReport report;
  const char* env = std::getenv("PLUME_SCHEDULER");
  report.scheduler = !options.net.scheduler.empty() ? options.net.scheduler : (env ? env : "");
  report.scheduler_named = !report.scheduler.empty();
  if (!report.scheduler_named) {
    report.not_checked_why =
        "no scheduler given (pass --scheduler/--scheduler-id or set PLUME_SCHEDULER and "
        "PLUME_SCHEDULER_ID to check the spec, data, rounds and outputs)";
    return report;
  }
  std::optional<Hash256> spec_hash;
  SpecFacts spec_facts;
  if (!options.spec_path.empty()) {
    const std::string toml = ReadSpecOrFail(options.spec_path);
    spec_hash = Blake2b256(toml);
    spec_facts = SpecFactsOf(toml, std::filesystem::path(options.spec_path).parent_path().string());
  }
  auto client = ConnectOrFail(options.net);  // bad flags or key file: exit 2
  auto record = FetchJobRecord(*client, job);
  if (!record) {
    report.not_checked_why = record.error().message;
    return report;
  }
  report.checked = true;
  report.checks.push_back(CheckSpec(*record, spec_hash));
  report.checks.push_back(CheckDataInputs(*record, receipts));
  report.checks.push_back(CheckRounds(*record, receipts, spec_facts));
  ReplayResult replay = CheckReplay(*record, NetBlobSource(*client));
  report.checks.push_back(std::move(replay.checkpoints));
  report.checks.push_back(std::move(replay.replay));
  report.checks.push_back(CheckOutputs(*record, receipts));
  report.evidence = CheckEvidence(job, job_entries, NetBlobSource(*client), spec_facts.evidence);
  report.checks.push_back(EvidenceCheckResult(report.evidence));
  report.record = std::move(*record);
  return report;
}

}  // namespace plume::cli
