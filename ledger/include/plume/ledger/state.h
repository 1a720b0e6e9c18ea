// The ledger's rules as a pure state machine: entries in, a result code out, no I/O. The Ledger
// (ledger.h) runs it on every append and on replay; Verify (verify.h) runs it offline.
//
// Two steps per entry:
//  1. Authorize(): shape and signature checks that need no state (which keys must sign follows
//     from the entry alone), so a batch can be checked on several threads at once.
//  2. State::Apply(): the rules that need balances. Applies the entry completely or not at all.
//
// Invariants (checked by CheckInvariants(), asserted in tests, run after every append):
//  - every balance is >= 0 except the operator's; operator balance == -minted, i.e. the sum of
//    all balances including the operator is exactly 0 and the sum of all other balances equals
//    what was minted (nothing is burned: slashes go to their legs' accounts);
//  - each hold: held == paid + fees + royalties + released + balance(escrow:<job>), balance >= 0,
//    and a closed hold has balance 0;
//  - each agent: balance(unbond:<k>) == the sum of k's tranches, every tranche amount > 0.
//  - each proposal: deposit:<p> holds the deposit until the outcome and 0 after it; at most one
//    outcome and one execution, the execution only of a passed proposal; balance(burned) is the
//    sum of the vetoed deposits (so burned money is still counted: the sum rule above holds).
// Stake, unstake, withdraw and slash also assert (debug builds) that the accounts they touch
// hold the same total before and after: money only moves.
// Thread-compatible: one writer, or many readers with no writer.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "plume/data/terms.h"
#include "plume/ledger/entry.h"
#include "plume/ledger/gov.h"
#include "plume/protocol/error.h"
#include "plume/protocol/hash.h"

namespace plume::ledger {

enum class Code : uint8_t {
  kOk = 0,
  kIdExists,             // this id was applied before (the answer carries that entry's index)
  kIdConflict,           // this id was applied before with different contents
  kInvalid,              // malformed: bad account name, zero amount, wrong fields for the type
  kBadSignature,         // a required signature is missing or does not verify
  kBadReceipt,           // the receipt's agent signature or countersignature does not verify
  kUnknownAccount,       // an account was not opened
  kAccountExists,        // open_account for an open account
  kInsufficientBalance,  // the debit would take a balance below zero
  kOverflow,             // an amount or a sum would not fit in an int64
  kUnknownHold,          // settle/release for a job with no hold
  kHoldClosed,           // the job's hold was released already
  kHoldExceeded,         // the settle would pay more than the hold has left
  kHoldOwnerMismatch,    // a second hold on a job from a different team
  kDuplicateReceipt,     // this (job, task) was settled already: pays nothing
  kDuplicateSlash,       // a slash for this receipt's (job, task) was applied already
  kNotReleased,          // withdraw amount is not exactly the sum of the tranches released by then
  // Governance (gov.h):
  kUnknownProposal,  // a vote, outcome or execution for a proposal the ledger does not have
  kVotingClosed,     // a vote at or after the voting end, or after the outcome
  kVotingOpen,       // an outcome before the voting end
  kNotAdopted,       // an execution of a proposal without a kPassed outcome, or executed already
  kTimelocked,       // an execution before voting end + timelock
  kUnknownDataset,       // a revoke, data access or royalty names a dataset never published
  kBadRoyalty,           // a royalty leg is not what the dataset's terms make of its claim
};
std::string_view CodeName(Code code);

// The keys the rules depend on.
struct Keys {
  PublicKey ledger{};        // the scheduler's / ledger's key: countersigns, releases, heads
  PublicKey operator_key{};  // mints and (with the ledger key) slashes; owns the treasury
  LedgerId ledger_id{};      // log.h LedgerIdOf(): every signature checked here must cover it
};

// What idempotency compares: BLAKE2b-256 of the entry without its signatures (so a retry signed
// again with a randomised signer still matches). The ledger id is left out: it is the same for
// every entry of one ledger.
Hash256 BodyHash(const Entry& entry);

// Stateless checks: field shapes for the type and the signatures it needs.
Code Authorize(const Entry& entry, const Keys& keys);

struct HoldInfo {
  std::string team;     // the account that funded the hold
  MicroPlume held;      // total ever held
  MicroPlume paid;      // to providers
  MicroPlume fees;      // to the treasury
  MicroPlume royalties;  // to dataset owners (data_entries.h)
  MicroPlume released;  // back to the team
  bool closed = false;
};

// Stake on its way out (one per unstake), slashable until withdrawn.
struct Tranche {
  std::string entry_id;  // the unstake that made it
  MicroPlume amount;     // > 0; slashes reduce it
  uint64_t release_at_ms = 0;
  bool operator==(const Tranche&) const = default;
};

// A governance proposal as the rules track it (gov.h). Its tally is not the ledger's business:
// gov/ recounts it from the votes, and `plume ledger verify` compares it with the outcome.
struct ProposalInfo {
  std::string proposer;  // the account the deposit came from and is refunded to
  MicroPlume deposit;
  uint64_t index = 0;  // the proposal entry's index: voting power is stake at this point
  uint64_t opened_at_ms = 0;
  uint64_t voting_end_ms = 0;
  uint64_t timelock_ms = 0;
  ProposalKind kind = ProposalKind::kParamChange;
  std::string grant_to;  // kGrant
  MicroPlume grant_amount;
  std::optional<OutcomeResult> outcome;
  bool executed = false;
  bool operator==(const ProposalInfo&) const = default;
};

// A published dataset (data_entries.h). Terms never change; revoking only marks it.
struct DatasetRecord {
  data::Terms terms;
  bool revoked = false;
  uint64_t published_index = 0;  // the publish entry's index
  uint64_t accesses = 0;         // data-access records so far
  bool operator==(const DatasetRecord&) const = default;
};

struct ApplyResult {
  Code code = Code::kOk;
  uint64_t index = 0;  // kOk: the new entry's index; kIdExists/kIdConflict: the original's
};

class State {
 public:
  // Applies an authorised entry as entry number entry_count(). `body_hash` names its contents
  // for idempotency (BodyHash()). On any code but kOk nothing changes.
  ApplyResult Apply(const Entry& entry, const Hash256& body_hash);

  // Balance of an open account; nullopt when it was never opened.
  std::optional<MicroPlume> Balance(std::string_view account) const;
  std::optional<HoldInfo> Hold(std::string_view job) const;
  bool Settled(std::string_view job, std::string_view task) const;
  // The agent's tranches, earliest release first (unstakes with the same release time in the
  // order they were applied).
  std::vector<Tranche> Unbonding(const PublicKey& agent) const;
  // What a withdraw at now_ms must move: the sum of the tranches released at or before it.
  MicroPlume Withdrawable(const PublicKey& agent, uint64_t now_ms) const;
  // True once a slash for this (job, task) of a faulty receipt was applied.
  bool Slashed(std::string_view job, std::string_view task) const;
  std::optional<ProposalInfo> Proposal(std::string_view id) const;
  const std::map<std::string, ProposalInfo>& proposals() const { return proposals_; }
  std::optional<DatasetRecord> Dataset(std::string_view id) const;
  const std::unordered_map<std::string, DatasetRecord>& datasets() const { return datasets_; }
  // dataset_publish entries applied for this owner, revoked datasets included (O(1)).
  uint64_t DatasetsPublishedBy(const PublicKey& owner) const;
  // Index of the applied entry with this id.
  std::optional<uint64_t> IndexOf(std::string_view id) const;
  MicroPlume minted() const { return minted_; }
  uint64_t entry_count() const { return entry_count_; }
  const std::unordered_map<std::string, MicroPlume>& balances() const { return balances_; }

  // Full O(accounts + holds) invariant check; an error names the broken invariant.
  Status CheckInvariants() const;

  // Serialised state for snapshots (snapshot.h); Decode checks bounds, not the rules.
  void EncodeTo(std::vector<uint8_t>& out) const;
  static Result<State> Decode(std::span<const uint8_t> bytes);

 private:
  struct IdRecord {
    uint64_t index;
    Hash256 body_hash;
  };
  Code ApplyRules(const Entry& e);
  Code Move(const std::string& from, const std::string& to, MicroPlume amount);
  Code CanMove(const std::string& from, const std::string& to, MicroPlume amount) const;
  Code ApplyMint(const Entry& e);
  Code ApplyHold(const Entry& e);
  Code ApplySettle(const Entry& e);
  Code ApplyRelease(const Entry& e);
  Code ApplyStakeMove(const Entry& e);  // stake and unstake
  Code ApplyWithdraw(const Entry& e);
  Code ApplySlash(const Entry& e);
  Status CheckStakeInvariants() const;
  Code ApplyGov(const Entry& e);  // state_gov.cc
  Code ApplyProposal(const Entry& e);
  Code ApplyVote(const Entry& e);
  Code ApplyOutcome(const Entry& e);
  Code ApplyExecution(const Entry& e);
  Status CheckGovInvariants() const;
  Code ApplyData(const Entry& e);  // publish, revoke, access (state_data.cc)
  Status CheckDataInvariants() const;
  struct Royalties {
    Code code = Code::kOk;
    MicroPlume total;
  };
  // A settle's royalty legs checked against the datasets' terms (state_data.cc).
  Royalties CheckRoyalties(const Entry& e) const;

  std::unordered_map<std::string, MicroPlume> balances_{{"treasury", MicroPlume(0)},
                                                        {"operator", MicroPlume(0)}};
  std::unordered_map<std::string, HoldInfo> holds_;
  std::unordered_set<std::string> settled_;  // job + '\n' + task
  // By unbond account; each vector sorted by release time, ties in unstake order, never holding
  // an empty one (an agent whose tranches are all gone has no key here).
  std::unordered_map<std::string, std::vector<Tranche>> tranches_;
  std::unordered_set<std::string> slashed_;  // job + '\n' + task of slashed receipts
  std::map<std::string, ProposalInfo> proposals_;  // by proposal id (= its entry id)
  std::unordered_map<std::string, IdRecord> ids_;
  std::unordered_map<std::string, DatasetRecord> datasets_;  // by dataset id
  // Datasets per owner (hex key), derived from datasets_ (rebuilt when a snapshot is read).
  std::unordered_map<std::string, uint64_t> published_by_;
  MicroPlume minted_;
  uint64_t entry_count_ = 0;
};

}  // namespace plume::ledger
