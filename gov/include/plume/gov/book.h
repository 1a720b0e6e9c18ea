// The governance book: every proposal, vote, outcome and execution, rebuilt from ledger entries
// alone. Pure: entries in (in ledger order, only entries the ledger applied), views out.
//
// It keeps the stake:<k> balances (from stake, unstake and slash entries) and, for each
// proposal still open, the balance each staker had at the proposal's entry: a staker whose
// stake changes while a proposal is open has its earlier balance recorded for that proposal
// first (copy on write), so its power there never changes, and stake moved after the snapshot
// does not count twice. A later vote of a staker replaces its earlier one.
//
// On a gov_outcome entry the book recounts the tally and compares it, and the result, with what
// the entry records; on a gov_execution it applies an adopted parameter change. Anything that
// does not match (a recount that differs, an out-of-bounds value, an execution of a proposal
// that did not pass) is an error naming the entry, so Recount() is the third-party check of
// every tally. The scheduler feeds the same book and asks it what is due (Due()).
// Thread-compatible.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "plume/gov/params.h"
#include "plume/gov/tally.h"
#include "plume/ledger/entry.h"
#include "plume/ledger/gov.h"
#include "plume/protocol/error.h"

namespace plume::gov {

struct ProposalView {
  std::string id;
  std::string proposer;  // account
  ledger::MicroPlume deposit;
  uint64_t index = 0;  // the proposal's entry: the snapshot
  uint64_t opened_at_ms = 0;
  ledger::ProposalBody body;
  Tally tally;  // so far, or final once decided
  std::optional<ledger::OutcomeResult> outcome;
  bool executed = false;
  uint64_t executed_at_ms = 0;
  uint64_t ExecutableAtMs() const;  // voting end + timelock, saturated
};

// What the scheduler must append now (book.h Due).
struct Due {
  std::vector<ledger::OutcomeBody> outcomes;  // proposals whose voting ended without an outcome
  std::vector<std::string> executions;        // passed, timelock over, not executed
};

class Book {
 public:
  // `initial`: the parameters before any adopted change (the scheduler's flags).
  explicit Book(Params initial = Params());

  // Feeds the applied entry at `index`. Entries of other types only move stake.
  Status Apply(uint64_t index, const ledger::Entry& e);

  const Params& params() const { return params_; }
  // The proposal whose execution set `p` last; empty while it has its initial value.
  const std::string& SetBy(Param p) const { return set_by_[static_cast<size_t>(p)]; }
  std::optional<ProposalView> Find(const std::string& id) const;
  std::vector<ProposalView> List() const;  // by proposal id
  size_t open_count() const { return open_; }
  Due DueAt(uint64_t now_ms) const;
  ledger::MicroPlume StakeOf(const std::string& stake_account) const;
  // The voting power of `stake_account` on the open proposal `id` (its stake at the snapshot).
  ledger::MicroPlume PowerOf(const std::string& id, const std::string& stake_account) const;
  // Votes `stake_account` cast on `id` (replaced ones included).
  uint32_t VotesCast(const std::string& id, const std::string& stake_account) const;
  uint64_t outcomes(ledger::OutcomeResult r) const;  // decided proposals by result

 private:
  Status ApplyProposal(uint64_t index, const ledger::Entry& e);
  Status ApplyVote(const ledger::Entry& e);
  Status ApplyOutcome(const ledger::Entry& e);
  Status ApplyExecution(const ledger::Entry& e);
  void MoveStake(const std::string& account, int64_t delta);
  Tally Count(const std::string& id) const;

  struct Record {
    ProposalView view;
    std::map<std::string, ledger::VoteOption> votes;     // by stake account; the last one
    std::map<std::string, uint32_t> cast;                // by stake account: votes cast
    std::map<std::string, ledger::MicroPlume> before;    // snapshot: balances changed since
  };
  Params params_;
  std::array<std::string, kParamCount> set_by_;
  std::map<std::string, Record> proposals_;
  std::map<std::string, ledger::MicroPlume> stake_;
  ledger::MicroPlume staked_;  // sum of stake_
  size_t open_ = 0;
  std::array<uint64_t, 5> outcomes_{};
};

// Recounts every tally of a ledger's entries (in order, as applied). ok when every outcome
// matches its recount and every proposal and execution is within the rules.
struct RecountReport {
  bool ok = false;
  std::string problem;    // the first mismatch, naming the entry
  uint64_t proposals = 0;
  uint64_t outcomes = 0;  // recounted and matching
  uint64_t votes = 0;
};
RecountReport Recount(std::span<const ledger::Entry> entries);

// The same, one entry at a time (a log too large to hold at once).
class Recounter {
 public:
  // Feeds the next entry; false once a problem was found (later entries are ignored).
  bool Add(const ledger::Entry& e);
  RecountReport Finish() const;

 private:
  Book book_;
  uint64_t index_ = 0;
  RecountReport report_;
};

}  // namespace plume::gov
