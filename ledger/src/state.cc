// The ledger's rules (see state.h): stateless authorisation, then balance rules per entry type.
#include "plume/ledger/state.h"

#include <cassert>
#include <map>

#include "plume/ledger/limits.h"
#include "plume/ledger/lineage.h"
#include "plume/ledger/verdict.h"
#include "state_rules.h"

namespace plume::ledger {
using rules::IsProvider;
using rules::IsSpendable;
using rules::IsTeam;
using rules::Signers;

namespace rules {
Code AuthorizeReceipt(const Entry& e, const Keys& keys) {
  if (!e.receipt || !ReceiptShapeProblem(*e.receipt).empty()) return Code::kInvalid;
  if (e.job != e.receipt->job_id) return Code::kInvalid;
  if (!VerifyAgentSignature(*e.receipt, keys.ledger_id) ||
      !VerifyCountersignature(*e.receipt, keys.ledger_id, keys.ledger)) {
    return Code::kBadReceipt;
  }
  return Code::kOk;
}
}  // namespace rules

namespace {

// A checkpoint (lineage.h): a body that decodes, the id it implies, and nothing else.
Code CheckCheckpointShape(const Entry& e) {
  if (!e.from.empty() || !e.to.empty() || !e.legs.empty() || !e.memo.empty()) {
    return Code::kInvalid;
  }
  auto fact = DecodeCheckpoint(e.body);
  return fact && e.id == CheckpointEntryId(e.job, fact->round) ? Code::kOk : Code::kInvalid;
}

// A verdict (verdict.h): a body that decodes, the id it implies, and nothing else. Whether it
// agrees with its runs' receipts is for whoever reads the ledger (VerdictProblem).
Code CheckVerdictShape(const Entry& e) {
  if (!e.from.empty() || !e.to.empty() || !e.legs.empty() || !e.memo.empty()) {
    return Code::kInvalid;
  }
  auto fact = DecodeVerdict(e.body);
  return fact && e.id == VerdictEntryId(fact->task) ? Code::kOk : Code::kInvalid;
}

// Field shapes for each type; kOk when the entry has exactly the fields its type uses.
Code CheckShape(const Entry& e) {
  if (e.id.empty() || e.id.size() > kEntryIdBytesMax) return Code::kInvalid;
  if (e.signatures.size() > kEntrySignaturesMax) return Code::kInvalid;
  const EntryType t = e.type;
  if (rules::IsGov(t)) return rules::GovShape(e);
  const bool moves_amount = t == EntryType::kMint || t == EntryType::kTransfer ||
                            t == EntryType::kEscrowHold || t == EntryType::kStake ||
                            t == EntryType::kUnstake || t == EntryType::kSlash ||
                            t == EntryType::kWithdraw;
  if (moves_amount ? e.amount.value() <= 0 : e.amount.value() != 0) return Code::kInvalid;
  const bool has_receipt =
      t == EntryType::kSettle || t == EntryType::kTaskReceipt || t == EntryType::kSlash;
  if (has_receipt != e.receipt.has_value()) return Code::kInvalid;
  const bool has_job = t == EntryType::kEscrowHold || t == EntryType::kSettle ||
                       t == EntryType::kRelease || t == EntryType::kTaskReceipt ||
                       t == EntryType::kSlash || t == EntryType::kCheckpoint ||
                       t == EntryType::kVerdict;
  if (has_job != !e.job.empty()) return Code::kInvalid;
  if (has_job && !AccountNameProblem(EscrowAccount(e.job)).empty()) return Code::kInvalid;
  // One encoding per meaning: fields a type does not use are empty (the time is 0), so no two
  // entries that do the same thing differ in bytes that nothing reads.
  const bool has_time = t == EntryType::kUnstake || t == EntryType::kWithdraw;
  if (!has_time && e.at_ms != 0) return Code::kInvalid;
  if (rules::IsDataType(t) || (t == EntryType::kSettle && !(e.body.empty() && e.legs.empty()))) {
    return rules::CheckDataShape(e);
  }
  if (t == EntryType::kCheckpoint) return CheckCheckpointShape(e);
  if (t == EntryType::kVerdict) return CheckVerdictShape(e);
  if (!e.body.empty()) return Code::kInvalid;  // no other type up to here has a body
  if (t != EntryType::kSlash) return e.legs.empty() && e.memo.empty() ? Code::kOk : Code::kInvalid;
  if (e.legs.empty() || e.legs.size() > kSlashLegsMax) return Code::kInvalid;
  if (e.memo.size() > kMemoBytesMax || !IsValidUtf8(e.memo)) return Code::kInvalid;
  return Code::kOk;
}

}  // namespace

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kIdExists:
      return "id_exists";
    case Code::kIdConflict:
      return "id_conflict";
    case Code::kInvalid:
      return "invalid";
    case Code::kBadSignature:
      return "bad_signature";
    case Code::kBadReceipt:
      return "bad_receipt";
    case Code::kUnknownAccount:
      return "unknown_account";
    case Code::kAccountExists:
      return "account_exists";
    case Code::kInsufficientBalance:
      return "insufficient_balance";
    case Code::kOverflow:
      return "overflow";
    case Code::kUnknownHold:
      return "unknown_hold";
    case Code::kHoldClosed:
      return "hold_closed";
    case Code::kHoldExceeded:
      return "hold_exceeded";
    case Code::kHoldOwnerMismatch:
      return "hold_owner_mismatch";
    case Code::kDuplicateReceipt:
      return "duplicate_receipt";
    case Code::kDuplicateSlash:
      return "duplicate_slash";
    case Code::kNotReleased:
      return "not_released";
    case Code::kUnknownProposal:
      return "unknown_proposal";
    case Code::kVotingClosed:
      return "voting_closed";
    case Code::kVotingOpen:
      return "voting_open";
    case Code::kNotAdopted:
      return "not_adopted";
    case Code::kTimelocked:
      return "timelocked";
    case Code::kUnknownDataset:
      return "unknown_dataset";
    case Code::kBadRoyalty:
      return "bad_royalty";
  }
  return "unknown";
}

Hash256 BodyHash(const Entry& entry) { return Blake2b256(BodyBytes(entry)); }

Code Authorize(const Entry& e, const Keys& keys) {
  if (Code c = CheckShape(e); c != Code::kOk) return c;
  Signers signers(e, keys.ledger_id);
  const auto owner = [&](std::string_view account) -> PublicKey {
    if (account == kTreasury) return keys.operator_key;
    return *AccountKey(account);  // callers checked the name first
  };
  switch (e.type) {
    case EntryType::kOpenAccount: {
      if (!e.from.empty() || !(IsTeam(e.to) || IsProvider(e.to))) return Code::kInvalid;
      return signers.Has(owner(e.to)) || signers.Has(keys.ledger) ? Code::kOk : Code::kBadSignature;
    }
    case EntryType::kMint:
      if (e.from != kOperator || !IsSpendable(e.to)) return Code::kInvalid;
      return signers.Has(keys.operator_key) ? Code::kOk : Code::kBadSignature;
    case EntryType::kTransfer:
      if (!IsSpendable(e.from) || !IsSpendable(e.to) || e.from == e.to) return Code::kInvalid;
      return signers.Has(owner(e.from)) ? Code::kOk : Code::kBadSignature;
    case EntryType::kEscrowHold:
      if (!IsTeam(e.from) || e.to != EscrowAccount(e.job)) return Code::kInvalid;
      return signers.Has(owner(e.from)) ? Code::kOk : Code::kBadSignature;
    case EntryType::kSettle: {
      if (!e.receipt) return Code::kInvalid;
      if (e.from != EscrowAccount(e.job) || e.to != ProviderAccount(e.receipt->agent)) {
        return Code::kInvalid;
      }
      if (Code c = rules::AuthorizeReceipt(e, keys); c != Code::kOk) return c;
      return signers.Has(keys.ledger) ? Code::kOk : Code::kBadSignature;
    }
    case EntryType::kRelease:
      if (e.from != EscrowAccount(e.job) || !IsTeam(e.to)) return Code::kInvalid;
      return signers.Has(keys.ledger) ? Code::kOk : Code::kBadSignature;
    case EntryType::kStake:
    case EntryType::kUnstake:
    case EntryType::kWithdraw:
    case EntryType::kSlash:
      return rules::AuthorizeStake(e, keys, signers);
    case EntryType::kCheckpoint:  // the scheduler's word on its own outer step
    case EntryType::kVerdict:     // and on its audits, checked against the receipts by readers
      return signers.Has(keys.ledger) ? Code::kOk : Code::kBadSignature;
    case EntryType::kTaskReceipt:
      if (!e.from.empty() || !e.to.empty()) return Code::kInvalid;
      if (Code c = rules::AuthorizeReceipt(e, keys); c != Code::kOk) return c;
      return signers.Has(keys.ledger) ? Code::kOk : Code::kBadSignature;
    case EntryType::kGovProposal:
    case EntryType::kGovVote:
    case EntryType::kGovOutcome:
    case EntryType::kGovExecution:
      return rules::AuthorizeGov(e, keys, signers);
    case EntryType::kDatasetPublish:
    case EntryType::kDatasetRevoke:
    case EntryType::kDataAccess:
      return rules::AuthorizeData(e, keys, signers);
  }
  return Code::kInvalid;
}

ApplyResult State::Apply(const Entry& e, const Hash256& body_hash) {
  if (auto it = ids_.find(e.id); it != ids_.end()) {
    const bool same = it->second.body_hash == body_hash;
    return ApplyResult{same ? Code::kIdExists : Code::kIdConflict, it->second.index};
  }
  const Code code = ApplyRules(e);
  if (code != Code::kOk) return ApplyResult{code, 0};
  const uint64_t index = entry_count_++;
  ids_.emplace(e.id, IdRecord{index, body_hash});
  return ApplyResult{Code::kOk, index};
}

Code State::ApplyRules(const Entry& e) {
  switch (e.type) {
    case EntryType::kOpenAccount:
      return balances_.try_emplace(e.to, MicroPlume(0)).second ? Code::kOk : Code::kAccountExists;
    case EntryType::kMint:
      return ApplyMint(e);
    case EntryType::kTransfer:
      return Move(e.from, e.to, e.amount);
    case EntryType::kEscrowHold:
      return ApplyHold(e);
    case EntryType::kSettle:
      return ApplySettle(e);
    case EntryType::kRelease:
      return ApplyRelease(e);
    case EntryType::kStake:
    case EntryType::kUnstake:
      return ApplyStakeMove(e);
    case EntryType::kWithdraw:
      return ApplyWithdraw(e);
    case EntryType::kSlash:
      return ApplySlash(e);
    case EntryType::kTaskReceipt:
    case EntryType::kCheckpoint:  // moves nothing; its id makes it one per (job, round)
    case EntryType::kVerdict:     // moves nothing; its id makes it one per audited task
      return Code::kOk;
    case EntryType::kGovProposal:
    case EntryType::kGovVote:
    case EntryType::kGovOutcome:
    case EntryType::kGovExecution:
      return ApplyGov(e);
    case EntryType::kDatasetPublish:
    case EntryType::kDatasetRevoke:
    case EntryType::kDataAccess:
      return ApplyData(e);
  }
  return Code::kInvalid;
}

Code State::CanMove(const std::string& from, const std::string& to, MicroPlume amount) const {
  auto f = balances_.find(from);
  auto t = balances_.find(to);
  if (f == balances_.end() || t == balances_.end()) return Code::kUnknownAccount;
  if (f->second < amount) return Code::kInsufficientBalance;
  if (!CheckedAdd(t->second, amount)) return Code::kOverflow;
  return Code::kOk;
}

Code State::Move(const std::string& from, const std::string& to, MicroPlume amount) {
  if (Code c = CanMove(from, to, amount); c != Code::kOk) return c;
  MicroPlume& f = balances_.find(from)->second;
  MicroPlume& t = balances_.find(to)->second;
  f = MicroPlume(f.value() - amount.value());  // >= 0 by CanMove
  t = *CheckedAdd(t, amount);
  assert(f.value() >= 0);
  return Code::kOk;
}

Code State::ApplyMint(const Entry& e) {
  auto to = balances_.find(e.to);
  if (to == balances_.end()) return Code::kUnknownAccount;
  const auto minted = CheckedAdd(minted_, e.amount);
  const auto credited = CheckedAdd(to->second, e.amount);
  if (!minted || !credited) return Code::kOverflow;
  minted_ = *minted;
  to->second = *credited;
  // The operator's balance is the negative of all money ever minted (see state.h).
  balances_.find(std::string(kOperator))->second = MicroPlume(-minted_.value());
  return Code::kOk;
}

Code State::ApplyHold(const Entry& e) {
  if (!balances_.contains(e.from)) return Code::kUnknownAccount;
  auto hold = holds_.find(e.job);
  if (hold != holds_.end()) {
    if (hold->second.closed) return Code::kHoldClosed;
    if (hold->second.team != e.from) return Code::kHoldOwnerMismatch;
    if (!CheckedAdd(hold->second.held, e.amount)) return Code::kOverflow;
  }
  balances_.try_emplace(e.to, MicroPlume(0));  // the escrow account exists from the first hold
  if (Code c = Move(e.from, e.to, e.amount); c != Code::kOk) {
    if (hold == holds_.end()) balances_.erase(e.to);  // all or nothing
    return c;
  }
  if (hold == holds_.end()) {
    HoldInfo info;
    info.team = e.from;
    info.held = e.amount;
    holds_.emplace(e.job, std::move(info));
  } else {
    hold->second.held = *CheckedAdd(hold->second.held, e.amount);
  }
  return Code::kOk;
}

Code State::ApplySettle(const Entry& e) {
  auto hold = holds_.find(e.job);
  if (hold == holds_.end()) return Code::kUnknownHold;
  const TaskReceipt& r = *e.receipt;
  std::string key = r.job_id + '\n' + r.task_id;
  if (settled_.contains(key)) return Code::kDuplicateReceipt;
  if (hold->second.closed) return Code::kHoldClosed;
  if (!balances_.contains(e.to)) return Code::kUnknownAccount;
  const auto pay = PayForFlops(r.price_micro_plume_per_pflop, r.flops);
  if (!pay) return Code::kOverflow;
  const MicroPlume fee = FeeFor(*pay, r.fee_bps);
  const Royalties royalties = CheckRoyalties(e);
  if (royalties.code != Code::kOk) return royalties.code;
  const auto pay_and_fee = CheckedAdd(*pay, fee);
  const auto total = pay_and_fee ? CheckedAdd(*pay_and_fee, royalties.total) : std::nullopt;
  if (!total) return Code::kOverflow;
  const std::string treasury(kTreasury);
  if (balances_.at(e.from) < *total) return Code::kHoldExceeded;
  // Credits per account: the provider, the treasury and owners may coincide (an owner who is
  // also the team), so each account's sum is checked once.
  std::map<std::string, MicroPlume> credits{{e.to, *pay}};
  const auto credit = [&](const std::string& account, MicroPlume amount) {
    auto sum = CheckedAdd(credits[account], amount);
    if (sum) credits[account] = *sum;
    return sum.has_value();
  };
  bool fits = credit(treasury, fee);
  for (const Leg& leg : e.legs) fits = fits && credit(leg.account, leg.amount);
  for (const auto& [account, amount] : credits) {
    fits = fits && CheckedAdd(balances_.at(account), amount).has_value();
  }
  if (!fits) return Code::kOverflow;
  Move(e.from, e.to, *pay);
  Move(e.from, treasury, fee);
  for (const Leg& leg : e.legs) Move(e.from, leg.account, leg.amount);
  hold->second.paid = *CheckedAdd(hold->second.paid, *pay);  // <= held, so no overflow
  hold->second.fees = *CheckedAdd(hold->second.fees, fee);
  hold->second.royalties = *CheckedAdd(hold->second.royalties, royalties.total);
  settled_.insert(std::move(key));
  return Code::kOk;
}

Code State::ApplyRelease(const Entry& e) {
  auto hold = holds_.find(e.job);
  if (hold == holds_.end()) return Code::kUnknownHold;
  if (hold->second.closed) return Code::kHoldClosed;
  if (hold->second.team != e.to) return Code::kHoldOwnerMismatch;
  const MicroPlume rest = balances_.at(e.from);
  if (Code c = Move(e.from, hold->second.team, rest); c != Code::kOk) return c;
  hold->second.released = *CheckedAdd(hold->second.released, rest);
  hold->second.closed = true;
  return Code::kOk;
}

std::optional<MicroPlume> State::Balance(std::string_view account) const {
  auto it = balances_.find(std::string(account));
  if (it == balances_.end()) return std::nullopt;
  return it->second;
}

std::optional<HoldInfo> State::Hold(std::string_view job) const {
  auto it = holds_.find(std::string(job));
  if (it == holds_.end()) return std::nullopt;
  return it->second;
}

bool State::Settled(std::string_view job, std::string_view task) const {
  return settled_.contains(std::string(job) + '\n' + std::string(task));
}

std::optional<uint64_t> State::IndexOf(std::string_view id) const {
  auto it = ids_.find(std::string(id));
  if (it == ids_.end()) return std::nullopt;
  return it->second.index;
}

Status State::CheckInvariants() const {
  __int128 sum = 0;
  for (const auto& [account, balance] : balances_) {
    if (balance.value() < 0 && account != kOperator) {
      return Fail("invariant broken: account " + account + " has negative balance " +
                  std::to_string(balance.value()));
    }
    sum += balance.value();
  }
  if (sum != 0) return Fail("invariant broken: balances including the operator do not sum to 0");
  if (balances_.at(std::string(kOperator)).value() != -minted_.value()) {
    return Fail("invariant broken: operator balance is not minus the minted total");
  }
  for (const auto& [job, hold] : holds_) {
    const int64_t balance = balances_.at(EscrowAccount(job)).value();
    const __int128 accounted = static_cast<__int128>(hold.paid.value()) + hold.fees.value() +
                               hold.royalties.value() + hold.released.value() + balance;
    if (accounted != hold.held.value()) {
      return Fail("invariant broken: hold of job " + job + " does not add up");
    }
    if (hold.closed && balance != 0) {
      return Fail("invariant broken: closed hold of job " + job + " still holds money");
    }
  }
  if (Status st = CheckStakeInvariants(); !st) return st;
  if (Status st = CheckDataInvariants(); !st) return st;
  return CheckGovInvariants();
}

}  // namespace plume::ledger
