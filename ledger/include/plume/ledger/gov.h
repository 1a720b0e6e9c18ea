// Governance entries (types 20..23): the typed bodies they carry in Entry::body, their canonical
// encoding, and the entry constructors. What the ledger enforces for them (who signs, where the
// deposit goes, one outcome and one execution per proposal, execution only after the timelock
// of an adopted proposal) is in state.h; what a tally must be, and which parameter values are
// safe, is decided by the gov/ component, which recounts every tally from the entries alone.
//
// The entries (docs/governance.md has the whole flow):
//   gov_proposal   from: the proposer's team:/provider: account, to: deposit:<proposal id>,
//                  amount: the deposit; id: the proposal id; at_ms: when voting opened;
//                  body: ProposalBody. Signed by the proposer and the ledger key (which vouches
//                  for the times and the tally rules written into the body).
//   gov_vote       from: stake:<k> (the voter), amount 0; at_ms: when the vote was cast;
//                  body: VoteBody. Signed by k and the ledger key. A later vote of the same
//                  voter on the same proposal replaces the earlier one.
//   gov_outcome    from: deposit:<proposal>, to: the proposer's account (refund) or `burned`
//                  (vetoed), amount: the whole deposit; at_ms >= the voting end; body:
//                  OutcomeBody (the counts and the result). Signed by the ledger key.
//   gov_execution  a parameter change: no accounts, amount 0; a grant: treasury -> the grant's
//                  account, its amount. at_ms >= voting end + timelock; body: ExecutionBody.
//                  Signed by the ledger key. Only for a proposal whose outcome is kPassed.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plume/ledger/amount.h"
#include "plume/ledger/entry.h"
#include "plume/protocol/error.h"

namespace plume::ledger {

// Proposal ids are short so that "deposit:<id>" is an account name and "gov-outcome-<id>" an
// entry id: 1..40 bytes of [a-z0-9._-].
inline constexpr size_t kProposalIdBytesMax = 40;
inline constexpr size_t kProposalTitleBytesMax = 200;
inline constexpr size_t kParamNameBytesMax = 64;
inline constexpr size_t kPurposeBytesMax = 1024;

// Where a vetoed proposal's deposit goes: nothing ever debits it, so burned money stays counted
// (the sum of all balances is still what was minted) and visible.
inline constexpr std::string_view kBurned = "burned";
std::string DepositAccount(std::string_view proposal);
// Empty when `id` is a valid proposal id, else why not.
std::string ProposalIdProblem(std::string_view id);

enum class ProposalKind : uint8_t { kParamChange = 1, kGrant = 2 };
enum class VoteOption : uint8_t { kYes = 1, kNo = 2, kAbstain = 3, kVeto = 4 };
enum class OutcomeResult : uint8_t { kPassed = 1, kNoQuorum = 2, kRejected = 3, kVetoed = 4 };
std::string_view ProposalKindName(ProposalKind k);
std::string_view VoteOptionName(VoteOption v);
std::string_view OutcomeResultName(OutcomeResult r);

struct ProposalBody {
  ProposalKind kind = ProposalKind::kParamChange;
  std::string title;  // UTF-8, <= kProposalTitleBytesMax
  // kParamChange: the parameter and its new value (gov/params.h names and bounds them).
  std::string param;
  int64_t value = 0;
  // kGrant: treasury -> grant_to (team:/provider:), grant_amount > 0, purpose (UTF-8).
  std::string grant_to;
  MicroPlume grant_amount;
  std::string purpose;
  // Set from the governed parameters in force when voting opened, so that the tally can be
  // recomputed from the ledger alone, whatever the parameters are later.
  uint64_t voting_end_ms = 0;         // votes count when cast before this
  uint64_t timelock_ms = 0;           // execution not before voting_end_ms + timelock_ms
  uint32_t quorum_ppm = 0;            // of the staked power at the snapshot
  uint32_t threshold_ppm = 0;         // of the non-abstaining votes: yes must be above it
  uint32_t veto_ppm = 0;              // of all votes: veto above it vetoes
  bool operator==(const ProposalBody&) const = default;
};

struct VoteBody {
  std::string proposal;
  VoteOption option = VoteOption::kYes;
  bool operator==(const VoteBody&) const = default;
};

// The tally the result follows from (gov/tally.h decides it; the ledger only keeps it).
struct OutcomeBody {
  std::string proposal;
  MicroPlume yes, no, abstain, veto;
  MicroPlume staked;  // all staked power at the snapshot (the quorum's base)
  uint32_t voters = 0;
  OutcomeResult result = OutcomeResult::kRejected;
  bool operator==(const OutcomeBody&) const = default;
};

struct ExecutionBody {
  std::string proposal;
  bool operator==(const ExecutionBody&) const = default;
};

// Canonical encodings (the conventions of entry.h). Decode refuses trailing bytes, unknown
// enum values, text that is not UTF-8 and anything over the bounds above.
std::vector<uint8_t> EncodeBody(const ProposalBody& b);
std::vector<uint8_t> EncodeBody(const VoteBody& b);
std::vector<uint8_t> EncodeBody(const OutcomeBody& b);
std::vector<uint8_t> EncodeBody(const ExecutionBody& b);
Result<ProposalBody> DecodeProposal(std::span<const uint8_t> bytes);
Result<VoteBody> DecodeVote(std::span<const uint8_t> bytes);
Result<OutcomeBody> DecodeOutcome(std::span<const uint8_t> bytes);
Result<ExecutionBody> DecodeExecution(std::span<const uint8_t> bytes);

// Entry ids the scheduler uses, so that a retry after a restart is applied once.
std::string OutcomeEntryId(std::string_view proposal);    // "gov-outcome-<proposal>"
std::string ExecutionEntryId(std::string_view proposal);  // "gov-exec-<proposal>"

// Constructors (sign with SignEntry afterwards).
Entry MakeProposal(std::string proposal_id, std::string proposer_account, MicroPlume deposit,
                   uint64_t opened_at_ms, const ProposalBody& body);
Entry MakeVote(std::string id, const PublicKey& voter, uint64_t at_ms, const VoteBody& body);
// `refund_to` is the proposer's account, or kBurned for a vetoed proposal.
Entry MakeOutcome(MicroPlume deposit, std::string refund_to, uint64_t at_ms,
                  const OutcomeBody& body);
// A grant passes its account and amount; a parameter change passes "" and 0.
Entry MakeExecution(std::string_view proposal, std::string grant_to, MicroPlume grant_amount,
                    uint64_t at_ms);

}  // namespace plume::ledger
