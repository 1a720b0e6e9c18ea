// The simulated world's ledger through ledger::State; see sim_money.h.
#include "sim_money.h"

#include "plume/ledger/verdict.h"
#include "plume/protocol/hash.h"
#include "verdict_memo.h"
#include "plume/verify/slash.h"

namespace plume::scheduler::testing {
namespace {

ledger::MicroPlume M(MicroPlume v) { return ledger::MicroPlume(v); }

// The policy's leg kinds are the ledger's (verify/slash.h says so; here both are in sight).
static_assert(static_cast<int>(verify::SlashLegKind::kTreasury) ==
                  static_cast<int>(ledger::LegKind::kTreasury) &&
              static_cast<int>(verify::SlashLegKind::kCompensation) ==
                  static_cast<int>(ledger::LegKind::kCompensation) &&
              static_cast<int>(verify::SlashLegKind::kClawback) ==
                  static_cast<int>(ledger::LegKind::kClawback) &&
              static_cast<int>(verify::SlashLegKind::kFinder) ==
                  static_cast<int>(ledger::LegKind::kFinder));

}  // namespace

// The receipt the reactor countersigns for a task (reactor_tasks.cc KeepSettleReceipt): the
// scheduler's FLOPs, the task's own price fixed at assignment, the job's fee. Unsigned here.
ledger::TaskReceipt MoneyLedger::ReceiptOf(const LedgerOp& op, const State& core) {
  const Task& t = core.tasks.at(op.task);
  ledger::TaskReceipt r;
  r.job_id = op.job;
  r.task_id = op.task;
  r.attempt = op.attempt;
  r.flops = op.flops;
  r.agent = KeyOf(op.node);
  r.price_micro_plume_per_pflop = static_cast<uint64_t>(t.price_micro_plume_per_pflop);
  r.fee_bps = core.jobs.at(op.job).spec.fee_bps;
  return r;
}

PublicKey MoneyLedger::KeyOf(const std::string& name) {
  const Hash256 h = Blake2b256(std::string_view(name));
  PublicKey k{};
  std::copy(h.begin(), h.end(), k.begin());
  return k;
}

std::string MoneyLedger::LedgerAccount(const std::string& core_account) {
  if (core_account.starts_with("team:")) return ledger::TeamAccount(KeyOf(core_account.substr(5)));
  if (core_account.starts_with("provider:")) {
    return ledger::ProviderAccount(KeyOf(core_account.substr(9)));
  }
  return core_account;  // "treasury"
}

bool MoneyLedger::Put(const ledger::Entry& e, std::string& refusal) {
  const ledger::ApplyResult r = state_.Apply(e, ledger::BodyHash(e));
  if (r.code != ledger::Code::kOk && r.code != ledger::Code::kIdExists) {
    refusal = std::string(ledger::CodeName(r.code));
    return false;
  }
  if (auto st = state_.CheckInvariants(); !st) {
    violations.push_back("after " + e.id + ": " + st.error().message);
  }
  return true;
}

void MoneyLedger::OpenTeam(const ClientId& team, MicroPlume funds) {
  std::string why;
  const std::string account = ledger::TeamAccount(KeyOf(team));
  const std::string n = std::to_string(setup_++);
  if (!Put(ledger::MakeOpenAccount("open:" + n, account), why) ||
      !Put(ledger::MakeMint("mint:" + n, account, M(funds)), why)) {
    violations.push_back("funding " + team + ": " + why);
  }
}

void MoneyLedger::OpenProvider(const NodeId& node, MicroPlume stake) {
  std::string why;
  const PublicKey key = KeyOf(node);
  const std::string n = std::to_string(setup_++);
  bool ok = Put(ledger::MakeOpenAccount("open:" + n, ledger::ProviderAccount(key)), why);
  if (ok && stake > 0) {
    ok = Put(ledger::MakeMint("mint:" + n, ledger::ProviderAccount(key), M(stake)), why) &&
         Put(ledger::MakeStake("stake:" + n, key, M(stake)), why);
  }
  if (!ok) violations.push_back("staking " + node + ": " + why);
}

bool MoneyLedger::Apply(const LedgerOp& op, const State& core, std::string& refusal) {
  switch (op.kind) {
    case LedgerOpKind::kHold:
      return Put(ledger::MakeEscrowHold(op.id, ledger::TeamAccount(KeyOf(op.owner)), op.job,
                                        M(op.amount_micro_plume)),
                 refusal);
    case LedgerOpKind::kRelease:
      return Put(ledger::MakeRelease(op.id, op.job, ledger::TeamAccount(KeyOf(op.owner))), refusal);
    case LedgerOpKind::kSettle: {
      const ledger::TaskReceipt r = ReceiptOf(op, core);
      const auto pay = ledger::PayForFlops(r.price_micro_plume_per_pflop, r.flops);
      if (!pay || pay->value() != op.amount_micro_plume) {
        violations.push_back(op.id + ": the core settles " + std::to_string(op.amount_micro_plume) +
                             " but the receipt pays " + (pay ? std::to_string(pay->value()) : "?"));
      }
      return Put(ledger::MakeSettle(op.id, r), refusal);
    }
    case LedgerOpKind::kSlash: {
      // The bridge's slash: the faulty run's receipt, the core's legs in the core's order.
      std::vector<ledger::Leg> legs;
      for (const SlashLeg& leg : op.legs) {
        legs.push_back(ledger::Leg{static_cast<ledger::LegKind>(leg.kind),
                                   LedgerAccount(leg.account), M(leg.amount)});
      }
      if (!Put(ledger::MakeSlash(op.id, ReceiptOf(op, core), M(op.amount_micro_plume),
                                 std::move(legs), op.memo),
               refusal)) {
        return false;
      }
      for (const SlashLeg& leg : op.legs) {
        legs_[leg.kind] += leg.amount;
        if (leg.kind == static_cast<uint8_t>(ledger::LegKind::kFinder)) {
          finder_fees_[leg.account] += leg.amount;
        }
      }
      return true;
    }
    case LedgerOpKind::kReceipt:  // an unpaid faulty run's receipt, for its verdict
      return Put(ledger::MakeTaskReceipt(op.id, ReceiptOf(op, core)), refusal);
    case LedgerOpKind::kVerdict: {
      // The bridge's verdict entry; and what a third party would check: the outcome is what the
      // runs' outputs give (the core's own record of them here).
      auto fact = ParseVerdictMemo(op.memo);
      if (!fact) {
        violations.push_back(op.id + ": malformed verdict " + op.memo);
        refusal = "malformed verdict";
        return false;
      }
      std::vector<std::optional<Hash256>> outputs;
      for (const char* suffix : {"", "/audit", "/referee"}) {
        auto t = core.tasks.find(op.task + suffix);
        if (outputs.size() < fact->runs.size() && t != core.tasks.end()) {
          outputs.push_back(MemoHash(t->second.output_blob));
        }
      }
      if (std::string p = ledger::VerdictProblem(*fact, outputs); !p.empty()) {
        violations.push_back(op.id + ": " + p);
      }
      ++verdicts_;
      return Put(ledger::MakeVerdict(op.job, *fact), refusal);
    }
    case LedgerOpKind::kCheckpoint:
      break;
  }
  refusal = "unknown request";
  return false;
}

std::pair<MicroPlume, MicroPlume> MoneyLedger::StakeOf(const NodeId& node) const {
  const auto unbonding = state_.Balance(ledger::UnbondAccount(KeyOf(node)));
  return {Staked(node), unbonding.value_or(ledger::MicroPlume(0)).value()};
}

MicroPlume MoneyLedger::Earned(const NodeId& node) const {
  return state_.Balance(ledger::ProviderAccount(KeyOf(node))).value_or(ledger::MicroPlume(0)).value();
}

MicroPlume MoneyLedger::FinderFees(const NodeId& node) const {
  auto it = finder_fees_.find("provider:" + node);
  return it == finder_fees_.end() ? 0 : it->second;
}

MicroPlume MoneyLedger::Staked(const NodeId& node) const {
  return state_.Balance(ledger::StakeAccount(KeyOf(node))).value_or(ledger::MicroPlume(0)).value();
}

MicroPlume MoneyLedger::TeamBalance(const ClientId& team) const {
  return state_.Balance(ledger::TeamAccount(KeyOf(team))).value_or(ledger::MicroPlume(0)).value();
}

MicroPlume MoneyLedger::Treasury() const {
  return state_.Balance(ledger::kTreasury).value_or(ledger::MicroPlume(0)).value();
}

}  // namespace plume::scheduler::testing
