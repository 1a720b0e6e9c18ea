// Ledger entries: what callers append. Each entry has a client-chosen id (a retry with the same
// id is applied once), a type, the accounts and amount it moves, and the ed25519 signatures that
// authorise it. The ledger adds the entry's index and the hash of the entry before it when it
// writes the entry to the log (see ledger.h), so clients sign only what they know.
//
// Canonical encoding (used for hashing, signing and the log): little-endian fixed-width
// integers; strings, byte strings and lists as a u32 length then the items; fields in the order
// of the struct; optional fields as a u8 presence flag. Decoding refuses trailing bytes and
// anything over the limits in limits.h, so every entry has exactly one encoding.
//
// Accounts are strings:
//   team:<client public key hex>      owned by that client
//   provider:<agent public key hex>   owned by that agent
//   stake:<agent public key hex>      the agent's locked stake (stake/unstake/slash)
//   unbond:<agent public key hex>     stake on its way out: unstaked, not yet withdrawn, still
//                                     slashable; held as tranches with release times (state.h)
//   escrow:<job id>                   one per job, created by the first escrow hold
//   treasury                          network fees and slashes; owned by the operator key
//   operator                          the mint: the only account that may go negative
//   deposit:<proposal id>             a governance proposal's deposit until its outcome
//   burned                            vetoed deposits; nothing debits it (gov.h)
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plume/ledger/amount.h"
#include "plume/ledger/receipt.h"
#include "plume/protocol/error.h"
#include "plume/protocol/identity.h"

namespace plume::ledger {

enum class EntryType : uint8_t {
  kOpenAccount = 1,  // to: team:/provider: account; signed by its owner or the ledger key
  kMint = 2,         // operator -> to, amount; signed by the operator key
  kTransfer = 3,     // from -> to, amount; signed by from's owner
  kEscrowHold = 4,   // from (team) -> escrow:<job>, amount; signed by the team
  kSettle = 5,       // escrow:<job> -> provider + treasury fee; a countersigned receipt; signed
                     // by the ledger key (so every byte of every entry is under a signature)
  kRelease = 6,  // escrow:<job> rest -> to (its team), closes the hold; signed by the ledger key
  kStake = 7,    // provider:<k> -> stake:<k>, amount; signed by k
  kUnstake = 8,  // stake:<k> -> unbond:<k>, amount, as one tranche released at at_ms; signed by
                 // k and by the ledger key (it knows whether the stake still backs open work)
  kSlash = 9,    // stake:<k> (then unbond:<k>, latest release first) -> legs, amount == sum of
                 // the legs; carries the faulty run's countersigned receipt (agent == k) and a
                 // memo (the evidence); signed by the ledger key or the operator key
  kTaskReceipt = 10,  // records a countersigned receipt, moves nothing; signed by the ledger key
  kWithdraw = 11,     // unbond:<k> -> provider:<k>; at_ms is the time; amount is exactly the sum
                      // of the tranches released at or before at_ms; signed by the ledger key
  // Types 12..19 are kept for data owners and 20..29 for governance; each carries its own typed
  // `body` (data_entries.h for 12..14, gov.h for 20..23).
  kDatasetPublish = 12,  // body: the dataset's terms (data/terms.h); signed by the terms' owner
  kDatasetRevoke = 13,   // body: a revocation (data/terms.h); signed by the dataset's owner
  kDataAccess = 14,      // body: one key release (data/grant.h AccessRecord); signed by the owner
  kCheckpoint = 15,  // job: a training job; body: what one round produced (lineage.h); ledger key
  // Governance (gov.h has the bodies and what each field means):
  kGovProposal = 20,   // proposer -> deposit:<id>, the deposit; signed by the proposer + ledger
  kGovVote = 21,       // stake:<k> votes; moves nothing; signed by k + the ledger key
  kGovOutcome = 22,    // deposit:<p> -> proposer (refund) or burned (veto); ledger key
  kGovExecution = 23,  // adopted: a parameter change, or treasury -> grantee; ledger key
  // Verification (30..39 kept for it):
  kVerdict = 30,  // job; body: what a replay audit concluded, naming its runs' receipts
                  // (verdict.h); moves nothing; signed by the ledger key
};
// The highest type this build decodes; Decode refuses anything above it, and every number
// below it that names no type (IsKnownEntryType).
inline constexpr EntryType kEntryTypeLast = EntryType::kVerdict;
bool IsKnownEntryType(uint8_t type);
std::string_view EntryTypeName(EntryType type);

// Where a slash's money goes, in the order the scheduler fills the legs (docs/ledger.md).
enum class LegKind : uint8_t {
  kTreasury = 0,      // to "treasury": the rest
  kCompensation = 1,  // to team:<client>: the cost of running the task again
  kClawback = 2,      // to team:<client>: what the faulty run was paid
  kFinder = 3,        // to provider:<referee or auditor>: the fee for finding the fault
  // Settle legs (data_entries.h): a dataset owner's royalty, to team:<owner>. 4..7 are kept
  // for data owners.
  kRoyalty = 4,
};
std::string_view LegKindName(LegKind kind);

struct Leg {
  LegKind kind = LegKind::kTreasury;
  std::string account;
  MicroPlume amount;
  bool operator==(const Leg&) const = default;
};

struct Endorsement {
  PublicKey signer{};
  Signature signature{};
  bool operator==(const Endorsement&) const = default;
};

struct Entry {
  EntryType type = EntryType::kTransfer;
  std::string id;                      // 1..kEntryIdBytesMax bytes, unique in the ledger
  std::string from;                    // debited account (empty where the type has none)
  std::string to;                      // credited account (empty where the type derives it)
  MicroPlume amount;                   // > 0 where the type moves a chosen amount, else 0
  std::string job;                     // escrow hold, settle, release
  std::optional<TaskReceipt> receipt;  // settle, task receipt, slash (the faulty run's)
  // Format version 3 fields, encoded after the ones above.
  uint64_t at_ms = 0;     // unstake: the tranche's release time; withdraw: the time; else 0
  std::vector<Leg> legs;  // slash: 1..kSlashLegsMax, each > 0, sum == amount; settle: royalties
  std::string memo;       // slash only: the evidence, <= kMemoBytesMax bytes of valid UTF-8
  // Format version 4: a typed payload for the types that need more than the fields above. Its
  // own canonical encoding is owned by the component that defines the type (one encoding per
  // meaning there too); empty for types 1..11. At most kBodyBytesMax bytes.
  std::vector<uint8_t> body;
  std::vector<Endorsement> signatures;

  bool operator==(const Entry&) const = default;
};

// Constructors that fill the right fields; sign with SignEntry afterwards.
Entry MakeOpenAccount(std::string id, std::string account);
Entry MakeMint(std::string id, std::string to, MicroPlume amount);
Entry MakeTransfer(std::string id, std::string from, std::string to, MicroPlume amount);
Entry MakeEscrowHold(std::string id, std::string team, std::string job, MicroPlume amount);
Entry MakeSettle(std::string id, TaskReceipt receipt);  // job and provider come from the receipt
Entry MakeRelease(std::string id, std::string job, std::string team);
Entry MakeStake(std::string id, const PublicKey& agent, MicroPlume amount);
// The tranche unbonds until release_at_ms (the ledger key's signature vouches for the time).
Entry MakeUnstake(std::string id, const PublicKey& agent, MicroPlume amount,
                  uint64_t release_at_ms);
// `amount` must be exactly State::Withdrawable(agent, now_ms).
Entry MakeWithdraw(std::string id, const PublicKey& agent, MicroPlume amount, uint64_t now_ms);
// Slashes faulty.agent; job comes from the receipt. `legs` must sum to `amount`.
Entry MakeSlash(std::string id, TaskReceipt faulty, MicroPlume amount, std::vector<Leg> legs,
                std::string memo);
Entry MakeTaskReceipt(std::string id, TaskReceipt receipt);

// The bytes signatures cover: a versioned domain tag, the id of the ledger the entry is for
// (log.h LedgerIdOf; so it cannot be replayed onto another ledger) and every field except the
// signatures.
std::vector<uint8_t> SigningBytes(const Entry& entry, const LedgerId& ledger);
Endorsement SignEntry(const Entry& entry, const LedgerId& ledger, const Identity& signer);
// The entry without its signatures, for idempotency (state.h BodyHash).
std::vector<uint8_t> BodyBytes(const Entry& entry);

// Full canonical encoding (including signatures) and its inverse.
void AppendEncoded(const Entry& entry, std::vector<uint8_t>& out);
std::vector<uint8_t> Encode(const Entry& entry);
Result<Entry> Decode(std::span<const uint8_t> bytes);

// Account names.
inline constexpr std::string_view kTreasury = "treasury";
inline constexpr std::string_view kOperator = "operator";
std::string TeamAccount(const PublicKey& client);
std::string ProviderAccount(const PublicKey& agent);
std::string StakeAccount(const PublicKey& agent);
std::string UnbondAccount(const PublicKey& agent);
std::string EscrowAccount(std::string_view job);
// The key that owns a team:/provider:/stake:/unbond: account; nullopt for any other name.
std::optional<PublicKey> AccountKey(std::string_view account);
// Empty when `account` is a well-formed name of any kind, else why not.
std::string AccountNameProblem(std::string_view account);

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF): memos are printed and put in JSON, which must not meet broken text.
bool IsValidUtf8(std::string_view text);

}  // namespace plume::ledger
