// The lineage of a blob or a job, from the ledger alone (`plume lineage`, cmd_lineage.cc, and
// the lineage check of `plume audit`): the chain from an inference output to the model, the
// training job and its rounds (checkpoint entries, ledger/lineage.h), each round's workers
// (settled receipts), the datasets they read (dataset_publish entries) and their owners.
//
// Two pure steps, so that a chain can be checked apart from how it was found:
//  - BuildLineage walks the ledger's entries backwards from the target and records each link
//    with the index of the entry that states it; what it cannot find is a gap (the chain ends).
//  - CheckLineage takes a chain (built here, or read from someone's --json) and re-derives every
//    link from the entry it cites, and checks each cited entry's inclusion proof against a head
//    signed by the trusted ledger key.
// The I/O (reading the ledger directory and proving inclusion) is lineage_ledger.cc.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "plume/ledger/ledger.h"

namespace plume::cli {

struct DatasetLink {
  std::string dataset;  // its id (data/terms.h DatasetId)
  std::string name;
  PublicKey owner{};
  Hash256 blob{};
  uint64_t tokens = 0;  // from the settle's royalty claim (0: no claim, e.g. royalty 0)
  uint64_t entry = 0;   // the dataset_publish entry
};

// One task that produced a blob: a settle (or task_receipt) entry's receipt.
struct StepLink {
  std::string job;
  std::string task;  // the receipt's task id (the scheduler's wire id)
  PublicKey agent{};  // the provider that computed it and signed the receipt
  std::vector<Hash256> inputs;
  Hash256 output{};
  bool settled = false;
  // A training run proven faulty after its round averaged its delta: the slash entry carries
  // its receipt, and the model keeps the delta (docs/verification.md).
  bool slashed = false;
  uint64_t entry = 0;
  std::vector<DatasetLink> datasets;  // inputs that are published datasets
  std::vector<Hash256> other_data;    // data inputs no dataset_publish names (plain uploads)
};

struct RoundLink {
  uint32_t round = 0;
  bool final = false;
  Hash256 params_in{};
  Hash256 params_out{};
  uint64_t entry = 0;             // the checkpoint entry
  std::vector<StepLink> workers;  // one per delta of the checkpoint, in its order
};

// The training that produced a model: rounds from the one that made it down to round 0.
struct ModelLink {
  Hash256 checkpoint{};
  std::string job;
  std::vector<RoundLink> rounds;  // newest first
};

struct Lineage {
  std::string target;  // as asked: a blob's hex or a job id
  std::optional<Hash256> blob;
  std::string job;                // the job the target belongs to
  std::vector<StepLink> outputs;  // infer: the steps whose outputs are the target
  std::optional<ModelLink> model;
  bool model_external = false;  // the model was uploaded: no job of this ledger produced it
  std::vector<std::string> gaps;  // links BuildLineage looked for and did not find
  // Every entry the chain cites, ascending.
  std::vector<uint64_t> CitedEntries() const;
};

// The entries lineage reads (settles, task receipts, checkpoints, dataset publishes), by index.
using EntryIndex = std::map<uint64_t, ledger::LoggedEntry>;
bool IsLineageEntry(const ledger::Entry& e);

// target: a 64-hex blob hash or a job id. An unknown target is a Lineage with a gap saying so.
Lineage BuildLineage(const std::string& target, const EntryIndex& entries);

// A proof of one entry, or nullopt when the ledger cannot give one.
using ProofSource = std::function<std::optional<ledger::InclusionBundle>(uint64_t index)>;

struct LineageCheck {
  std::vector<std::string> problems;  // each names the link and the entry
  size_t links = 0;                   // links re-derived
  size_t proofs = 0;                  // inclusion proofs that verified
  bool ok() const { return problems.empty(); }
};
// Every gap is a problem; every cited entry must be proven included under a head signed by
// `trusted`, and every link must follow from the entry as proven (not as the chain claims it).
LineageCheck CheckLineage(const Lineage& lineage, const ProofSource& proofs,
                          const PublicKey& trusted);

}  // namespace plume::cli
