// Stake, unstake, withdraw and slash: who may sign them and how they move money (see state.h
// and entry.h). Unstaked money waits in unbond:<k> as tranches, each with its release time, so
// that a fault found after an unstake can still be slashed; a withdraw takes exactly the
// tranches released by its time, so the ledger, not the caller, decides what is free.
#include <algorithm>
#include <cassert>
#include <map>

#include "plume/ledger/limits.h"
#include "plume/ledger/state.h"
#include "state_rules.h"

namespace plume::ledger {
namespace rules {
namespace {

// Each kind of leg credits one kind of account: the treasury's share the treasury, the team's
// refunds a team, the finder's fee a provider. Anything else would let a slash pay, say, an
// escrow or another stake, which no rule accounts for.
bool LegAccountFits(const Leg& leg) {
  switch (leg.kind) {
    case LegKind::kTreasury:
      return leg.account == kTreasury;
    case LegKind::kCompensation:
    case LegKind::kClawback:
      return IsTeam(leg.account);
    case LegKind::kFinder:
      return IsProvider(leg.account);
    case LegKind::kRoyalty:
      return false;  // royalties are paid by settles, never out of a slash
  }
  return false;
}

Code AuthorizeSlash(const Entry& e, const Keys& keys, Signers& signers) {
  if (!IsStake(e.from) || !e.to.empty()) return Code::kInvalid;
  const PublicKey agent = *AccountKey(e.from);
  // Only the provider that signed the faulty receipt pays for it.
  if (e.receipt->agent != agent) return Code::kInvalid;
  const std::string own = ProviderAccount(agent);
  MicroPlume sum;
  for (const Leg& leg : e.legs) {
    if (leg.amount.value() <= 0 || !LegAccountFits(leg)) return Code::kInvalid;
    // A slashed provider never collects part of its own slash (as its own auditor's finder).
    if (leg.account == own) return Code::kInvalid;
    const auto next = CheckedAdd(sum, leg.amount);
    if (!next) return Code::kInvalid;  // a sum past int64 cannot equal the amount
    sum = *next;
  }
  if (sum != e.amount) return Code::kInvalid;
  if (Code c = AuthorizeReceipt(e, keys); c != Code::kOk) return c;
  return signers.Has(keys.ledger) || signers.Has(keys.operator_key) ? Code::kOk
                                                                    : Code::kBadSignature;
}

}  // namespace

Code AuthorizeStake(const Entry& e, const Keys& keys, Signers& signers) {
  switch (e.type) {
    case EntryType::kStake: {
      if (!IsStake(e.to)) return Code::kInvalid;
      const PublicKey agent = *AccountKey(e.to);
      if (e.from != ProviderAccount(agent)) return Code::kInvalid;
      return signers.Has(agent) ? Code::kOk : Code::kBadSignature;
    }
    case EntryType::kUnstake: {
      if (!IsStake(e.from)) return Code::kInvalid;
      const PublicKey agent = *AccountKey(e.from);
      if (e.to != UnbondAccount(agent)) return Code::kInvalid;
      // The ledger key too: the scheduler knows whether the stake still backs open work, and
      // it sets the release time (now + the unbonding period), which the agent must not choose.
      return signers.Has(agent) && signers.Has(keys.ledger) ? Code::kOk : Code::kBadSignature;
    }
    case EntryType::kWithdraw: {
      if (!IsUnbond(e.from) || e.to != ProviderAccount(*AccountKey(e.from))) return Code::kInvalid;
      // at_ms is the scheduler's clock saying the tranches are released: only its key may say so.
      return signers.Has(keys.ledger) ? Code::kOk : Code::kBadSignature;
    }
    case EntryType::kSlash:
      return AuthorizeSlash(e, keys, signers);
    default:
      return Code::kInvalid;
  }
}

}  // namespace rules

namespace {

// The sum of the balances of `accounts` (names may repeat; each counts once): what the
// before/after assertions compare, since a stake rule may change no other balance.
[[maybe_unused]] __int128 TotalOf(const std::unordered_map<std::string, MicroPlume>& balances,
                                  std::vector<std::string> accounts) {
  std::sort(accounts.begin(), accounts.end());
  accounts.erase(std::unique(accounts.begin(), accounts.end()), accounts.end());
  __int128 total = 0;
  for (const std::string& a : accounts) {
    if (auto it = balances.find(a); it != balances.end()) total += it->second.value();
  }
  return total;
}

[[maybe_unused]] __int128 SumOf(const std::vector<Tranche>& tranches) {
  __int128 sum = 0;
  for (const Tranche& t : tranches) sum += t.amount.value();
  return sum;
}

std::string SlashKey(const TaskReceipt& r) { return r.job_id + '\n' + r.task_id; }

}  // namespace

Code State::ApplyStakeMove(const Entry& e) {
  if (!balances_.contains(e.from)) return Code::kUnknownAccount;
  // stake:<k> opens with the first stake, unbond:<k> with the first unstake.
  const bool created = balances_.try_emplace(e.to, MicroPlume(0)).second;
  [[maybe_unused]] const __int128 before = TotalOf(balances_, {e.from, e.to});
  if (Code c = Move(e.from, e.to, e.amount); c != Code::kOk) {
    if (created) balances_.erase(e.to);  // all or nothing
    return c;
  }
  if (e.type == EntryType::kUnstake) {
    std::vector<Tranche>& list = tranches_[e.to];
    // After every tranche released at or before this one: sorted by release, ties in order.
    const auto at = std::upper_bound(
        list.begin(), list.end(), e.at_ms,
        [](uint64_t release, const Tranche& t) { return release < t.release_at_ms; });
    list.insert(at, Tranche{e.id, e.amount, e.at_ms});
    assert(SumOf(list) == balances_.at(e.to).value());
  }
  assert(TotalOf(balances_, {e.from, e.to}) == before);
  return Code::kOk;
}

Code State::ApplyWithdraw(const Entry& e) {
  // The released tranches are a prefix (sorted by release time).
  auto list = tranches_.find(e.from);
  size_t released = 0;
  MicroPlume sum;
  if (list != tranches_.end()) {
    for (const Tranche& t : list->second) {
      if (t.release_at_ms > e.at_ms) break;
      const auto next = CheckedAdd(sum, t.amount);
      if (!next) return Code::kOverflow;  // only a broken state could get here
      sum = *next;
      ++released;
    }
  }
  // Exactly the released sum: a withdraw that asked for less would leave a released tranche
  // behind under a name that says "unbonding", one that asked for more would free stake early.
  if (list == tranches_.end() || sum != e.amount) return Code::kNotReleased;
  [[maybe_unused]] const __int128 before = TotalOf(balances_, {e.from, e.to});
  if (Code c = Move(e.from, e.to, e.amount); c != Code::kOk) return c;
  list->second.erase(list->second.begin(),
                     list->second.begin() + static_cast<std::ptrdiff_t>(released));
  if (list->second.empty()) tranches_.erase(list);
  assert(TotalOf(balances_, {e.from, e.to}) == before);
  assert(balances_.at(e.from).value() == SumOf(Unbonding(*AccountKey(e.from))));
  return Code::kOk;
}

Code State::ApplySlash(const Entry& e) {
  const TaskReceipt& r = *e.receipt;
  std::string key = SlashKey(r);
  if (slashed_.contains(key)) return Code::kDuplicateSlash;
  auto stake = balances_.find(e.from);
  if (stake == balances_.end()) return Code::kUnknownAccount;
  const std::string unbond = UnbondAccount(r.agent);
  auto unbond_balance = balances_.find(unbond);
  const MicroPlume unbonding =
      unbond_balance == balances_.end() ? MicroPlume(0) : unbond_balance->second;
  // Credits per account: a team's clawback and compensation may be two legs to one account.
  std::map<std::string, MicroPlume> credits;
  std::vector<std::string> touched{e.from, unbond};
  for (const Leg& leg : e.legs) {
    if (!balances_.contains(leg.account)) return Code::kUnknownAccount;
    const auto credit = CheckedAdd(credits[leg.account], leg.amount);
    if (!credit) return Code::kOverflow;
    credits[leg.account] = *credit;
    touched.push_back(leg.account);
  }
  for (const auto& [account, credit] : credits) {
    if (!CheckedAdd(balances_.at(account), credit)) return Code::kOverflow;
  }
  if (static_cast<__int128>(stake->second.value()) + unbonding.value() < e.amount.value()) {
    return Code::kInsufficientBalance;
  }
  // Nothing can fail from here on.
  [[maybe_unused]] const __int128 before = TotalOf(balances_, touched);
  const MicroPlume from_stake = std::min(stake->second, e.amount);
  stake->second = MicroPlume(stake->second.value() - from_stake.value());
  int64_t rest = e.amount.value() - from_stake.value();
  if (rest > 0) {
    // Latest release first: the stake that would have stayed longest pays first, so what is
    // about to be released is taken last.
    unbond_balance->second = MicroPlume(unbond_balance->second.value() - rest);
    std::vector<Tranche>& list = tranches_.at(unbond);
    for (auto t = list.rbegin(); t != list.rend() && rest > 0; ++t) {
      const int64_t take = std::min(t->amount.value(), rest);
      t->amount = MicroPlume(t->amount.value() - take);
      rest -= take;
    }
    assert(rest == 0);
    std::erase_if(list, [](const Tranche& t) { return t.amount.value() == 0; });
    if (list.empty()) tranches_.erase(unbond);
  }
  for (const auto& [account, credit] : credits) {
    MicroPlume& balance = balances_.at(account);
    balance = *CheckedAdd(balance, credit);
  }
  slashed_.insert(std::move(key));
  assert(TotalOf(balances_, touched) == before);
  assert(!balances_.contains(unbond) || balances_.at(unbond).value() == SumOf(Unbonding(r.agent)));
  return Code::kOk;
}

std::vector<Tranche> State::Unbonding(const PublicKey& agent) const {
  auto it = tranches_.find(UnbondAccount(agent));
  return it == tranches_.end() ? std::vector<Tranche>{} : it->second;
}

MicroPlume State::Withdrawable(const PublicKey& agent, uint64_t now_ms) const {
  MicroPlume sum;
  auto it = tranches_.find(UnbondAccount(agent));
  if (it == tranches_.end()) return sum;
  for (const Tranche& t : it->second) {
    if (t.release_at_ms > now_ms) break;
    sum = CheckedAdd(sum, t.amount).value_or(MicroPlume::Max());
  }
  return sum;
}

bool State::Slashed(std::string_view job, std::string_view task) const {
  return slashed_.contains(std::string(job) + '\n' + std::string(task));
}

Status State::CheckStakeInvariants() const {
  for (const auto& [account, list] : tranches_) {
    auto balance = balances_.find(account);
    if (!rules::IsUnbond(account) || balance == balances_.end()) {
      return Fail("invariant broken: tranches for " + account +
                  ", which is no open unbond account");
    }
    if (list.empty()) return Fail("invariant broken: empty tranche list for " + account);
    __int128 sum = 0;
    uint64_t release = 0;
    for (const Tranche& t : list) {
      if (t.amount.value() <= 0) {
        return Fail("invariant broken: tranche " + t.entry_id + " of " + account + " has amount " +
                    std::to_string(t.amount.value()));
      }
      if (t.release_at_ms < release) {
        return Fail("invariant broken: tranches of " + account + " are not in release order");
      }
      release = t.release_at_ms;
      sum += t.amount.value();
    }
    if (sum != balance->second.value()) {
      return Fail("invariant broken: unbond balance of " + account +
                  " is not the sum of its tranches");
    }
  }
  for (const auto& [account, balance] : balances_) {
    if (balance.value() != 0 && rules::IsUnbond(account) && !tranches_.contains(account)) {
      return Fail("invariant broken: " + account + " holds money but has no tranches");
    }
  }
  return {};
}

}  // namespace plume::ledger
