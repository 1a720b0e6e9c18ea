// The scheduler's stake entries (ledger_bridge.h): the slash the core decided for a proven fault
// (LedgerOp kSlash), and the withdrawal of matured unbonding tranches on the reactor's tick.
//
// Slash. The entry carries the faulty run's countersigned receipt, which is the ledger's proof
// that this provider signed this result for this task: the kept settle entry of the run
// (<dir>/settles, written when the result was accepted and kept until its settle is applied;
// a run proven faulty is never settled, so its file stays) or, for a run that was paid before
// the verdict, the settle entry in the ledger. The memo is the core's evidence (policy, the three
// output hashes, the audit rate, the pay). The core planned the amount from its view of the
// stake; the ledger's may be smaller (a withdrawal, another slash in between), so the legs are
// cut in their order (clawback, compensation, finder, treasury) to what stake:<k> + unbond:<k>
// hold, and the entry is signed by the ledger key. One slash per fault: the id is the core's
// "slash:<faulty task>" and the ledger refuses a second slash of the same (job, task).
//
// Withdraw. Tranches whose release time has passed go back to provider:<k> in one kWithdraw of
// exactly the matured sum (ledger key), at most once per agent per tick; the bridge keeps the
// agents with unbonding stake in memory (from the ledger's balances at open, then from every
// append that touches unbond:).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "ledger_bridge_paths.h"
#include "plume/ledger/query.h"
#include "plume/protocol/file_util.h"
#include "plume/protocol/hash.h"
#include "plume/scheduler/ledger_bridge.h"

namespace plume::scheduler {

Result<std::optional<ledger::TaskReceipt>> LedgerBridge::FaultyReceipt(const LedgerOp& op) {
  const std::filesystem::path path = SettlePath(dir_, op.task);
  std::error_code ec;
  std::optional<ledger::Entry> settle;
  if (std::filesystem::exists(path, ec)) {
    auto bytes = ReadFileBytes(path);
    if (!bytes) return tl::unexpected(bytes.error());  // unreadable now: retried
    if (auto e = ledger::Decode(*bytes)) settle = std::move(*e);
  } else if (auto index = ledger_->IndexOf("settle:" + op.task)) {
    auto logged = ledger_->ReadEntry(*index);
    if (!logged) return tl::unexpected(logged.error());
    settle = std::move(logged->entry);
  }
  if (!settle || !settle->receipt) return std::optional<ledger::TaskReceipt>();
  return std::optional<ledger::TaskReceipt>(*settle->receipt);
}

Result<bool> LedgerBridge::Slash(const LedgerOp& op, std::string& refusal) {
  auto agent = PublicKeyFromHex(op.node);
  if (!agent) {
    refusal = "slashed node " + op.node.substr(0, 80) + " is not a key id";
    return false;
  }
  // Applied before (a re-sent request after a restart): the same slash, once.
  if (ledger_->IndexOf(op.id)) return true;
  auto receipt = FaultyReceipt(op);
  if (!receipt) return tl::unexpected(receipt.error());
  if (!*receipt || (*receipt)->agent != *agent || (*receipt)->attempt != op.attempt) {
    refusal = "no countersigned receipt of " + op.task + " attempt " +
              std::to_string(op.attempt) + " by " + op.node.substr(0, 16) +
              " is kept: the fault cannot be proven to the ledger, nothing is slashed";
    spdlog::error("job={} task={} entry={}: {}", op.job, op.task, op.id, refusal);
    return false;
  }
  const int64_t slashable = StakeOf(*agent).staked + StakeOf(*agent).unbonding;
  std::vector<ledger::Leg> legs;
  int64_t left = std::min<int64_t>(slashable, op.amount_micro_plume), total = 0;
  for (const SlashLeg& l : op.legs) {
    const int64_t take = std::min(left, l.amount);
    if (take <= 0) break;
    legs.push_back(ledger::Leg{static_cast<ledger::LegKind>(l.kind), l.account,
                               ledger::MicroPlume(take)});
    left -= take;
    total += take;
  }
  if (total <= 0) {
    refusal = "nothing to slash: stake:" + op.node.substr(0, 16) + ".. and unbond:" +
              op.node.substr(0, 16) + ".. are empty";
    spdlog::warn("job={} task={} entry={}: {}", op.job, op.task, op.id, refusal);
    return false;
  }
  if (total < op.amount_micro_plume) {
    spdlog::warn("job={} task={} entry={}: the ledger holds {} micro-PLUME of stake, not the {} "
                 "planned; legs cut in order", op.job, op.task, op.id, slashable,
                 op.amount_micro_plume);
  }
  ledger::Entry slash =
      ledger::MakeSlash(op.id, **receipt, ledger::MicroPlume(total), std::move(legs), op.memo);
  slash.signatures.push_back(ledger::SignEntry(slash, ledger_->keys().ledger_id, identity_));
  // A finder's or team's first credit opens its account (ledger key), as a settle does.
  for (const ledger::Leg& l : slash.legs) {
    if (auto st = OpenIfNeeded(l.account); !st) return tl::unexpected(st.error());
  }
  auto answers = ledger_->Append(std::span<const ledger::Entry>(&slash, 1));
  if (!answers) return tl::unexpected(answers.error());
  const ledger::Code code = answers->front().code;
  if (code == ledger::Code::kOk || code == ledger::Code::kIdExists) {
    if (code == ledger::Code::kOk) {
      NoteStakeChange(slash);
      spdlog::warn("job={} task={} entry={}: slashed {} micro-PLUME of {} in {} legs (#{})",
                   op.job, op.task, op.id, total, op.node.substr(0, 16), slash.legs.size(),
                   answers->front().index);
    }
    return true;
  }
  refusal = "slash refused: " + std::string(ledger::CodeName(code));
  spdlog::error("job={} task={} entry={}: {}", op.job, op.task, op.id, refusal);
  return false;
}

void LedgerBridge::FindUnbonding() {
  const ledger::State state = ledger_->StateCopy();  // once, at open
  std::lock_guard lock(stake_mu_);
  for (const auto& [account, balance] : state.balances()) {
    if (account.starts_with("unbond:") && balance.value() > 0) {
      unbonding_agents_.insert(StakeAgentOf(account));
    }
  }
}

Result<size_t> LedgerBridge::WithdrawMatured() {
  const uint64_t now = NowUnixMs();
  std::vector<std::string> agents;
  {
    std::lock_guard lock(stake_mu_);
    agents.assign(unbonding_agents_.begin(), unbonding_agents_.end());
  }
  size_t withdrawn = 0;
  for (const std::string& hex : agents) {
    auto agent = PublicKeyFromHex(hex);
    if (!agent) continue;
    if (ledger_->Unbonding(*agent).empty()) {
      std::lock_guard lock(stake_mu_);
      unbonding_agents_.erase(hex);
      continue;
    }
    const ledger::MicroPlume matured = ledger_->Withdrawable(*agent, now);
    if (matured.value() <= 0) continue;
    ledger::Entry w = ledger::MakeWithdraw(
        "withdraw:" + hex.substr(0, 32) + ":" + std::to_string(now), *agent, matured, now);
    w.signatures.push_back(ledger::SignEntry(w, ledger_->keys().ledger_id, identity_));
    if (auto st = OpenIfNeeded(w.to); !st) return tl::unexpected(st.error());
    auto answers = ledger_->Append(std::span<const ledger::Entry>(&w, 1));
    if (!answers) return tl::unexpected(answers.error());
    const ledger::Code code = answers->front().code;
    if (code != ledger::Code::kOk) {
      spdlog::error("entry={}: withdraw of {} micro-PLUME refused: {}", w.id, matured.value(),
                    ledger::CodeName(code));
      continue;
    }
    NoteStakeChange(w);
    ++withdrawn;
    spdlog::info("entry={}: withdrew {} micro-PLUME of matured unbonding stake to {} (#{})", w.id,
                 matured.value(), w.to, answers->front().index);
  }
  return withdrawn;
}

}  // namespace plume::scheduler
