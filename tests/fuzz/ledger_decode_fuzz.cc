// libFuzzer harness for the ledger's entry decoder (ledger/include/plume/ledger/entry.h): the bytes
// a ledger reads back from its log, a snapshot or a peer's submit.
// Properties: Decode never crashes on any input; an entry it accepts has exactly one encoding
// (Encode gives back the very bytes: no two byte strings mean the same entry, which signatures and
// idempotency rely on); and the checks that run before any balance is touched (Authorize, and
// State::Apply on an empty state for what Authorize passes) never crash on it either.
//
// In the build: target plume_ledger_decode_fuzz with fuzz_driver.cc (seeded mutations for a
// bounded time; ctest runs it as LedgerDecodeFuzz). With clang it builds as a real libFuzzer
// binary like the protocol target (see protocol_decode_fuzz.cc).
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "plume/ledger/entry.h"
#include "plume/ledger/data_entries.h"
#include "plume/ledger/gov.h"
#include "plume/ledger/lineage.h"
#include "plume/ledger/state.h"
#include "plume/protocol/identity.h"

namespace {

using namespace plume;
using namespace plume::ledger;

struct Principals {
  Identity ledger = Identity::Generate();
  Identity op = Identity::Generate();
  Identity team = Identity::Generate();
  Identity agent = Identity::Generate();
  LedgerId id{};
  Keys keys() const { return Keys{ledger.public_key(), op.public_key(), id}; }
};

const Principals& Cast() {
  static const Principals p;
  return p;
}

TaskReceipt Receipt() {
  TaskReceipt r;
  r.job_id = "job-1";
  r.task_id = "job-1/r0/w0";
  r.attempt = 1;
  r.input_hashes = {Hash256{1}, Hash256{2}};
  r.output_hash = Hash256{3};
  r.flops = 1'000'000'000;
  r.device = "cpu";
  r.kernel_build = "cpu/x86-64-v3/abc";
  r.start_unix_ms = 1;
  r.end_unix_ms = 2;
  r.agent = Cast().agent.public_key();
  r.price_micro_plume_per_pflop = 1000;
  r.fee_bps = 500;
  return r;
}

std::string Bytes(Entry e, const Identity& signer) {
  e.signatures.push_back(SignEntry(e, Cast().id, signer));
  const std::vector<uint8_t> out = Encode(e);
  return std::string(out.begin(), out.end());
}

std::string Bytes(Entry e, const Identity& a, const Identity& b) {
  e.signatures.push_back(SignEntry(e, Cast().id, a));
  return Bytes(std::move(e), b);
}

ProposalBody FeeChange() {
  ProposalBody b;
  b.param = "fee_bps";
  b.value = 300;
  b.voting_end_ms = 10;
  b.timelock_ms = 5;
  b.quorum_ppm = 334'000;
  b.threshold_ppm = 500'000;
  b.veto_ppm = 334'000;
  return b;
}

}  // namespace

// The seed corpus for fuzz_driver.cc: one signed entry of every type.
std::vector<std::string> FuzzSeeds() {
  const Principals& c = Cast();
  const std::string team = TeamAccount(c.team.public_key());
  const PublicKey agent = c.agent.public_key();
  std::vector<std::string> seeds = {
      Bytes(MakeOpenAccount("o", team), c.team),
      Bytes(MakeMint("m", team, MicroPlume(5)), c.op),
      Bytes(MakeTransfer("t", team, ProviderAccount(agent), MicroPlume(5)), c.team),
      Bytes(MakeEscrowHold("h", team, "job-1", MicroPlume(5)), c.team),
      Bytes(MakeSettle("s", Receipt()), c.ledger),
      Bytes(MakeRelease("r", "job-1", team), c.ledger),
      Bytes(MakeStake("k", agent, MicroPlume(5)), c.agent),
      Bytes(MakeUnstake("u", agent, MicroPlume(5), 9), c.agent),
      Bytes(MakeSlash("x", Receipt(), MicroPlume(3),
                      {{LegKind::kClawback, team, MicroPlume(1)},
                       {LegKind::kTreasury, std::string(kTreasury), MicroPlume(2)}},
                      "audit mismatch"),
            c.ledger),
      Bytes(MakeTaskReceipt("q", Receipt()), c.ledger),
      Bytes(MakeWithdraw("w", agent, MicroPlume(5), 10), c.ledger),
      // Governance (gov.h): each with a typed body.
      Bytes(MakeProposal("p1", team, MicroPlume(5), 1, FeeChange()), c.team, c.ledger),
      Bytes(MakeVote("v", agent, 2, VoteBody{"p1", VoteOption::kVeto}), c.agent, c.ledger),
      Bytes(MakeOutcome(MicroPlume(5), team, 10,
                        OutcomeBody{"p1", MicroPlume(1), {}, {}, {}, MicroPlume(2), 1,
                                    OutcomeResult::kPassed}),
            c.ledger),
      Bytes(MakeExecution("p1", "", MicroPlume(0), 15), c.ledger),
  };
  // Data owners (data_entries.h): a publish, its revoke and a settle paying its royalty.
  data::Terms terms;
  terms.owner = c.team.public_key();
  terms.name = "corpus";
  terms.blob_hash = Hash256{1};
  terms.bytes = terms.tokens = 1'000'000;
  terms.any_team = true;
  terms.royalty_micro_plume_per_mtoken = 100;
  seeds.push_back(Bytes(MakeDatasetPublish(terms), c.team));
  seeds.push_back(
      Bytes(MakeDatasetRevoke(data::Revocation{data::DatasetId(terms), c.team.public_key()}),
            c.team));
  if (auto part = MakeRoyaltyPart(terms, 2'000'000)) {
    seeds.push_back(Bytes(MakeRoyaltySettle("rs", Receipt(), {*part}), c.ledger));
  }
  // Lineage (lineage.h): a round's checkpoint.
  CheckpointFact fact;
  fact.round = 2;
  fact.final = true;
  fact.params_in = Hash256{2};
  fact.params_out = Hash256{3};
  fact.deltas = {Hash256{4}, Hash256{5}};
  fact.weights = {4096, 4096};
  fact.outer_lr = 0.7;
  fact.outer_momentum = 0.9;
  seeds.push_back(Bytes(MakeCheckpoint("job-1", fact), c.ledger));
  return seeds;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  auto entry = Decode(bytes);
  if (!entry) return 0;
  const std::vector<uint8_t> again = Encode(*entry);
  if (again.size() != size || !std::equal(again.begin(), again.end(), data)) {
    std::abort();  // two encodings of one entry
  }
  // Apply takes authorised entries only, as the ledger hands it.
  if (Authorize(*entry, Cast().keys()) != Code::kOk) return 0;
  State state;
  (void)state.Apply(*entry, BodyHash(*entry));
  return 0;
}
