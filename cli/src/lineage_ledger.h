// The I/O side of lineage (lineage.h): reads the ledger directory (read-only, beside a running
// scheduler), builds the chain for a target and checks it with the ledger's own inclusion proofs
// against the trusted ledger key. Used by `plume lineage` (cmd_lineage.cc) and `plume audit`.
#pragma once

#include <string>

#include "lineage.h"
#include "plume/ledger/ledger.h"

namespace plume::cli {

struct LineageReport {
  Lineage lineage;
  LineageCheck check;
  PublicKey trusted{};
  uint64_t tree_size = 0;  // of the signed head the proofs were checked against
};

// Reads every lineage entry of `ledger`, builds the chain of `target` and checks it.
// Fails only when the ledger cannot be read.
Result<LineageReport> TraceLineage(const ledger::Ledger& ledger, const std::string& target,
                                   const PublicKey& trusted);

// The report as text (one line per link, its entry and proof) or as JSON for tools.
void PrintLineageText(const LineageReport& r);
void PrintLineageJson(const LineageReport& r);
std::string LineageSummary(const LineageReport& r);  // one line, for `plume audit`

}  // namespace plume::cli
