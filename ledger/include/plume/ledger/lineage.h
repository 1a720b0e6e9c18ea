// Lineage facts in the ledger (entry.h type 15, checkpoint): what a training round produced.
//
// A training receipt says which parameters a worker started from (its first input) and which
// delta it returned (its output), but not what the scheduler made of the deltas: the round's new
// parameters existed only in the scheduler's job record. A checkpoint entry puts that step in the
// ledger, so the chain from an inference output back to the data is the ledger's alone:
//
//   inference receipt input 0 (the model) == checkpoint.params_out of training job J, round R
//   checkpoint.deltas == outputs of J's settled round-R receipts, which all start from params_in
//   round R > 0: params_in == checkpoint.params_out of round R - 1
//   those receipts' other inputs == dataset blobs of dataset_publish entries (owners, terms)
//
// The entry is the scheduler's word (signed by the ledger key) and a third party checks it:
// params_out is OuterStep(params_in, deltas, weights, outer_lr, outer_momentum) with the
// momentum carried from round 0 (scheduler/outer_step.h), recomputable from the blobs
// (`plume audit --scheduler` replays it). The ledger checks the shape and the signature;
// whether the deltas are receipts of the job is checked by whoever follows the chain
// (cli/src/lineage.h), because a round may close before its tasks are settled.
//
//  - id "checkpoint:<job>/r<round>", job = the training job, body = EncodeCheckpoint, no
//    amount, accounts, receipt, legs, memo or time; signed by the ledger key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "plume/ledger/entry.h"
#include "plume/protocol/error.h"
#include "plume/protocol/hash.h"

namespace plume::ledger {

struct CheckpointFact {
  uint32_t round = 0;
  bool final = false;  // the job's last round: params_out is the model the job returned
  Hash256 params_in{};
  Hash256 params_out{};
  std::vector<Hash256> deltas;    // worker outputs the outer step averaged, in worker order
  std::vector<uint64_t> weights;  // tokens each delta was trained on (same length, each > 0)
  double outer_lr = 0;            // finite; stored as IEEE-754 bits
  double outer_momentum = 0;

  bool operator==(const CheckpointFact&) const = default;
};

std::vector<uint8_t> EncodeCheckpoint(const CheckpointFact& fact);
// Refuses trailing bytes, more than kCheckpointDeltasMax deltas, a weight of 0, mismatched
// lengths and non-finite outer settings.
Result<CheckpointFact> DecodeCheckpoint(std::span<const uint8_t> body);

std::string CheckpointEntryId(std::string_view job, uint32_t round);
// Unsigned; sign with SignEntry by the ledger key.
Entry MakeCheckpoint(std::string job, const CheckpointFact& fact);

// " round=R params_in=.. params_out=.. deltas=N [final]" for DescribeEntry; empty otherwise.
std::string DescribeCheckpoint(const Entry& e);

}  // namespace plume::ledger
