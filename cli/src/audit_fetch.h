// The network side of `plume audit`'s provenance checks: the job's record from the scheduler
// (FetchJob) and its blobs (BlobGet), over the CLI's usual connection (net_client.h).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "audit_evidence.h"
#include "audit_provenance.h"
#include "net_client.h"

namespace plume::cli {

// Asks the scheduler for the job's record. The error says why none came (unreachable, not
// this client's job, refused).
CliResult<JobRecord> FetchJobRecord(NetClient& client, const std::string& job);

// Fetches blobs one chunk per request and returns the bytes as they arrived, unverified: the
// audit hashes them itself, so a tampered blob is reported as such rather than retried. The
// client must outlive the source.
BlobSource NetBlobSource(NetClient& client);

struct ProvenanceOptions {
  NetFlags net;           // as given; the environment fills the rest
  std::string spec_path;  // --spec: the spec file to compare (empty: none)
};

struct ProvenanceReport {
  bool checked = false;             // the scheduler answered with the job's record
  bool scheduler_named = false;     // --scheduler or PLUME_SCHEDULER named one
  std::string not_checked_why;      // when !checked
  std::string scheduler;            // the endpoint asked
  std::optional<JobRecord> record;  // what the scheduler answered, when it did
  std::vector<CheckResult> checks;
  // Dispute verdicts recomputed from their evidence blobs, by task (also the "evidence" check).
  std::map<std::string, EvidenceResult> evidence;
  bool ok() const;  // checked and no check found a problem
};

// Connects, fetches the record and runs every check of audit_provenance.h against the ledger's
// receipts of the job, and recomputes its dispute verdicts from their evidence blobs
// (audit_evidence.h) against the job's ledger entries. Not reaching the scheduler is a report (checked = false), not a failure;
// an unreadable --spec file or unusable --key/--scheduler-id ends the command (exit 2).
ProvenanceReport CheckProvenance(const ProvenanceOptions& options, const std::string& job,
                                 const std::vector<ReceiptFacts>& receipts,
                                 const std::vector<ledger::LoggedEntry>& job_entries);

}  // namespace plume::cli
