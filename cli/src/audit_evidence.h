// `plume audit JOB`'s recomputation of dispute/1 verdicts from their evidence blobs
// (verify/evidence.h). The ledger names each blob by hash in the verdict entry; the scheduler
// serves it to the job's owner (BlobGet); the audit hashes what arrives, checks each receipt in
// it against the runs the ledger holds (signature, task, output, agent) and recomputes the
// link, the share and the outcome from the lists (verify::DisputeEvidenceProblem). A verdict the
// evidence contradicts, or a blob that cannot be fetched or is not the named one, is a problem
// and fails the audit; `plume ledger verify` (no scheduler) only counts these verdicts.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "audit_provenance.h"
#include "audit_verdicts.h"
#include "plume/ledger/ledger.h"

namespace plume::cli {

struct EvidenceResult {
  Hash256 blob{};
  bool recomputed = false;  // the blob was fetched and recomputes the verdict
  std::string problem;      // why not, when !recomputed
  std::string how;          // one line for the task's report
};

// Every dispute/1 verdict entry of the job that names evidence, by the verdict's task. With
// `spec` (from --spec), each blob's size must also be the one the spec gives
// (verify::EvidenceSizeProblem); without it, the size is reported as the scheduler's word.
std::map<std::string, EvidenceResult> CheckEvidence(
    const std::string& job, const std::vector<ledger::LoggedEntry>& job_entries,
    const BlobSource& blobs, const std::optional<verify::EvidenceSpec>& spec = std::nullopt);

// The provenance line "evidence": ok when every named blob recomputed its verdict, n/a when no
// verdict names one, a problem per verdict that did not.
CheckResult EvidenceCheckResult(const std::map<std::string, EvidenceResult>& results);

// Marks each task's verdict with what its evidence showed (recomputed, how, problems).
void ApplyEvidence(std::vector<TaskVerdict>& verdicts,
                   const std::map<std::string, EvidenceResult>& results);

}  // namespace plume::cli
