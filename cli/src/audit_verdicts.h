// `plume audit JOB`'s verification verdicts per task, from the job's ledger entries alone
// (docs/verification.md). The ledger records the runs that were paid (settle entries
// "settle:<task>", "settle:<task>/audit", "settle:<task>/referee", each with its countersigned
// receipt) and the runs that were slashed ("slash:<run>", with the faulty run's receipt, its legs
// and a memo). From those the verdict is recomputed where it can be: equal outputs of a run and
// its audit are a match; of three outputs, two equal and one different make the odd one out
// faulty, and a slash must name that one. What only the scheduler knows is said to be its word:
// the audit rate and pay in a slash memo, the link and the share of the task a segment dispute
// recomputed, and a run that was neither paid nor slashed (a conviction without stake). A
// segment referee's output is the state after its segment, not a final output, so a segment
// dispute is not decided by comparing outputs: its share is recomputed from the receipts' FLOPs,
// and which run was faulty is the scheduler's word (the chains are not in the ledger).
//
// A scheduler that records verdicts (ledger/verdict.h) also appends "verdict:<task>", naming
// the runs compared by their receipts' task ids and output hashes and the outcome, and records
// the receipt of a faulty run nobody paid as "receipt:<run>" (task_receipt). Then the verdict is
// the entry's, checked against the receipts: each run it names must be the receipt the ledger
// holds for that role, the outcome must be what their outputs give (VerdictProblem), the slash
// must name the run it convicts and no other, and a convicted run's pay must be clawed back; any
// contradiction is a problem, and `plume audit` fails. A dispute/1 verdict's outcome follows
// from lists the ledger does not hold: the entry names an evidence blob, which `plume audit`
// recomputes it from when a scheduler is named (audit_evidence.h); from the ledger alone it is
// the scheduler's word.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "plume/ledger/ledger.h"

namespace plume::cli {

struct RunFact {
  std::string role;      // "original", "audit", "referee", "export"
  std::string provider;  // the agent key (hex)
  Hash256 output{};
  uint64_t flops = 0;    // as the scheduler countersigned them
  bool settled = false;  // paid by a settle entry
  bool slashed = false;  // the run a slash entry carries
  bool recorded = false;  // a task_receipt entry ("receipt:<run>") records it, unpaid
  std::string receipt_task;  // the receipt's task id (the scheduler's wire id)
  uint64_t entry = 0;
};

struct TaskVerdict {
  std::string task;     // the scheduler's task id (from the entry ids)
  std::string verdict;  // "accepted", "audited: matched", "disputed: proven faulty",
                        // "disputed: undecided", "disputed: open", "pending"
  std::vector<RunFact> runs;
  std::string faulty;   // the provider proven faulty, when the ledger names one
  bool recomputed = false;  // the verdict follows from the receipts' outputs in the ledger
  std::string how;          // one line: what was compared, or why it could not be
  // Figures the ledger holds only as the scheduler's word (the slash memo).
  std::optional<uint32_t> audit_rate_ppm;
  std::optional<int64_t> pay_micro_plume;
  std::optional<int32_t> dispute_link;
  std::optional<double> recomputed_fraction;
  // A segment dispute's share of the task from the ledger alone: the referee's receipt bills the
  // segment's FLOPs, so its FLOPs over the other run's are the share it recomputed.
  std::optional<double> segment_share;
  int64_t slashed = 0, clawback = 0, compensation = 0, finder = 0, treasury = 0;
  std::vector<std::string> problems;  // the ledger contradicts itself (e.g. slashed the majority)
  std::optional<uint64_t> verdict_entry;  // the index of "verdict:<task>", when there is one
  // A dispute/1 verdict's evidence blob (ledger/verdict.h), when the entry names one; checked
  // only with a scheduler to fetch it from (audit_evidence.h ApplyEvidence).
  std::optional<Hash256> evidence;
  bool evidence_checked = false;
  bool recomputed_from_evidence = false;  // the blob recomputes the verdict's link and outcome
};

// Tasks in order of their ids; runs of each in role order.
std::vector<TaskVerdict> VerdictsOf(const std::vector<ledger::LoggedEntry>& job_entries);

}  // namespace plume::cli
