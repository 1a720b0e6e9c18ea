// Offline verification of a ledger directory (`plume ledger verify DIR`), from the log alone:
// every record's checksum, the entry indexes and hash chain, every entry's signatures and
// rules (balances recomputed from nothing), every signed tree head's size, root and signature,
// the invariants at the end, and every verdict entry against the receipts of the runs it names
// (verdict.h VerdictProblem: a verdict the receipts' output hashes contradict is a bad entry,
// however well signed). Reads only; never changes the directory. Stops at the first
// problem and names it. A dispute/1 verdict's evidence blob is not in the ledger: it is counted
// here, and `plume audit JOB` (which can fetch blobs from the scheduler) recomputes it.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "plume/ledger/amount.h"
#include "plume/ledger/head.h"
#include "plume/protocol/error.h"

namespace plume::ledger {

struct VerifyReport {
  bool ok = false;
  uint64_t entries = 0;  // entries that passed every check
  uint64_t heads = 0;    // signed tree heads that passed
  // When !ok: the index of the first entry that is bad, or would have come next when the
  // problem is a tree head or a record that cannot be read (the count of good entries before
  // it). nullopt for problems not tied to a position (header, final invariants).
  std::optional<uint64_t> first_bad_entry;
  uint64_t bad_offset = 0;  // file offset of the bad record, when first_bad_entry is set
  std::string problem;      // empty when ok
  std::optional<SignedTreeHead> last_head;
  std::map<std::string, MicroPlume> balances;  // recomputed, sorted by account
  MicroPlume minted;
  // Verdict entries that name a dispute evidence blob (verdict.h), and of those the ones the
  // ledger alone cannot recompute: all of them (their blobs are the scheduler's).
  uint64_t evidence_verdicts = 0;
};

// An Error only when dir/ledger.log cannot be opened or read at all; a damaged ledger is a
// report with ok == false. Signature checks run on `threads` threads (0: hardware threads,
// at most 16); the result does not depend on it.
Result<VerifyReport> Verify(const std::filesystem::path& dir, unsigned threads = 0);

// A few lines for humans: verdict, counts, the first problem.
std::string DescribeReport(const VerifyReport& report);

}  // namespace plume::ledger
