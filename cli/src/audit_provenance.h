// The provenance half of `plume audit JOB` (cmd_audit.cc): the job's record as the scheduler
// keeps it (FetchJobReply: spec hash, data blobs, each round's checkpoints and deltas, outputs)
// checked against the receipts the ledger holds, and each training round replayed with the
// scheduler's own outer step (plume/scheduler/outer_step.h).
//
// The checks here are pure: they take the record, the receipts and, for the checkpoint checks
// and the replay, a BlobSource, and return one CheckResult each. The network side (FetchJob,
// blob downloads) is audit_fetch.cc.
//
// What an agent lists in a receipt's input_hashes (node-agent/src/agent_tasks.cc OnTaskAssign,
// agent_results.cc): train: [round params, data shard, validation tokens if any]; infer:
// [checkpoint, tokenizer files...]. The spec hash is not among them, so the spec is checked only against a file
// the user names (--spec).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "plume/protocol/error.h"
#include "plume/protocol/hash.h"
#include "plume/verify/evidence.h"

namespace plume::cli {

struct RoundFacts {
  uint32_t round = 0;
  Hash256 params_in{};
  Hash256 params_out{};
  std::vector<Hash256> deltas;    // worker outputs the outer step averaged, in worker order
  std::vector<uint64_t> weights;  // tokens each delta was trained on
  double outer_lr = 0;
  double outer_momentum = 0;
};

// What FetchJobReply says about the job.
struct JobRecord {
  std::string job;
  bool train = true;
  bool succeeded = false;  // state == succeeded (outputs are final)
  std::string state;       // for messages
  std::optional<Hash256> spec_hash;
  std::vector<std::pair<std::string, Hash256>> data_blobs;  // (name, hash)
  std::vector<RoundFacts> rounds;                           // finished rounds, in order
  std::vector<Hash256> output_shards;
};

// One receipt of the job from the ledger (already verified there: signatures, inclusion).
struct ReceiptFacts {
  uint64_t entry_index = 0;
  std::string task_id;  // the scheduler's task number (the ledger names tasks by wire id)
  bool settled = false;
  std::vector<Hash256> inputs;
  Hash256 output{};
};

// kNotApplicable: the check has nothing to look at in this kind of job (rounds of an infer job).
enum class CheckStatus { kOk, kProblem, kNotChecked, kNotApplicable };
std::string StatusName(CheckStatus s);  // "ok", "PROBLEM", "not checked", "n/a"

struct CheckResult {
  std::string name;  // "spec", "data", "rounds", "checkpoints", "replay", "output"
  CheckStatus status = CheckStatus::kOk;
  std::string summary;                // one line: what was shown, or why it was not checked
  std::vector<std::string> problems;  // each names what is wrong (round, entry, hash)
};

// spec_file_hash: BLAKE2b-256 of the --spec file, if one was given.
CheckResult CheckSpec(const JobRecord& job, const std::optional<Hash256>& spec_file_hash);
// Every receipt's data inputs (train: all but the first; infer: all) are job data blobs.
CheckResult CheckDataInputs(const JobRecord& job, const std::vector<ReceiptFacts>& receipts);
// Train: rounds numbered 0.. in order; round r+1 starts from round r's output; every delta of
// round r is the output of a settled receipt that started from round r's parameters; every
// settled receipt started from some round's parameters. With facts from the spec file, also:
// round 0 starts from the checkpoint the spec's seed initialises, every round used the spec's
// outer learning rate and momentum and at most its workers, and a finished job ran its rounds.
struct SpecFacts {
  std::optional<Hash256> initial_params;
  std::optional<double> outer_lr;
  std::optional<double> outer_momentum;
  std::optional<uint32_t> rounds;
  std::optional<uint32_t> workers;
  // What the spec fixes about dispute evidence sizes (train or infer; audit_evidence.h).
  std::optional<verify::EvidenceSpec> evidence;
};
CheckResult CheckRounds(const JobRecord& job, const std::vector<ReceiptFacts>& receipts,
                        const SpecFacts& spec = {});
// Train: the final model is the last round's output. Infer: each output shard is the output of
// a settled receipt.
CheckResult CheckOutputs(const JobRecord& job, const std::vector<ReceiptFacts>& receipts);

// Fetches a blob's bytes by hash. The bytes are returned as received: the checks below hash
// them themselves (a source that verifies may instead fail, naming the hash).
using BlobSource = std::function<Result<std::string>(const Hash256&)>;

struct ReplayResult {
  CheckResult checkpoints;  // each round checkpoint and delta, downloaded, hashes to its id
  CheckResult replay;       // OuterStep(params_in, deltas) == params_out for every round
};
// Train only. Replays rounds in order from round 0 (zero momentum), carrying the momentum, as
// the scheduler does; stops replaying at the first round it cannot load.
ReplayResult CheckReplay(const JobRecord& job, const BlobSource& blobs);

}  // namespace plume::cli
